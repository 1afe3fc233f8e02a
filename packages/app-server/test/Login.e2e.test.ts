import { afterEach, assert, describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { ApprovalMode, CodexClient, Sandbox } from "../src/promise.js"
import * as Codex from "../src/Codex.js"
import type { CodexConfig } from "../src/CodexConfig.js"
import { InternalRpcError, InvalidRequestError, LoginCancelledError, LoginFailedError } from "../src/CodexError.js"
import * as StdioTransport from "../src/StdioTransport.js"

// Login and account on the real binary, each in a fresh CODEX_HOME, with the Effect API and with
// the Promise facade (in one file: the ChatGPT flow listens on 127.0.0.1:1455, so these tests
// must not run at the same time as each other). Nothing leaves 127.0.0.1: the
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
      socket.on("error", () => undefined) // codex may reset the refused tunnel
      socket.end("HTTP/1.1 502 Bad Gateway\r\n\r\n")
    })
    server.on("clientError", (_, socket) => socket.destroy())
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

  it.live("closing the scope of an unfinished chatgpt attempt cancels it on the server, and its callback server stops", () =>
    guarded(Effect.gen(function*() {
      const { codex } = yield* startCodex()
      const events = yield* codex.connection.subscribe
      const first = yield* Effect.scoped(codex.login.chatgpt())
      assert.instanceOf(yield* Effect.flip(first.wait), LoginCancelledError)
      // the server's own end of the attempt, after which its callback server is gone
      const ended = yield* events.pipe(
        Stream.filter((n) => n.method === "account/login/completed" && (n.params as { loginId?: string | null }).loginId === first.loginId),
        Stream.runHead
      )
      assert.strictEqual(ended._tag, "Some")
      assert.strictEqual(yield* first.cancel, "notFound", "the server no longer knows the attempt")
      const callback = new URL(new URL(first.authUrl).searchParams.get("redirect_uri") ?? "")
      const reached = yield* Effect.promise(() => fetch(callback).then(() => true, () => false))
      assert.isFalse(reached, `nothing listens on ${callback.host} any more`)
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

// ---- the Promise facade ----

const TIMEOUT = 60_000

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const refusingProxyPromise = async () => {
  const hosts: Array<string> = []
  const server = Http.createServer((_, res) => res.writeHead(502).end())
  server.on("connect", (req, socket) => {
    hosts.push(req.url ?? "")
    socket.on("error", () => undefined)
    socket.end("HTTP/1.1 502 Bad Gateway\r\n\r\n")
  })
  server.on("clientError", (_, socket) => socket.destroy())
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, hosts }
}

const startClient = async () => {
  const home = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-promise-login-")))
  cleanups.push(() => Fs.rmSync(home, { recursive: true, force: true }))
  const proxy = await refusingProxyPromise()
  const client = await CodexClient.start({ codexHome: home, cwd: home, env: { HTTPS_PROXY: proxy.url, NO_PROXY: "127.0.0.1,localhost" } })
  cleanups.push(() => client.close())
  return { client, home, proxy }
}

describe("Promise facade: login and account (real binary)", () => {
  it("login.apiKey (a string), account(), rateLimits() rejects typed, logout()", async () => {
    const { client, home } = await startClient()
    expect((await client.account()).account ?? null).toBeNull()
    await client.login.apiKey("sk-effect-codex-promise-e2e")
    expect((await client.account()).account).toEqual({ type: "apiKey" })
    expect((await client.account({ refreshToken: true })).account).toEqual({ type: "apiKey" })
    await expect(client.rateLimits()).rejects.toBeInstanceOf(InvalidRequestError)
    await client.logout()
    expect((await client.account()).account ?? null).toBeNull()
    expect(Fs.existsSync(Path.join(home, "auth.json"))).toBe(false)
  }, TIMEOUT)

  it("login.chatgpt(): authUrl, wait() rejects with LoginFailedError on the browser's error, LoginCancelledError after cancel()", async () => {
    const { client } = await startClient()
    const first = await client.login.chatgpt()
    const auth = new URL(first.authUrl)
    const redirect = new URL(auth.searchParams.get("redirect_uri") ?? "")
    expect(redirect.hostname).toBe("127.0.0.1")
    const query = new URLSearchParams({ error: "access_denied", error_description: "nope", state: auth.searchParams.get("state") ?? "" })
    await fetch(`${redirect.origin}${redirect.pathname}?${query}`)
    const failed = await first.wait().catch((error: unknown) => error)
    expect(failed).toBeInstanceOf(LoginFailedError)
    expect((failed as LoginFailedError).reason).toBe("Login server error: Sign-in failed: nope")

    const second = await client.login.chatgpt({ timeoutMs: 30_000 })
    expect(await second.cancel()).toBe("canceled")
    await expect(second.wait()).rejects.toBeInstanceOf(LoginCancelledError)
    await expect(second.wait()).rejects.toBeInstanceOf(LoginCancelledError)
  }, TIMEOUT)

  it("an attempt still open when the client closes is cancelled: wait() rejects with LoginCancelledError", async () => {
    const { client } = await startClient()
    const open = await client.login.chatgpt()
    const waiting = open.wait().catch((error: unknown) => error)
    await client.close()
    expect(await waiting).toBeInstanceOf(LoginCancelledError)
  }, TIMEOUT)

  it("login.deviceCode() offline rejects at once with the server's error, having asked for auth.openai.com", async () => {
    const { client, proxy } = await startClient()
    const error = await client.login.deviceCode().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InternalRpcError)
    expect((error as InternalRpcError).message).toMatch(/failed to request device code/)
    expect(proxy.hosts).toContain("auth.openai.com:443")
  }, TIMEOUT)

  it("the presets come with the facade: threadStart turns a Sandbox preset into the wire's mode (the server rejects an object there)", async () => {
    const { client } = await startClient()
    const thread = await client.threadStart({ ...ApprovalMode.autoReview, sandbox: Sandbox.workspaceWrite({ networkAccess: true }) })
    expect((await client.threadRead(thread.id)).id).toBe(thread.id)
    await expect(client.request("thread/start", { sandbox: "bogus" })).rejects.toBeInstanceOf(InvalidRequestError)
  }, TIMEOUT)
})
