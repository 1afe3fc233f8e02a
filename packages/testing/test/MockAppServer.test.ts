import { LineTooLongError, ProcessExitedError, TransportClosedError } from "@effect-codex/app-server/CodexError"
import * as Transport from "@effect-codex/app-server/Transport"
import { codexVersion } from "@effect-codex/protocol/generated/Version"
import * as MockAppServer from "@effect-codex/testing/MockAppServer"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/**
 * Lets every forked fiber run until it blocks: `TestClock.adjust` (by nothing) yields to the event
 * loop until the fibers are quiet, and everything here waits only on in-memory events.
 */
const settle = TestClock.adjust(0)

/**
 * The client side, as an SDK would use it: one background consumer of `transport.incoming`.
 * Reading never waits forever: a missing line or a stream that has not ended fails the test at once.
 */
const clientOf = (transport: Transport.Service) =>
  Effect.gen(function*() {
    const lines = yield* Queue.unbounded<string>()
    const end = yield* Deferred.make<Exit.Exit<void, Transport.TransportError>>()
    yield* transport.incoming.pipe(
      Stream.runForEach((line) => Queue.offer(lines, line)),
      Effect.exit,
      Effect.flatMap((exit) => Deferred.succeed(end, exit)),
      Effect.forkScoped
    )
    /** The next line the peer wrote (it must have been written by now). */
    const line = Effect.gen(function*() {
      const now = yield* Queue.poll(lines)
      if (Option.isSome(now)) return now.value
      yield* settle
      const later = yield* Queue.poll(lines)
      if (Option.isNone(later)) return assert.fail("the peer wrote no line")
      return later.value
    })
    /** The next line, parsed. */
    const json = Effect.map(line, (text): unknown => JSON.parse(text))
    /** Every line available now (after settling). */
    const available = Effect.zipRight(settle, Effect.map(Queue.takeAll(lines), Chunk.toReadonlyArray))
    /** How `incoming` ended (it must have ended by now). */
    const ended = Effect.gen(function*() {
      yield* settle
      const exit = yield* Deferred.poll(end)
      if (Option.isNone(exit)) return assert.fail("incoming has not ended")
      return yield* (yield* exit.value)
    })
    /** Whether `incoming` is still open. */
    const open = Effect.zipRight(settle, Effect.map(Deferred.isDone(end), (done) => !done))
    return { line, json, available, ended, open }
  })

/** A mock transport with its peer and a client reading its `incoming`. */
const setup = (options?: MockAppServer.Options) =>
  Effect.gen(function*() {
    const { peer, transport } = yield* MockAppServer.make(options)
    const client = yield* clientOf(transport)
    return { peer, transport, client }
  })

/** The exit of a fiber that must be done by now (fails the test instead of hanging). */
const doneNow = <A, E>(fiber: Fiber.Fiber<A, E>, what: string) =>
  Effect.gen(function*() {
    yield* settle
    const exit = yield* Fiber.poll(fiber)
    if (Option.isNone(exit)) return assert.fail(`${what}: still running`)
    return exit.value
  })

const isRunning = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.zipRight(settle, Effect.map(Fiber.poll(fiber), Option.isNone))

/** The failure of an exit (fails the test on success or on a defect). */
const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) return assert.fail(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return assert.fail(`expected a failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

/** The defect of an exit, pretty-printed (fails the test otherwise). */
const defectOf = <A, E>(exit: Exit.Exit<A, E>): string => {
  if (Exit.isSuccess(exit)) return assert.fail(`expected a defect, got ${JSON.stringify(exit.value)}`)
  if (Option.isNone(Cause.dieOption(exit.cause))) return assert.fail(`expected a defect, got ${Cause.pretty(exit.cause)}`)
  return Cause.pretty(exit.cause)
}

const methodsOf = (messages: ReadonlyArray<MockAppServer.ClientMessage>) =>
  messages.map((m) => m._tag === "Request" || m._tag === "Notification" ? `${m._tag}:${m.method}` : m._tag)

// client lines
const request = (id: string | number, method: string, params?: unknown) =>
  JSON.stringify(params === undefined ? { id, method } : { id, method, params })
const notification = (method: string, params?: unknown) =>
  JSON.stringify(params === undefined ? { method } : { method, params })
const initializeParams = { clientInfo: { name: "my_app", title: "My App", version: "1.0.0" }, capabilities: { experimentalApi: false } }

// ---------------------------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------------------------

describe("MockAppServer", { timeout: 10_000 }, () => {
  describe("handshake", () => {
    it.scoped("answers initialize, swallows initialized, and rejects a second initialize with -32600", () =>
      Effect.gen(function*() {
        const { client, peer, transport } = yield* setup()
        yield* transport.send(request(0, "initialize", initializeParams))
        assert.deepStrictEqual(yield* client.json, { id: 0, result: MockAppServer.defaultInitializeResponse })
        assert.deepStrictEqual(MockAppServer.defaultInitializeResponse, {
          userAgent: `mock/${codexVersion} (test)`,
          codexHome: "/mock",
          platformFamily: "unix",
          platformOs: "linux"
        })
        yield* transport.send(notification("initialized"))
        yield* transport.send(request(1, "initialize", initializeParams))
        assert.deepStrictEqual(yield* client.json, { id: 1, error: { code: -32600, message: "Already initialized" } })
        assert.deepStrictEqual(yield* client.available, [])

        // answered by the mock: nothing queued, everything in the history
        assert.isTrue(Option.isNone(yield* peer.poll))
        const history = yield* peer.history
        assert.deepStrictEqual(methodsOf(history), ["Request:initialize", "Notification:initialized", "Request:initialize"])
        assert.deepStrictEqual(history[0], {
          _tag: "Request",
          id: 0,
          method: "initialize",
          params: initializeParams,
          line: request(0, "initialize", initializeParams)
        })
      }))

    it.scoped("autoInitialize: false queues the handshake; handshake() answers it and waits for initialized", () =>
      Effect.gen(function*() {
        const { client, peer, transport } = yield* setup({ autoInitialize: false })
        const fiber = yield* Effect.fork(peer.handshake({ codexHome: "/home/me/.codex" }))
        yield* transport.send(request(0, "initialize", initializeParams))
        assert.deepStrictEqual(yield* client.json, {
          id: 0,
          result: { ...MockAppServer.defaultInitializeResponse, codexHome: "/home/me/.codex" }
        })
        assert.isTrue(yield* isRunning(fiber), "handshake() waits for initialized")

        yield* transport.send(notification("initialized"))
        const init = yield* Fiber.join(fiber)
        assert.deepStrictEqual(init, {
          _tag: "Request",
          id: 0,
          method: "initialize",
          params: initializeParams,
          line: request(0, "initialize", initializeParams)
        })

        // without autoInitialize nothing is answered behind the script's back
        yield* transport.send(request(1, "initialize", initializeParams))
        assert.deepStrictEqual(yield* client.available, [])
        const again = yield* peer.take
        assert.strictEqual(again._tag === "Request" ? again.id : undefined, 1)
        assert.deepStrictEqual(methodsOf(yield* peer.history), [
          "Request:initialize",
          "Notification:initialized",
          "Request:initialize"
        ])
      }))

    it.scoped("userAgent and initializeResponse override the built-in answer (userAgent wins)", () =>
      Effect.gen(function*() {
        const { client, transport } = yield* setup({
          userAgent: "mock/0.170.0 (test)",
          initializeResponse: { userAgent: "ignored", platformFamily: "windows", platformOs: "windows" }
        })
        yield* transport.send(request("init", "initialize", initializeParams))
        assert.deepStrictEqual(yield* client.json, {
          id: "init",
          result: { userAgent: "mock/0.170.0 (test)", codexHome: "/mock", platformFamily: "windows", platformOs: "windows" }
        })
      }))

    it.scoped("handshake() also applies the options' overrides", () =>
      Effect.gen(function*() {
        const { client, peer, transport } = yield* setup({ autoInitialize: false, userAgent: "custom/1.2.3" })
        const fiber = yield* Effect.fork(peer.handshake())
        yield* transport.send(request(0, "initialize", initializeParams))
        yield* transport.send(notification("initialized"))
        yield* Fiber.join(fiber)
        assert.deepStrictEqual(yield* client.json, {
          id: 0,
          result: { ...MockAppServer.defaultInitializeResponse, userAgent: "custom/1.2.3" }
        })
      }))
  })

  describe("the queue", () => {
    it.scoped("expectRequest skips other messages and returns the request; take, poll and history", () =>
      Effect.gen(function*() {
        const { peer, transport } = yield* setup()
        yield* transport.send(notification("hello", { a: 1 }))
        yield* transport.send("not json")
        yield* transport.send(request(5, "thread/list", {}))
        yield* transport.send(request(6, "thread/start", { cwd: "/tmp" }))
        yield* transport.send(request(7, "thread/read", { threadId: "t" }))

        const started = yield* peer.expectRequest("thread/start")
        assert.deepStrictEqual(started, {
          _tag: "Request",
          id: 6,
          method: "thread/start",
          params: { cwd: "/tmp" },
          line: request(6, "thread/start", { cwd: "/tmp" })
        })
        // the skipped messages are gone from the queue, the later one is still there
        const next = yield* peer.poll
        assert.isTrue(Option.isSome(next))
        assert.strictEqual(Option.getOrThrow(next).line, request(7, "thread/read", { threadId: "t" }))
        assert.isTrue(Option.isNone(yield* peer.poll))

        // the history keeps everything, classified
        const history = yield* peer.history
        assert.deepStrictEqual(methodsOf(history), [
          "Notification:hello",
          "Malformed",
          "Request:thread/list",
          "Request:thread/start",
          "Request:thread/read"
        ])
        assert.deepStrictEqual(history[0], {
          _tag: "Notification",
          method: "hello",
          params: { a: 1 },
          line: notification("hello", { a: 1 })
        })
        const malformed = history[1]
        assert.strictEqual(malformed._tag, "Malformed")
        expect(malformed._tag === "Malformed" ? malformed.reason : "").toMatch(/^invalid JSON/)
        assert.strictEqual(malformed.line, "not json")

        // take waits for the next message
        const taken = yield* Effect.fork(peer.take)
        assert.isTrue(yield* isRunning(taken))
        yield* transport.send(notification("later"))
        const later = yield* Fiber.join(taken)
        assert.deepStrictEqual(later, { _tag: "Notification", method: "later", params: undefined, line: notification("later") })
      }))

    it.scoped("expectNotification and received share the queue; a partial run leaves the rest queued", () =>
      Effect.gen(function*() {
        const { peer, transport } = yield* setup({ autoInitialize: false })
        yield* transport.send(request(0, "thread/list"))
        yield* transport.send(notification("initialized"))
        yield* transport.send(notification("a"))
        yield* transport.send(notification("b"))
        yield* transport.send(notification("c"))

        const initialized = yield* peer.expectNotification("initialized")
        assert.strictEqual(initialized.method, "initialized")
        assert.isUndefined(initialized.params)

        const two = yield* peer.received.pipe(Stream.take(2), Stream.runCollect, Effect.map(Chunk.toReadonlyArray))
        assert.deepStrictEqual(methodsOf(two), ["Notification:a", "Notification:b"])
        assert.deepStrictEqual(methodsOf(Option.toArray(yield* peer.poll)), ["Notification:c"])
      }))

    it.scoped("a client reply to no server request is queued as Response / ErrorResponse", () =>
      Effect.gen(function*() {
        const { peer, transport } = yield* setup()
        yield* transport.send(JSON.stringify({ id: 99, result: { ok: true } }))
        yield* transport.send(JSON.stringify({ id: null, error: { code: -32700, message: "Parse error" } }))
        assert.deepStrictEqual(yield* peer.take, {
          _tag: "Response",
          id: 99,
          result: { ok: true },
          line: JSON.stringify({ id: 99, result: { ok: true } })
        })
        assert.deepStrictEqual(yield* peer.take, {
          _tag: "ErrorResponse",
          id: null,
          error: { code: -32700, message: "Parse error" },
          line: JSON.stringify({ id: null, error: { code: -32700, message: "Parse error" } })
        })
      }))

    it.scoped("send rejects a line containing a newline as a defect", () =>
      Effect.gen(function*() {
        const { peer, transport } = yield* setup()
        expect(defectOf(yield* Effect.exit(transport.send("{}\n{}")))).toContain("must not contain")
        assert.deepStrictEqual(yield* peer.history, [])
      }))
  })

  describe("the peer writes", () => {
    it.scoped("respond and respondError reach the client as JSON-RPC lines", () =>
      Effect.gen(function*() {
        const { client, peer, transport } = yield* setup()
        yield* transport.send(request(3, "thread/list", {}))
        const listed = yield* peer.expectRequest("thread/list")
        yield* peer.respond(listed.id, { data: [], nextCursor: null })
        yield* peer.respond("s-1", undefined)
        yield* peer.respondError(4, { code: -32001, message: "Server overloaded; retry later." })
        yield* peer.respondError(null, { code: -32700, message: "Parse error", data: { line: 1 } })

        assert.deepStrictEqual(yield* client.available, [
          "{\"id\":3,\"result\":{\"data\":[],\"nextCursor\":null}}",
          "{\"id\":\"s-1\",\"result\":null}",
          "{\"id\":4,\"error\":{\"code\":-32001,\"message\":\"Server overloaded; retry later.\"}}",
          "{\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\",\"data\":{\"line\":1}}}"
        ])
      }))

    it.scoped("notify stamps emittedAtMs from the Clock (TestClock), unless given", () =>
      Effect.gen(function*() {
        const { client, peer } = yield* setup()
        yield* peer.notify("thread/started", { thread: { id: "t-1" } })
        assert.deepStrictEqual(yield* client.json, { method: "thread/started", params: { thread: { id: "t-1" } }, emittedAtMs: 0 })

        yield* TestClock.adjust("1500 millis")
        yield* peer.notify("skills/changed")
        const line = yield* client.line
        assert.deepStrictEqual(JSON.parse(line), { method: "skills/changed", emittedAtMs: 1500 })
        assert.notInclude(line, "params")

        yield* peer.notify("thread/started", {}, { emittedAtMs: 42 })
        assert.deepStrictEqual(yield* client.json, { method: "thread/started", params: {}, emittedAtMs: 42 })
      }))

    it.scoped("request and call use the peer's ids from 0 and return the client's reply (not queued)", () =>
      Effect.gen(function*() {
        const { client, peer, transport } = yield* setup()
        const approval = { threadId: "t", turnId: "u", itemId: "i", reason: null }

        const first = yield* peer.request("item/fileChange/requestApproval", approval)
        assert.strictEqual(first.id, 0)
        assert.deepStrictEqual(yield* client.json, { id: 0, method: "item/fileChange/requestApproval", params: approval })

        // an explicit id does not consume one, and params are left out when undefined
        const custom = yield* peer.request("account/chatgptAuthTokens/refresh", undefined, { id: "custom" })
        assert.strictEqual(custom.id, "custom")
        assert.deepStrictEqual(yield* client.json, { id: "custom", method: "account/chatgptAuthTokens/refresh" })

        const call = yield* Effect.fork(peer.call("item/tool/requestUserInput", { questions: [] }))
        assert.deepStrictEqual(yield* client.json, { id: 1, method: "item/tool/requestUserInput", params: { questions: [] } })
        assert.isTrue(yield* isRunning(call), "call waits for the reply")

        // the client answers out of order
        const errorLine = JSON.stringify({ id: 1, error: { code: -32603, message: "no ui" } })
        yield* transport.send(errorLine)
        assert.deepStrictEqual(yield* Fiber.join(call), {
          _tag: "ErrorResponse",
          id: 1,
          error: { code: -32603, message: "no ui" },
          line: errorLine
        })
        const replyLine = JSON.stringify({ id: 0, result: { decision: "accept" } })
        yield* transport.send(replyLine)
        assert.deepStrictEqual(yield* first.reply, { _tag: "Response", id: 0, result: { decision: "accept" }, line: replyLine })

        assert.isTrue(Option.isNone(yield* peer.poll), "replies are not queued")
        assert.deepStrictEqual(methodsOf(yield* peer.history), ["ErrorResponse", "Response"])

        // the next id continues the sequence
        assert.strictEqual((yield* peer.request("item/tool/requestUserInput", {})).id, 2)
      }))

    it.scoped("a pending server request fails with the transport's error when it closes", () =>
      Effect.gen(function*() {
        const { peer } = yield* setup()
        const pending = yield* peer.request("item/fileChange/requestApproval", {})
        const error = yield* peer.die({ exitCode: 3 })
        assert.strictEqual(failureOf(yield* Effect.exit(pending.reply)), error)
        // and one sent afterwards fails at once
        const late = yield* peer.request("item/fileChange/requestApproval", {})
        assert.strictEqual(failureOf(yield* Effect.exit(late.reply)), error)
        assert.strictEqual(failureOf(yield* Effect.exit(peer.call("item/fileChange/requestApproval", {}))), error)
      }))

    it.scoped("sendRaw splits on \\n like the framing: \\r stripped, inner empty lines kept, no trailing empty line", () =>
      Effect.gen(function*() {
        const { client, peer } = yield* setup()
        yield* peer.sendRaw("garbage\r\n\n{\"partial\":")
        yield* peer.sendRaw("{\"method\":\"x\"}\n")
        assert.deepStrictEqual(yield* client.available, ["garbage", "", "{\"partial\":", "{\"method\":\"x\"}"])
      }))
  })

  describe("handle", () => {
    it.scoped("answers in the background; requests it handles are not queued", () =>
      Effect.gen(function*() {
        const { client, peer, transport } = yield* setup()
        yield* peer.handle("thread/list", (params, req) => Effect.succeed({ echo: params, id: req.id }))
        yield* peer.handle("thread/read", () => Effect.as(Effect.sleep("1 second"), { thread: "slow" }))

        yield* transport.send(request(1, "thread/read", { threadId: "t" }))
        yield* transport.send(request(2, "thread/list", { limit: 1 }))
        // the slow handler does not hold up the fast one
        assert.deepStrictEqual(yield* client.json, { id: 2, result: { echo: { limit: 1 }, id: 2 } })
        assert.deepStrictEqual(yield* client.available, [])
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* client.json, { id: 1, result: { thread: "slow" } })

        assert.isTrue(Option.isNone(yield* peer.poll))
        assert.deepStrictEqual(methodsOf(yield* peer.history), ["Request:thread/read", "Request:thread/list"])
      }))

    it.scoped("a failure is sent as the error, a defect (or a throw) as -32603", () =>
      Effect.gen(function*() {
        const { client, peer, transport } = yield* setup()
        yield* peer.handle("thread/read", () => Effect.fail({ code: -32600, message: "no such thread", data: { id: "t" } }))
        yield* peer.handle("thread/start", () => Effect.die(new Error("kaboom")))
        yield* peer.handle("thread/fork", () => {
          throw new Error("thrown")
        })

        yield* transport.send(request(1, "thread/read", {}))
        assert.deepStrictEqual(yield* client.json, {
          id: 1,
          error: { code: -32600, message: "no such thread", data: { id: "t" } }
        })

        yield* transport.send(request(2, "thread/start", {}))
        const died = (yield* client.json) as { id: number; error: { code: number; message: string; data: Array<string> } }
        assert.strictEqual(died.id, 2)
        assert.strictEqual(died.error.code, -32603)
        assert.strictEqual(died.error.message, "MockAppServer: the handler of thread/start died")
        assert.isArray(died.error.data)
        expect(died.error.data.join("\n")).toContain("kaboom")

        yield* transport.send(request(3, "thread/fork", {}))
        const thrown = (yield* client.json) as { id: number; error: { code: number; data: Array<string> } }
        assert.strictEqual(thrown.id, 3)
        assert.strictEqual(thrown.error.code, -32603)
        expect(thrown.error.data.join("\n")).toContain("thrown")
      }))

    it.scoped("a handler replaces the built-in initialize answer, and a later handler replaces an earlier one", () =>
      Effect.gen(function*() {
        const { client, peer, transport } = yield* setup()
        yield* peer.handle("initialize", () => Effect.fail({ code: -32000, message: "not today" }))
        yield* transport.send(request(0, "initialize", initializeParams))
        assert.deepStrictEqual(yield* client.json, { id: 0, error: { code: -32000, message: "not today" } })

        yield* peer.handle("initialize", () => Effect.succeed({ userAgent: "handled/1.0.0" }))
        yield* transport.send(request(1, "initialize", initializeParams))
        assert.deepStrictEqual(yield* client.json, { id: 1, result: { userAgent: "handled/1.0.0" } })
      }))
  })

  describe("die and close", () => {
    it.scoped("die fails incoming with ProcessExitedError after the lines already written; send fails afterwards", () =>
      Effect.gen(function*() {
        const { peer, transport } = yield* MockAppServer.make()
        yield* peer.notify("thread/started", { thread: { id: "t" } })
        yield* peer.sendRaw("last words")
        const error = yield* peer.die({ exitCode: 2, stderrTail: ["thread 'main' panicked", "note: run with RUST_BACKTRACE=1"] })
        assert.instanceOf(error, ProcessExitedError)
        assert.strictEqual(error.exitCode, 2)
        assert.isNull(error.signal)
        assert.deepStrictEqual(error.stderrTail, ["thread 'main' panicked", "note: run with RUST_BACKTRACE=1"])

        // the client starts reading only now: the lines come first, then the failure
        const client = yield* clientOf(transport)
        assert.deepStrictEqual(yield* client.available, [
          JSON.stringify({ method: "thread/started", params: { thread: { id: "t" } }, emittedAtMs: 0 }),
          "last words"
        ])
        assert.strictEqual(failureOf(yield* Effect.exit(client.ended)), error)

        assert.strictEqual(yield* transport.closed, error)
        assert.strictEqual(yield* peer.closed, error)
        assert.strictEqual(failureOf(yield* Effect.exit(transport.send(notification("initialized")))), error)

        // a dead process writes nothing and dies only once
        yield* peer.notify("thread/started", {})
        const again = yield* peer.die({ exitCode: 9 })
        assert.strictEqual(again.exitCode, 9, "die returns the error it would have used")
        assert.strictEqual(yield* transport.closed, error)
        yield* peer.close
        assert.strictEqual(yield* transport.closed, error)
      }))

    it.scoped("die defaults: exit code 1, or null with a signal", () =>
      Effect.gen(function*() {
        const plain = yield* setup()
        const error = yield* plain.peer.die()
        assert.deepStrictEqual([error.exitCode, error.signal, error.stderrTail], [1, null, []])
        assert.strictEqual(failureOf(yield* Effect.exit(plain.client.ended)), error)

        const killed = yield* setup()
        const signalled = yield* killed.peer.die({ signal: "SIGKILL", stderrTail: ["oom"] })
        assert.deepStrictEqual([signalled.exitCode, signalled.signal, signalled.stderrTail], [null, "SIGKILL", ["oom"]])
        const seen = failureOf(yield* Effect.exit(killed.client.ended))
        assert.instanceOf(seen, ProcessExitedError)
        expect(seen.message).toContain("SIGKILL")
      }))

    it.scoped("a client already reading sees die while waiting", () =>
      Effect.gen(function*() {
        const { client, peer } = yield* setup()
        assert.isTrue(yield* client.open)
        const error = yield* peer.die({ exitCode: 137 })
        assert.strictEqual(failureOf(yield* Effect.exit(client.ended)), error)
      }))

    it.scoped("close ends incoming cleanly after the written lines; send and closed report TransportClosedError", () =>
      Effect.gen(function*() {
        const { peer, transport } = yield* MockAppServer.make()
        yield* peer.sendRaw("one\ntwo")
        yield* peer.close
        const client = yield* clientOf(transport)
        assert.deepStrictEqual(yield* client.available, ["one", "two"])
        yield* client.ended

        const closed = yield* transport.closed
        assert.instanceOf(closed, TransportClosedError)
        assert.strictEqual(yield* peer.closed, closed)
        assert.strictEqual(failureOf(yield* Effect.exit(transport.send(notification("x")))), closed)

        // nothing more: writes are dropped, die is a no-op
        yield* peer.notify("thread/started", {})
        yield* peer.die()
        assert.strictEqual(yield* transport.closed, closed)
      }))

    it.scoped("closing the scope of make closes the transport like close", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const { peer, transport } = yield* Scope.extend(MockAppServer.make(), scope)
        const client = yield* clientOf(transport)
        yield* peer.sendRaw("before")
        assert.isTrue(yield* client.open)
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(yield* client.available, ["before"])
        yield* client.ended
        const closed = yield* transport.closed
        assert.instanceOf(closed, TransportClosedError)
        expect(closed.reason).toContain("released")
      }))

    it.scoped("take dies instead of hanging once closed, after the queue is drained", () =>
      Effect.gen(function*() {
        const { peer, transport } = yield* setup()
        const waiting = yield* Effect.fork(peer.take)
        const expecting = yield* Effect.fork(peer.expectRequest("thread/start"))
        assert.isTrue(yield* isRunning(waiting))
        yield* transport.send(request(1, "thread/list"))
        yield* transport.send(request(2, "thread/read"))
        assert.strictEqual((yield* Fiber.join(waiting)).line, request(1, "thread/list"))
        yield* peer.close

        // the expectation that skipped thread/read dies at close instead of waiting forever
        expect(defectOf(yield* doneNow(expecting, "expectRequest after close"))).toContain("closed")
        expect(defectOf(yield* Effect.exit(peer.take))).toContain("closed")
        assert.isTrue(Option.isNone(yield* peer.poll))
        assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(peer.received)), [])
      }))

    it.scoped("messages queued before close can still be taken", () =>
      Effect.gen(function*() {
        const { peer, transport } = yield* setup()
        yield* transport.send(request(1, "thread/list"))
        yield* transport.send(request(2, "thread/read"))
        yield* peer.die()
        assert.strictEqual((yield* peer.expectRequest("thread/list")).id, 1)
        assert.deepStrictEqual(methodsOf(Option.toArray(yield* peer.poll)), ["Request:thread/read"])
        expect(defectOf(yield* Effect.exit(peer.take))).toContain("closed")
      }))
  })

  describe("layer", () => {
    it.scoped("a script runs in the background and the test gets the same peer", () =>
      Effect.gen(function*() {
        const transport = yield* Transport.Transport
        const peer = yield* MockAppServer.MockAppServer
        const client = yield* clientOf(transport)
        yield* transport.send(request(1, "thread/list", { limit: 5 }))
        assert.deepStrictEqual(yield* client.json, { id: 1, result: { data: ["limit=5"] } })
        assert.deepStrictEqual(methodsOf(yield* peer.history), ["Request:thread/list"])
      }).pipe(Effect.provide(MockAppServer.layer({
        script: (peer) =>
          peer.handle("thread/list", (params) => Effect.succeed({ data: [`limit=${(params as { limit: number }).limit}`] }))
      }))))

    it.scoped("a failing script makes the fake process die with exit code 101 and the failure in the stderr tail", () =>
      Effect.gen(function*() {
        const transport = yield* Transport.Transport
        const client = yield* clientOf(transport)
        assert.isTrue(yield* client.open, "the script is waiting")
        yield* transport.send(request(1, "thread/start", {}))
        const error = failureOf(yield* Effect.exit(client.ended))
        assert.instanceOf(error, ProcessExitedError)
        assert.strictEqual(error.exitCode, 101)
        assert.isNull(error.signal)
        assert.strictEqual(error.stderrTail[0], "MockAppServer: the script failed")
        expect(error.stderrTail.join("\n")).toContain("the script gave up on thread/start")
        assert.strictEqual(yield* transport.closed, error)
      }).pipe(Effect.provide(MockAppServer.layer({
        script: (peer) =>
          Effect.flatMap(peer.expectRequest("thread/start"), (r) => Effect.fail(`the script gave up on ${r.method}`))
      }))))

    it.scoped("a script that dies is reported the same way", () =>
      Effect.gen(function*() {
        const transport = yield* Transport.Transport
        const client = yield* clientOf(transport)
        const error = failureOf(yield* Effect.exit(client.ended))
        assert.instanceOf(error, ProcessExitedError)
        assert.strictEqual(error.exitCode, 101)
        expect(error.stderrTail.join("\n")).toContain("script bug")
      }).pipe(Effect.provide(MockAppServer.layer({ script: () => Effect.dieMessage("script bug") }))))
  })

  describe("maxLineBytes", () => {
    it.scoped("drops lines longer than the limit (UTF-8 bytes) and reports a LineTooLongError diagnostic", () =>
      Effect.gen(function*() {
        const { client, peer, transport } = yield* setup({ maxLineBytes: 10 })
        const diagnostics = yield* Effect.fork(Stream.runCollect(transport.diagnostics))
        yield* settle

        yield* peer.sendRaw("ééééé") // 10 bytes: delivered
        yield* peer.sendRaw("éééééé") // 6 characters, 12 bytes: dropped
        yield* peer.sendRaw("0123456789A") // 11 bytes: dropped
        yield* peer.notify("thread/started", { thread: { id: "a long one" } }) // dropped
        yield* peer.sendRaw("ok")
        assert.deepStrictEqual(yield* client.available, ["ééééé", "ok"])
        assert.isTrue(yield* client.open, "an over-long line is not fatal")

        // the diagnostics stream ends at close
        yield* peer.close
        const reported = Chunk.toReadonlyArray(yield* Fiber.join(diagnostics))
        const notifyBytes = JSON.stringify({ method: "thread/started", params: { thread: { id: "a long one" } }, emittedAtMs: 0 })
          .length
        assert.strictEqual(reported.length, 3)
        for (const diagnostic of reported) assert.instanceOf(diagnostic, LineTooLongError)
        assert.deepStrictEqual(reported.map((d) => [d.bytes, d.limit]), [[12, 10], [11, 10], [notifyBytes, 10]])

        // a subscription after close ends at once
        assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(transport.diagnostics)), [])
      }))
  })
})
