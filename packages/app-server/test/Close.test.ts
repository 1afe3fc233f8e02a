import * as Fixtures from "@effect-codex/testing/Fixtures"
import * as MockAppServer from "@effect-codex/testing/MockAppServer"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Codex from "../src/Codex.js"
import type { Notification } from "../src/RpcConnection.js"
import * as Transport from "../src/Transport.js"
import * as Turn from "../src/Turn.js"

// Closing a scope that holds running turns, over the in-memory app-server, under the TestClock:
// nothing here sleeps, so a close that waits for something that never comes hangs (the test's
// timeout reports it).

/** Codex over a mock app-server, built into `scope`. */
const codexIn = (scope: Scope.Scope) =>
  Effect.gen(function*() {
    const { peer, transport } = yield* MockAppServer.make()
    const context = yield* Layer.buildWithScope(
      Codex.layerTransport().pipe(Layer.provide(Layer.succeed(Transport.Transport, transport))),
      scope
    )
    return { peer, codex: yield* Effect.provide(Codex.Codex, context) }
  })

const threadNamed = (peer: MockAppServer.Peer, codex: Codex.Codex.Service, threadId: string, scope: Scope.Scope) =>
  Effect.gen(function*() {
    const started = yield* Effect.fork(Scope.extend(codex.threadStart(), scope))
    yield* Fixtures.serveThreadStart(peer, threadId)
    return yield* Fiber.join(started)
  })

/** The peer's side of a `turn/start` that keeps running: the answer, `turn/started`, one delta. */
const serveRunningTurn = (peer: MockAppServer.Peer, threadId: string, turnId: string) =>
  Effect.gen(function*() {
    const request = yield* peer.expectRequest("turn/start")
    yield* peer.respond(request.id, { turn: Fixtures.turn(turnId, "inProgress") })
    yield* peer.notify("turn/started", { threadId, turn: Fixtures.turn(turnId, "inProgress") })
    yield* peer.notify("item/agentMessage/delta", { threadId, turnId, itemId: `${turnId}-msg`, delta: "partial" })
  })

/** What the server does on `turn/interrupt`: `{}`, then `turn/completed` with status interrupted. */
const interruptTurn = (peer: MockAppServer.Peer, request: MockAppServer.ClientRequest) => {
  const { threadId, turnId } = request.params as { threadId: string; turnId: string }
  return Effect.zipRight(
    peer.respond(request.id, {}),
    peer.notify("turn/completed", { threadId, turn: Fixtures.turn(turnId, "interrupted") })
  )
}

/** Consumes a turn's stream; `started` completes with its first event. */
const consume = (stream: Stream.Stream<Notification, unknown>, started: Deferred.Deferred<void>) =>
  stream.pipe(
    Stream.tap(() => Deferred.succeed(started, undefined)),
    Stream.runCollect,
    Effect.map((events) => Chunk.toReadonlyArray(events).map((e) => e.method))
  )

describe("Close", { timeout: 10_000 }, () => {
  it.scoped("a turn streamed on a fiber forked into the closing scope: its finalizer sees the completion its consumer took", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* codexIn(yield* Effect.scope)
      const scope = yield* Scope.make()
      const thread = yield* threadNamed(peer, codex, "thread-1", scope)
      const started = yield* Deferred.make<void>()
      // The turn belongs to `scope`, after the fiber's own finalizer: closing runs the turn's
      // finalizer first, while the consumer still reads the turn's events.
      const consumer = yield* Effect.forkIn(Effect.flatMap(thread.turn("go"), (turn) => consume(turn.stream, started)), scope).pipe(
        Scope.extend(scope)
      )
      yield* serveRunningTurn(peer, "thread-1", "turn-1")
      yield* Deferred.await(started)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      const interrupt = yield* peer.expectRequest("turn/interrupt")
      assert.deepStrictEqual(interrupt.params, { threadId: "thread-1", turnId: "turn-1" })
      // the consumer takes the completion (its stream ends with it) before the finalizer waits for it
      yield* peer.notify("turn/completed", { threadId: "thread-1", turn: Fixtures.turn("turn-1", "interrupted") })
      assert.strictEqual((yield* Fiber.join(consumer)).at(-1), "turn/completed")
      yield* peer.respond(interrupt.id, {})
      // without moving the clock: the close is not waiting for a timeout
      yield* Fiber.join(closing)
    }))

  it.scoped("an unanswered turn/interrupt holds the close only for Turn.abortTimeout", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* codexIn(yield* Effect.scope)
      const scope = yield* Scope.make()
      const thread = yield* threadNamed(peer, codex, "thread-1", scope)
      const starting = yield* Effect.fork(Scope.extend(thread.turn("go"), scope))
      yield* serveRunningTurn(peer, "thread-1", "turn-1")
      yield* Fiber.join(starting)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* peer.expectRequest("turn/interrupt") // never answered
      yield* awaitSleepWithin(Turn.abortTimeout)
      yield* TestClock.adjust(Turn.abortTimeout)
      yield* Fiber.join(closing)
    }))

  it.scoped("closing Codex interrupts every running turn at once and fails the pending requests", () =>
    Effect.gen(function*() {
      const layerScope = yield* Scope.make()
      const { codex, peer } = yield* codexIn(layerScope)
      const n = 5
      const ids = Array.from({ length: n }, (_, i) => i + 1)
      // threads and turns in the test's scope, which outlives the Codex service
      const consumers = yield* Effect.forEach(ids, (i) =>
        Effect.gen(function*() {
          const thread = yield* threadNamed(peer, codex, `thread-${i}`, yield* Effect.scope)
          const starting = yield* Effect.fork(thread.turn("go"))
          yield* serveRunningTurn(peer, `thread-${i}`, `turn-${i}`)
          const turn = yield* Fiber.join(starting)
          return yield* Effect.fork(consume(turn.stream, yield* Deferred.make<void>()))
        }))
      const pending = yield* Effect.fork(codex.threadRead("thread-1")) // never answered
      yield* peer.expectRequest("thread/read")
      const closing = yield* Effect.fork(Scope.close(layerScope, Exit.void))
      // all the interrupts are out before any of them is answered
      const interrupts = yield* Effect.forEach(ids, () => peer.expectRequest("turn/interrupt"))
      assert.deepStrictEqual(
        interrupts.map((r) => (r.params as { turnId: string }).turnId).sort(),
        ids.map((i) => `turn-${i}`)
      )
      yield* Effect.forEach(interrupts, (request) => interruptTurn(peer, request), { discard: true })
      yield* Fiber.join(closing)
      for (const consumer of consumers) assert.strictEqual((yield* Fiber.join(consumer)).at(-1), "turn/completed")
      const failed = yield* Fiber.await(pending)
      assert.isTrue(Exit.isFailure(failed), `the pending request should fail, got ${String(failed)}`)
      if (Exit.isFailure(failed)) assert.include(String(failed.cause), "TransportClosedError")
    }))
})

/** Waits (yielding, without moving the clock) until a sleep due within `duration` is scheduled. */
const awaitSleepWithin = (duration: Duration.DurationInput) =>
  Effect.gen(function*() {
    const due = (yield* TestClock.currentTimeMillis) + Duration.toMillis(duration)
    while (!Chunk.some(yield* TestClock.sleeps(), (at) => at <= due)) yield* Effect.yieldNow()
  })
