/**
 * Login and account: log codex in with an API key, read the account back, see what needs a
 * ChatGPT login, log out. Always in a fresh temporary CODEX_HOME (your own login is never
 * touched), with a made-up key held in a `Redacted` (it is never printed or logged).
 *
 *   npx tsx --conditions=source examples/login.ts                # offline: API key login
 *   npx tsx --conditions=source examples/login.ts --device-code  # also a ChatGPT device-code login
 *                                                                 # (needs the network; prints the URL and the code)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Layer, Redacted } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Codex, CodexError } from "@effect-codex/app-server"

const deviceCode = process.argv.includes("--device-code")

// A fresh CODEX_HOME without a config.toml: the server's defaults (the OpenAI provider, which
// needs a login). With a custom provider that needs none, `account/read` reports no account.
const tempHome = Effect.acquireRelease(
  Effect.sync(() => Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-login-example-")))),
  (dir) => Effect.promise(() => Fs.promises.rm(dir, { recursive: true, force: true }))
)

const program = Effect.gen(function*() {
  const codex = yield* Codex.Codex
  yield* Console.log(`mode: offline — no model needed; a temporary CODEX_HOME (your own login is not used)`)

  const before = yield* codex.account()
  yield* Console.log(`account before: ${before.account?.type ?? "none"} (requires OpenAI auth: ${before.requiresOpenaiAuth})`)

  const key = Redacted.make("sk-example-0000-not-a-real-key")
  yield* Console.log(`logging in with the key ${key}`) // prints <redacted>
  yield* codex.login.apiKey(key)
  const after = yield* codex.account()
  yield* Console.log(`account after: ${after.account?.type ?? "none"}`)

  // Rate limits belong to a ChatGPT account: with an API key the server refuses, typed.
  yield* codex.rateLimits.pipe(
    Effect.flatMap((limits) => Console.log(`rate limits: ${JSON.stringify(limits.rateLimits)}`)),
    Effect.catchIf(CodexError.isJsonRpcError, (error) => Console.log(`rate limits: ${error._tag}: ${error.message}`))
  )

  yield* codex.logout
  yield* Console.log(`account after logout: ${(yield* codex.account()).account?.type ?? "none"}`)

  if (deviceCode) {
    // A host without a browser: show the URL and the code, then wait (10 minutes at most).
    yield* Effect.scoped(
      Effect.gen(function*() {
        const login = yield* codex.login.deviceCode()
        yield* Console.log(`open ${login.verificationUrl} and enter the code ${login.userCode}`)
        const done = yield* login.wait
        yield* Console.log(`logged in: ${done.success}; account: ${(yield* codex.account()).account?.type ?? "none"}`)
      })
    ).pipe(
      Effect.catchIf(CodexError.isCodexError, (error) => Console.log(`device-code login: ${error._tag}: ${error.message}`))
    )
  }
}).pipe(Effect.scoped)

const CodexLive = Layer.unwrapScoped(Effect.map(tempHome, (home) => Codex.layer({ codexHome: home, cwd: home })))

program.pipe(Effect.provide(CodexLive), NodeRuntime.runMain)
