import * as MockAppServer from "@effect-codex/testing/MockAppServer"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Codex from "../src/Codex.js"
import { InternalRpcError, LoginCancelledError, LoginFailedError, LoginTimeoutError } from "../src/CodexError.js"
import * as Transport from "../src/Transport.js"

// Login flows on a scripted app-server: the wire shapes are those codex 0.171.0 sends (docs/PROTOCOL.md).

const setup = Effect.gen(function*() {
  const { peer, transport } = yield* MockAppServer.make()
  const context = yield* Layer.build(Codex.layerTransport().pipe(Layer.provide(Layer.succeed(Transport.Transport, transport))))
  const codex = yield* Effect.provide(Codex.Codex, context)
  return { peer, codex }
})

const authUrl = "https://auth.openai.com/oauth/authorize?redirect_uri=http%3A%2F%2F127.0.0.1%3A1455%2Fauth%2Fcallback"
const completed = (loginId: string | null, success: boolean, error: string | null = null) => ({
  loginId,
  success,
  error,
  onboardingEntrypoint: null
})

/** Starts a ChatGPT login on a fiber and answers `account/login/start` with `loginId`. */
const startChatgpt = (
  { codex, peer }: Effect.Effect.Success<typeof setup>,
  loginId: string,
  options?: Parameters<Codex.Codex.Service["login"]["chatgpt"]>[0]
) =>
  Effect.gen(function*() {
    const starting = yield* Effect.fork(codex.login.chatgpt(options))
    const request = yield* peer.expectRequest("account/login/start")
    yield* peer.respond(request.id, { type: "chatgpt", loginId, authUrl })
    return { request, handle: yield* Fiber.join(starting) }
  })

describe("Login", () => {
  it.scoped("chatgpt: the handle has the attempt's id and URL; wait completes on its account/login/completed", () =>
    Effect.gen(function*() {
      const env = yield* setup
      const { handle, request } = yield* startChatgpt(env, "login-1")
      assert.deepStrictEqual(request.params, { type: "chatgpt" })
      assert.strictEqual(handle.loginId, "login-1")
      assert.strictEqual(handle.authUrl, authUrl)
      const waiting = yield* Effect.fork(handle.wait)
      // another attempt's completion is not this one's
      yield* env.peer.notify("account/login/completed", completed("login-0", false, "other"))
      yield* env.peer.notify("account/login/completed", completed("login-1", true))
      const done = yield* Fiber.join(waiting)
      assert.strictEqual(done.success, true)
      assert.strictEqual(done.loginId, "login-1")
      // wait again: the same outcome
      assert.strictEqual((yield* handle.wait).loginId, "login-1")
    }))

  it.scoped("a completion that arrives before the answer to account/login/start, and before wait, is kept", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* setup
      const starting = yield* Effect.fork(codex.login.chatgpt())
      const request = yield* peer.expectRequest("account/login/start")
      yield* peer.notify("account/login/completed", completed("login-2", true))
      yield* peer.respond(request.id, { type: "chatgpt", loginId: "login-2", authUrl })
      const handle = yield* Fiber.join(starting)
      const done = yield* handle.wait
      assert.strictEqual(done.loginId, "login-2")
    }))

  it.scoped("a failed login: wait fails with LoginFailedError carrying the server's message", () =>
    Effect.gen(function*() {
      const env = yield* setup
      const { handle } = yield* startChatgpt(env, "login-3")
      yield* env.peer.notify("account/login/completed", completed("login-3", false, "Login server error: Sign-in failed: nope"))
      const error = yield* Effect.flip(handle.wait)
      assert.instanceOf(error, LoginFailedError)
      assert.strictEqual((error as LoginFailedError).reason, "Login server error: Sign-in failed: nope")
      assert.strictEqual((error as LoginFailedError).loginId, "login-3")
    }))

  it.scoped("cancel: account/login/cancel with the id; wait fails with LoginCancelledError, whichever comes first", () =>
    Effect.gen(function*() {
      const env = yield* setup
      const { peer } = env
      // the answer to the cancel first, then the server's completion
      const first = yield* startChatgpt(env, "login-4")
      const waiting = yield* Effect.fork(first.handle.wait)
      const cancelling = yield* Effect.fork(first.handle.cancel)
      const cancel = yield* peer.expectRequest("account/login/cancel")
      assert.deepStrictEqual(cancel.params, { loginId: "login-4" })
      yield* peer.respond(cancel.id, { status: "canceled" })
      yield* peer.notify("account/login/completed", completed("login-4", false, "Login server error: Login was not completed"))
      assert.strictEqual(yield* Fiber.join(cancelling), "canceled")
      assert.instanceOf(yield* Effect.flip(Fiber.join(waiting)), LoginCancelledError)
      // the completion first, then the answer
      const second = yield* startChatgpt(env, "login-5")
      const cancelling2 = yield* Effect.fork(second.handle.cancel)
      const cancel2 = yield* peer.expectRequest("account/login/cancel")
      yield* peer.notify("account/login/completed", completed("login-5", false, "Login server error: Login was not completed"))
      const error = yield* Effect.flip(second.handle.wait)
      assert.instanceOf(error, LoginCancelledError)
      yield* peer.respond(cancel2.id, { status: "canceled" })
      assert.strictEqual(yield* Fiber.join(cancelling2), "canceled")
    }))

  it.scoped("cancel after the login completed: notFound, and wait keeps the success", () =>
    Effect.gen(function*() {
      const env = yield* setup
      const { handle } = yield* startChatgpt(env, "login-6")
      yield* env.peer.notify("account/login/completed", completed("login-6", true))
      assert.isTrue((yield* handle.wait).success)
      const cancelling = yield* Effect.fork(handle.cancel)
      const cancel = yield* env.peer.expectRequest("account/login/cancel")
      yield* env.peer.respond(cancel.id, { status: "notFound" })
      assert.strictEqual(yield* Fiber.join(cancelling), "notFound")
      assert.isTrue((yield* handle.wait).success)
    }))

  it.scoped("the deadline (default 10 minutes): wait fails with LoginTimeoutError and the attempt is cancelled on the server", () =>
    Effect.gen(function*() {
      const env = yield* setup
      const { handle } = yield* startChatgpt(env, "login-7")
      const waiting = yield* Effect.fork(handle.wait)
      yield* TestClock.adjust(Duration.minutes(9))
      assert.isNull(yield* Fiber.poll(waiting).pipe(Effect.map((o) => (o._tag === "None" ? null : o.value))))
      yield* TestClock.adjust(Duration.minutes(1))
      const error = yield* Effect.flip(Fiber.join(waiting))
      assert.instanceOf(error, LoginTimeoutError)
      assert.strictEqual((error as LoginTimeoutError).loginId, "login-7")
      assert.isTrue(Duration.equals((error as LoginTimeoutError).timeout, Duration.minutes(10)))
      const cancel = yield* env.peer.expectRequest("account/login/cancel")
      assert.deepStrictEqual(cancel.params, { loginId: "login-7" })
      yield* env.peer.respond(cancel.id, { status: "canceled" })
    }))

  it.scoped("a configured deadline", () =>
    Effect.gen(function*() {
      const env = yield* setup
      const { handle } = yield* startChatgpt(env, "login-8", { timeout: "30 seconds" })
      const waiting = yield* Effect.fork(handle.wait)
      yield* TestClock.adjust(Duration.seconds(30))
      assert.instanceOf(yield* Effect.flip(Fiber.join(waiting)), LoginTimeoutError)
    }))

  it.scoped("closing the scope of an unfinished attempt cancels it on the server; wait then fails with LoginCancelledError", () =>
    Effect.gen(function*() {
      const env = yield* setup
      const { handle } = yield* Effect.scoped(
        Effect.gen(function*() {
          const started = yield* startChatgpt(env, "login-9")
          // answer the cancel the finalizer sends
          yield* env.peer.handle("account/login/cancel", () => Effect.succeed({ status: "canceled" }))
          return started
        })
      )
      assert.instanceOf(yield* Effect.flip(handle.wait), LoginCancelledError)
      const history = yield* env.peer.history
      const cancels = history.filter((m) => m._tag === "Request" && m.method === "account/login/cancel")
      assert.deepStrictEqual(cancels.map((m) => (m as MockAppServer.ClientRequest).params), [{ loginId: "login-9" }])
    }))

  it.scoped("interrupted while account/login/start is in flight: the answer is awaited, then the attempt is cancelled on the server", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* setup
      const starting = yield* Effect.fork(Effect.scoped(codex.login.chatgpt()))
      const request = yield* peer.expectRequest("account/login/start")
      const interrupting = yield* Effect.fork(Fiber.interrupt(starting))
      yield* peer.respond(request.id, { type: "chatgpt", loginId: "login-10", authUrl })
      const cancel = yield* peer.expectRequest("account/login/cancel")
      assert.deepStrictEqual(cancel.params, { loginId: "login-10" })
      yield* peer.respond(cancel.id, { status: "canceled" })
      yield* Fiber.join(interrupting)
    }))

  it.scoped("deviceCode: the handle has the URL and the code; wait completes", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* setup
      const starting = yield* Effect.fork(codex.login.deviceCode())
      const request = yield* peer.expectRequest("account/login/start")
      assert.deepStrictEqual(request.params, { type: "chatgptDeviceCode" })
      yield* peer.respond(request.id, {
        type: "chatgptDeviceCode",
        loginId: "device-1",
        verificationUrl: "https://auth.openai.com/codex/device",
        userCode: "ABCD-1234"
      })
      const handle = yield* Fiber.join(starting)
      assert.strictEqual(handle.verificationUrl, "https://auth.openai.com/codex/device")
      assert.strictEqual(handle.userCode, "ABCD-1234")
      yield* peer.notify("account/login/completed", completed("device-1", true))
      assert.isTrue((yield* handle.wait).success)
    }))

  it.scoped("deviceCode offline: the server's error (-32603) is the typed failure of the start", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* setup
      const starting = yield* Effect.fork(codex.login.deviceCode())
      const request = yield* peer.expectRequest("account/login/start")
      const message = "failed to request device code: error sending request for url (https://auth.openai.com/api/accounts/deviceauth/usercode)"
      yield* peer.respondError(request.id, { code: -32603, message })
      const error = yield* Effect.flip(Fiber.join(starting))
      assert.instanceOf(error, InternalRpcError)
      assert.strictEqual((error as InternalRpcError).message.includes("failed to request device code"), true)
    }))

  it.scoped("an answer of another kind than asked for is a LoginFailedError", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* setup
      const starting = yield* Effect.fork(codex.login.deviceCode())
      const request = yield* peer.expectRequest("account/login/start")
      yield* peer.respond(request.id, { type: "chatgpt", loginId: "x", authUrl })
      const error = yield* Effect.flip(Fiber.join(starting))
      assert.instanceOf(error, LoginFailedError)
      assert.match((error as LoginFailedError).reason, /chatgptDeviceCode.*chatgpt/)
    }))

  it.scoped("apiKey: the key goes in the request, unredacted only there; logout, account and rateLimits", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* setup
      const key = Redacted.make("sk-unit-test-key")
      const login = yield* Effect.fork(codex.login.apiKey(key))
      const request = yield* peer.expectRequest("account/login/start")
      assert.deepStrictEqual(request.params, { type: "apiKey", apiKey: "sk-unit-test-key" })
      yield* peer.respond(request.id, { type: "apiKey" })
      yield* Fiber.join(login)

      const reading = yield* Effect.fork(codex.account({ refreshToken: true }))
      const read = yield* peer.expectRequest("account/read")
      assert.deepStrictEqual(read.params, { refreshToken: true })
      yield* peer.respond(read.id, { account: { type: "apiKey" }, userId: null, requiresOpenaiAuth: true, workspaceRouting: null })
      assert.deepStrictEqual((yield* Fiber.join(reading)).account, { type: "apiKey" })

      const plain = yield* Effect.fork(codex.account())
      assert.deepStrictEqual((yield* peer.expectRequest("account/read")).params, {})
      yield* Fiber.interrupt(plain)

      const limits = yield* Effect.fork(codex.rateLimits)
      const limitsRequest = yield* peer.expectRequest("account/rateLimits/read")
      yield* peer.respondError(limitsRequest.id, { code: -32600, message: "chatgpt authentication required to read rate limits" })
      assert.match(String(yield* Effect.flip(Fiber.join(limits))), /chatgpt authentication required/)

      const logout = yield* Effect.fork(codex.logout)
      const logoutRequest = yield* peer.expectRequest("account/logout")
      yield* peer.respond(logoutRequest.id, {})
      assert.isTrue(Either.isRight(yield* Effect.either(Fiber.join(logout))))
    }))
})
