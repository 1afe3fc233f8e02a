import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Codex from "../src/Codex.js"
import type { CodexConfig } from "../src/CodexConfig.js"
import { InternalRpcError, InvalidRequestError, LoginCancelledError, LoginFailedError } from "../src/CodexError.js"
import * as StdioTransport from "../src/StdioTransport.js"

// Login and account on the real binary, each in a fresh CODEX_HOME. Nothing leaves 127.0.0.1: the
// process gets HTTPS_PROXY pointing at a local proxy that refuses (and records) every CONNECT, so
// what needs the network fails where it would reach it. Every wait is for an event; the timeout
// is a guard.

/** A loopback HTTPS proxy that refuses every tunnel and records the hosts asked for. */
const refusingProxy = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly hosts: Array<string>; readonly server: Http.Server }>((resume) => {
    const hosts: Array<string> = []
    const server = Http.createServer((_, res) => res.writeHead(502).end())
    server.on("connect", (req, socket) => {
      hosts.push(req.url ?? "")
      socket.end("HTTP/1.1 502 Bad Gateway\r\n\r\n")
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as { port: number }
      resume(Effect.succeed({ url: `http://127.0.0.1:${address.port}`, hosts, server }))
    })
  }),
  ({ server }) => Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
  })
)

const tempHome = Effect.acquireRelease(
  Effect.sync(() => Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-login-")))),
  (dir) => Effect.promise(() => Fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 }))
)

/** Codex on the real binary in a fresh home, its log lines (every level) captured in `logs`. */
const startCodex = (config: CodexConfig = {}) =>
  Effect.gen(function*() {
    const home = yield* tempHome
    const proxy = yield* refusingProxy
    const logs: Array<string> = []
    const capture = Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, (line) => void logs.push(line)))
    const context = yield* Layer.build(
      Codex.layer({
        codexHome: home,
        cwd: home,
        stderrTailLines: 100_000,
        ...config,
        env: { HTTPS_PROXY: proxy.url, NO_PROXY: "127.0.0.1,localhost", RUST_LOG: "trace", ...config.env }
      }).pipe(Layer.provide(Layer.merge(capture, Logger.minimumLogLevel(LogLevel.All))))
    )
    return { codex: Context.get(context, Codex.Codex), stdio: Context.get(context, StdioTransport.StdioTransport), home, logs, proxy }
  })

const guarded = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => effect.pipe(Effect.scoped, Effect.timeout("60 seconds"))

/** Plays the browser coming back to the server's callback (on 127.0.0.1) with an OAuth error. */
const returnToCallback = (authUrl: string, query: Record<string, string>) =>
  Effect.promise(async () => {
    const auth = new URL(authUrl)
    const redirect = new URL(auth.searchParams.get("redirect_uri") ?? "")
    const state = auth.searchParams.get("state") ?? ""
    const url = `${redirect.origin}${redirect.pathname}?${new URLSearchParams({ ...query, state })}`
    const response = await fetch(url)
    return response.status
  })

describe("login and account (real binary)", { timeout: 90_000 }, () => {
  it.live("apiKey: the account then reads as an API key; logout; the key is in no log line and not on stderr", () =>
    guarded(Effect.gen(function*() {
      const { codex, home, logs, stdio } = yield* startCodex()
      const secret = "sk-effect-codex-e2e-0123456789abcdef"
      const key = Redacted.make(secret)

      assert.isNull((yield* codex.account()).account ?? null)
      yield* codex.login.apiKey(key)
      const account = yield* codex.account()
      assert.deepStrictEqual(account.account, { type: "apiKey" })
      assert.deepStrictEqual((yield* codex.account({ refreshToken: true })).account, { type: "apiKey" })
      // the server keeps the key in CODEX_HOME/auth.json (mode 0600), nowhere else
      const auth = Path.join(home, "auth.json")
      assert.include(Fs.readFileSync(auth, "utf8"), secret)
      assert.strictEqual(Fs.statSync(auth).mode & 0o777, 0o600)
      // rate limits need a ChatGPT login
      const limits = yield* Effect.flip(codex.rateLimits)
      assert.instanceOf(limits, InvalidRequestError)
      assert.match(limits.message, /chatgpt authentication required to read rate limits/)

      yield* codex.logout
      assert.isNull((yield* codex.account()).account ?? null)
      assert.isFalse(Fs.existsSync(auth))

      const stderr = yield* stdio.stderrTail
      assert.isAbove(stderr.length, 10, "codex logged at trace level, so the check below means something")
      assert.isFalse(stderr.some((line) => line.includes(secret)), "the key is not on stderr")
      assert.isTrue(logs.some((line) => line.includes("logging in with an API key")), "the SDK logged the login, so the check below means something")
      assert.isFalse(logs.some((line) => line.includes(secret)), "the key is in no SDK log line")
      assert.notInclude(String(key), secret)
      assert.notInclude(JSON.stringify({ key }), secret)
    })))

  it.live("apiKey refused by the server's config: a typed error that does not show the key", () =>
    guarded(Effect.gen(function*() {
      const secret = "sk-effect-codex-e2e-refused-42"
      const home = yield* tempHome
      Fs.writeFileSync(Path.join(home, "config.toml"), `forced_login_method = "chatgpt"\n`)
      const { codex, logs, stdio } = yield* startCodex({ codexHome: home })
      const error = yield* Effect.flip(codex.login.apiKey(Redacted.make(secret)))
      assert.instanceOf(error, InvalidRequestError)
      assert.strictEqual(error.message.includes("API key login is disabled"), true)
      assert.notInclude(JSON.stringify(error), secret)
      assert.notInclude(String(error), secret)
      assert.isFalse(logs.some((line) => line.includes(secret)))
      assert.isFalse((yield* stdio.stderrTail).some((line) => line.includes(secret)))
    })))

  it.live("chatgpt: a handle with a callback on 127.0.0.1; the browser's error fails wait with the server's message; cancel", () =>
    guarded(Effect.gen(function*() {
      const { codex } = yield* startCodex()
      const first = yield* codex.login.chatgpt()
      const redirect = new URL(new URL(first.authUrl).searchParams.get("redirect_uri") ?? "")
      assert.strictEqual(redirect.hostname, "127.0.0.1")
      assert.match(first.authUrl, /^https:\/\/auth\.openai\.com\/oauth\/authorize\?/)
      assert.match(first.loginId, /^[0-9a-f-]{36}$/)
      assert.strictEqual(yield* returnToCallback(first.authUrl, { error: "access_denied", error_description: "nope" }), 200)
      const failed = yield* Effect.flip(first.wait)
      assert.instanceOf(failed, LoginFailedError)
      assert.strictEqual((failed as LoginFailedError).reason, "Login server error: Sign-in failed: nope")

      const second = yield* codex.login.chatgpt()
      assert.strictEqual(yield* second.cancel, "canceled")
      assert.instanceOf(yield* Effect.flip(second.wait), LoginCancelledError)
      // the attempt is gone on the server
      assert.strictEqual(yield* second.cancel, "notFound")
      assert.isNull((yield* codex.account()).account ?? null)
    })))

  it.live("chatgpt: the code from the browser needs auth.openai.com to be exchanged; offline that fails wait, typed", () =>
    guarded(Effect.gen(function*() {
      const { codex, proxy } = yield* startCodex()
      const handle = yield* codex.login.chatgpt()
      yield* returnToCallback(handle.authUrl, { code: "not-a-real-code" })
      const failed = yield* Effect.flip(handle.wait)
      assert.instanceOf(failed, LoginFailedError)
      assert.match((failed as LoginFailedError).reason, /Token exchange failed/)
      assert.include(proxy.hosts, "auth.openai.com:443")
    })))

  it.live("closing the scope of an unfinished chatgpt attempt cancels it: the callback port is free for the next one", () =>
    guarded(Effect.gen(function*() {
      const { codex } = yield* startCodex()
      const portOf = (authUrl: string) => new URL(new URL(authUrl).searchParams.get("redirect_uri") ?? "").port
      const first = yield* Effect.scoped(codex.login.chatgpt())
      assert.instanceOf(yield* Effect.flip(first.wait), LoginCancelledError)
      const second = yield* codex.login.chatgpt()
      assert.strictEqual(portOf(second.authUrl), portOf(first.authUrl))
      yield* second.cancel
    })))

  it.live("deviceCode: the server asks auth.openai.com for a code before answering; offline that is a typed error at once", () =>
    guarded(Effect.gen(function*() {
      const { codex, proxy } = yield* startCodex()
      const error = yield* Effect.flip(codex.login.deviceCode())
      assert.instanceOf(error, InternalRpcError)
      assert.match(error.message, /failed to request device code/)
      assert.include(proxy.hosts, "auth.openai.com:443")
    })))
})
