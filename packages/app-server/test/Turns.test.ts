import * as Fixtures from "@effect-codex/testing/Fixtures"
import * as MockAppServer from "@effect-codex/testing/MockAppServer"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as CodexError from "../src/CodexError.js"
import * as Codex from "../src/Codex.js"
import type { CodexConfig } from "../src/CodexConfig.js"
import type { Notification } from "../src/RpcConnection.js"
import * as Transport from "../src/Transport.js"
import * as Turn from "../src/Turn.js"

/** Codex over an in-memory app-server whose peer the test scripts, with a started thread. */
const setup = (config: CodexConfig = {}) =>
  Effect.gen(function*() {
    const { peer, transport } = yield* MockAppServer.make()
    const context = yield* Layer.build(Codex.layerTransport(config).pipe(Layer.provide(Layer.succeed(Transport.Transport, transport))))
    const codex = yield* Effect.provide(Codex.Codex, context)
    const started = yield* Effect.fork(codex.threadStart())
    yield* Fixtures.serveThreadStart(peer, "thread-1")
    return { peer, codex, thread: yield* Fiber.join(started) }
  })

/** Answers a `turn/start` with the given turn id and announces the turn; returns the request. */
const startTurn = (peer: MockAppServer.Peer, turnId: string) =>
  Effect.gen(function*() {
    const request = yield* peer.expectRequest("turn/start")
    yield* peer.respond(request.id, { turn: Fixtures.turn(turnId, "inProgress") })
    yield* peer.notify("turn/started", { threadId: "thread-1", turn: Fixtures.turn(turnId, "inProgress") })
    return request
  })

const completeTurn = (peer: MockAppServer.Peer, turnId: string, status: "completed" | "interrupted" = "completed") =>
  peer.notify("turn/completed", { threadId: "thread-1", turn: Fixtures.turn(turnId, status) })

/** The next message the client sends, which must be a request (the method is returned). */
const nextRequestMethod = (peer: MockAppServer.Peer) =>
  Effect.map(peer.take, (message) => (message._tag === "Request" ? message.method : `(${message._tag})`))

/** Lets the client's fibers run until they wait. */
const settle = Effect.repeatN(Effect.yieldNow(), 50)

// Turns on an in-memory app-server (MockAppServer) and the pure parts of a turn's result.

const tokens = (input: number, output: number): Turn.Tokens => ({
  inputTokens: input,
  cachedInputTokens: 0,
  cacheWriteInputTokens: 0,
  outputTokens: output,
  reasoningOutputTokens: 0,
  totalTokens: input + output
})

const report = (total: Turn.Tokens, last: Turn.Tokens): Notification =>
  ({
    method: "thread/tokenUsage/updated",
    params: { threadId: "thread-1", turnId: "turn-1", tokenUsage: { total, last, modelContextWindow: null } }
  }) as Notification

const turnOf = (collector: Turn.Collector) => Option.getOrThrow(collector.usage).turn.totalTokens

describe("Collector usage", () => {
  it("the turn's usage is the difference of total between its start and its end", () => {
    const collector = new Turn.Collector("thread-1", "turn-1", { baseline: tokens(100, 10) })
    collector.add(report(tokens(150, 15), tokens(50, 5)))
    collector.add(report(tokens(230, 25), tokens(80, 10)))
    assert.deepStrictEqual(Option.getOrThrow(collector.usage).turn, tokens(130, 15))
  })

  it("a first report that repeats the known total counts nothing", () => {
    const collector = new Turn.Collector("thread-1", "turn-1", { baseline: tokens(100, 10) })
    collector.add(report(tokens(100, 10), tokens(40, 4)))
    assert.strictEqual(turnOf(collector), 0)
    collector.add(report(tokens(150, 15), tokens(50, 5)))
    assert.strictEqual(turnOf(collector), 55)
  })

  it("without a known total, the first report's own call is the start (total - last)", () => {
    const collector = new Turn.Collector("thread-1", "turn-1")
    collector.add(report(tokens(150, 15), tokens(50, 5)))
    assert.strictEqual(turnOf(collector), 55)
  })

  it("a stale known total (turns not seen) gives way to the first report", () => {
    const collector = new Turn.Collector("thread-1", "turn-1", { baseline: tokens(10, 1) })
    collector.add(report(tokens(150, 15), tokens(50, 5)))
    assert.strictEqual(turnOf(collector), 55)
  })

  it("the tracker follows every report; no report, no usage", () => {
    const tracker: Turn.UsageTracker = { total: undefined }
    const collector = new Turn.Collector("thread-1", "turn-1", { tracker })
    assert.isTrue(Option.isNone(collector.usage))
    collector.add(report(tokens(150, 15), tokens(50, 5)))
    assert.deepStrictEqual(tracker.total, tokens(150, 15))
  })
})

describe("one turn per thread", () => {
  it.scoped("a second run, turn or compact fails fast with TurnBusyError while a turn runs", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup()
      const first = yield* Effect.fork(thread.run("first"))
      yield* startTurn(peer, "turn-1")
      const run = yield* Effect.either(thread.run("second"))
      const turn = yield* Effect.either(thread.turn("third"))
      const compact = yield* Effect.either(thread.compact)
      assert.strictEqual(Either.isLeft(run) && run.left._tag, "TurnBusyError")
      assert.strictEqual(Either.isLeft(turn) && turn.left._tag, "TurnBusyError")
      assert.strictEqual(Either.isLeft(compact) && compact.left._tag, "TurnBusyError")
      yield* completeTurn(peer, "turn-1")
      assert.strictEqual((yield* Fiber.join(first)).turn.status, "completed")
      // nothing else was sent meanwhile
      yield* thread.setName("marker").pipe(Effect.fork)
      assert.strictEqual(yield* nextRequestMethod(peer), "thread/name/set")
    }))

  it.scoped("run with { queue: true } waits for the running turn, then starts", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup()
      const first = yield* Effect.fork(thread.run("first"))
      yield* startTurn(peer, "turn-1")
      const second = yield* Effect.fork(thread.run("second", { queue: true }))
      yield* settle
      assert.isTrue(Option.isNone(yield* peer.poll), "the queued turn was started before the first one ended")
      yield* completeTurn(peer, "turn-1")
      const request = yield* startTurn(peer, "turn-2")
      assert.deepStrictEqual((request.params as { input: unknown }).input, [{ type: "text", text: "second", text_elements: [] }])
      assert.notProperty(request.params as object, "queue")
      yield* completeTurn(peer, "turn-2")
      assert.strictEqual((yield* Fiber.join(first)).turn.id, "turn-1")
      assert.strictEqual((yield* Fiber.join(second)).turn.id, "turn-2")
    }))

  it.scoped("a queued turn whose caller is interrupted while waiting never starts", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup()
      const first = yield* Effect.fork(thread.run("first"))
      yield* startTurn(peer, "turn-1")
      const queuedRun = yield* Effect.fork(thread.run("queued run", { queue: true }))
      const queuedTurn = yield* Effect.fork(Effect.scoped(thread.turn("queued turn", { queue: true })))
      yield* settle
      assert.isTrue(Exit.isInterrupted(yield* Fiber.interrupt(queuedRun)))
      assert.isTrue(Exit.isInterrupted(yield* Fiber.interrupt(queuedTurn)))
      yield* completeTurn(peer, "turn-1")
      yield* Fiber.join(first)
      yield* settle
      yield* thread.setName("marker").pipe(Effect.fork)
      assert.strictEqual(yield* nextRequestMethod(peer), "thread/name/set")
      // and the thread is free
      const next = yield* Effect.fork(thread.run("next"))
      yield* Fixtures.serveTurn(peer, { turnId: "turn-2", text: "ok" })
      assert.strictEqual((yield* Fiber.join(next)).turn.id, "turn-2")
    }))

  it.scoped("turn with { queue: true } waits for a streamed turn; right after a stream ends the thread is free", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup()
      const handle = yield* Effect.fork(thread.turn("first"))
      yield* startTurn(peer, "turn-1")
      const first = yield* Fiber.join(handle)
      const queued = yield* Effect.fork(Effect.flatMap(thread.turn("second", { queue: true }), (turn) => turn.run))
      yield* settle
      assert.isTrue(Option.isNone(yield* peer.poll))
      const drained = yield* Effect.fork(Stream.runDrain(first.stream))
      yield* completeTurn(peer, "turn-1")
      yield* Fiber.join(drained)
      yield* startTurn(peer, "turn-2")
      yield* completeTurn(peer, "turn-2")
      assert.strictEqual((yield* Fiber.join(queued)).turn.id, "turn-2")
      // a fail-fast turn straight after a consumed stream (same fiber) is not refused
      const thirdThenFourth = yield* Effect.fork(Effect.gen(function*() {
        const third = yield* thread.turn("third")
        yield* Stream.runDrain(third.stream)
        return yield* thread.run("fourth")
      }))
      yield* startTurn(peer, "turn-3")
      yield* completeTurn(peer, "turn-3")
      yield* Fixtures.serveTurn(peer, { turnId: "turn-4" })
      assert.strictEqual((yield* Fiber.join(thirdThenFourth)).turn.id, "turn-4")
    }))
})

describe("idle timeout", () => {
  const delta = (turnId: string, text: string) =>
    ({ threadId: "thread-1", turnId, itemId: `${turnId}-msg`, delta: text })

  /** After a stall: expects the `turn/interrupt` of the turn, answers it and ends the turn as interrupted. */
  const serveInterrupt = (peer: MockAppServer.Peer, turnId: string) =>
    Effect.gen(function*() {
      const interrupt = yield* peer.expectRequest("turn/interrupt")
      assert.deepStrictEqual(interrupt.params, { threadId: "thread-1", turnId })
      yield* peer.respond(interrupt.id, {})
      yield* completeTurn(peer, turnId, "interrupted")
    })

  /** Whether the client sent anything (after letting its fibers run). */
  const quiet = (peer: MockAppServer.Peer) => Effect.zipRight(settle, Effect.map(peer.poll, Option.isNone))

  it.scoped("a turn with no event at all: interrupted after exactly idleTimeout, run fails with TurnStalledError", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup()
      const run = yield* Effect.fork(thread.run("hello", { idleTimeout: "5 seconds" }))
      const request = yield* peer.expectRequest("turn/start")
      assert.notProperty(request.params as object, "idleTimeout")
      yield* peer.respond(request.id, { turn: Fixtures.turn("turn-1", "inProgress") })
      yield* settle
      yield* TestClock.adjust("4999 millis")
      assert.isTrue(yield* quiet(peer), "interrupted too early")
      yield* TestClock.adjust("1 millis")
      yield* serveInterrupt(peer, "turn-1")
      const error = yield* Effect.flip(Fiber.join(run))
      assert.instanceOf(error, CodexError.TurnStalledError)
      const stalled = error as CodexError.TurnStalledError
      assert.deepStrictEqual(
        [stalled.threadId, stalled.turnId, stalled.lastEvent, stalled.lastEventAt],
        ["thread-1", "turn-1", null, 0]
      )
      assert.include(stalled.message, "5s")
      // the thread is free again
      const next = yield* Effect.fork(thread.run("again"))
      yield* Fixtures.serveTurn(peer, { turnId: "turn-2", text: "ok" })
      assert.strictEqual((yield* Fiber.join(next)).turn.status, "completed")
    }))

  it.scoped("a streamed turn that stalls after some deltas: the last event and its time are reported", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup({ turnIdleTimeout: "5 seconds" })
      const handle = yield* Effect.fork(thread.turn("hello"))
      yield* startTurn(peer, "turn-1")
      const turn = yield* Fiber.join(handle)
      const consumer = yield* Effect.fork(Stream.runCollect(turn.stream))
      yield* peer.notify("item/agentMessage/delta", delta("turn-1", "Hel"))
      yield* settle
      yield* TestClock.adjust("3 seconds")
      yield* peer.notify("item/agentMessage/delta", delta("turn-1", "lo"))
      yield* settle
      yield* TestClock.adjust("4900 millis")
      assert.isTrue(yield* quiet(peer), "interrupted too early")
      yield* TestClock.adjust("100 millis")
      yield* serveInterrupt(peer, "turn-1")
      const error = (yield* Effect.flip(Fiber.join(consumer))) as CodexError.TurnStalledError
      assert.strictEqual(error._tag, "TurnStalledError")
      assert.deepStrictEqual([error.lastEvent, error.lastEventAt], ["item/agentMessage/delta", 3000])
    }))

  it.scoped("a turn that keeps producing events is not stopped, however long it runs", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup({ turnIdleTimeout: "5 seconds" })
      const run = yield* Effect.fork(thread.run("long"))
      yield* startTurn(peer, "turn-1")
      for (let i = 0; i < 12; i++) {
        yield* TestClock.adjust("4 seconds")
        yield* peer.notify("item/agentMessage/delta", delta("turn-1", `${i} `))
        yield* settle
      }
      assert.isTrue(yield* quiet(peer), "a live turn was interrupted")
      yield* completeTurn(peer, "turn-1")
      assert.strictEqual((yield* Fiber.join(run)).turn.status, "completed")
      // a turn's own idleTimeout overrides the config's, and infinity turns it off
      const off = yield* Effect.fork(thread.run("off", { idleTimeout: Duration.infinity }))
      yield* startTurn(peer, "turn-2")
      yield* TestClock.adjust("1 hour")
      assert.isTrue(yield* quiet(peer), "idleTimeout: Infinity still interrupted")
      yield* completeTurn(peer, "turn-2")
      assert.strictEqual((yield* Fiber.join(off)).turn.status, "completed")
    }))

  it.scoped("without an idle timeout nothing is ever interrupted", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup()
      const run = yield* Effect.fork(thread.run("slow"))
      yield* startTurn(peer, "turn-1")
      yield* TestClock.adjust("1 hour")
      assert.isTrue(yield* quiet(peer))
      yield* completeTurn(peer, "turn-1")
      assert.strictEqual((yield* Fiber.join(run)).turn.status, "completed")
    }))

  it.scoped("a compaction whose turn/completed never comes is interrupted and fails with TurnStalledError", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup({ turnIdleTimeout: "5 seconds" })
      const compact = yield* Effect.fork(thread.compact)
      const request = yield* peer.expectRequest("thread/compact/start")
      yield* peer.respond(request.id, {})
      yield* peer.notify("turn/started", { threadId: "thread-1", turn: Fixtures.turn("compaction-1", "inProgress") })
      yield* peer.notify("item/started", {
        threadId: "thread-1",
        turnId: "compaction-1",
        startedAtMs: 0,
        item: { type: "contextCompaction", id: "c-1" }
      })
      yield* settle
      yield* TestClock.adjust("5 seconds")
      yield* serveInterrupt(peer, "compaction-1")
      const error = (yield* Effect.flip(Fiber.join(compact))) as CodexError.TurnStalledError
      assert.strictEqual(error._tag, "TurnStalledError")
      assert.deepStrictEqual([error.turnId, error.lastEvent], ["compaction-1", "item/started"])
    }))
})
