import * as Fixtures from "@effect-codex/testing/Fixtures"
import * as MockAppServer from "@effect-codex/testing/MockAppServer"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Codex from "../src/Codex.js"
import * as Transport from "../src/Transport.js"

/** Codex over an in-memory app-server whose peer the test scripts. */
const setup = Effect.gen(function*() {
  const { peer, transport } = yield* MockAppServer.make()
  const context = yield* Layer.build(Codex.layerTransport().pipe(Layer.provide(Layer.succeed(Transport.Transport, transport))))
  const codex = yield* Effect.provide(Codex.Codex, context)
  const started = yield* Effect.fork(codex.threadStart())
  yield* Fixtures.serveThreadStart(peer, "thread-1")
  return { peer, thread: yield* Fiber.join(started) }
})

describe("Thread", { timeout: 10_000 }, () => {
  it.scopedLive("run interrupted while turn/start is in flight: the answer is awaited, then the turn is interrupted on the server", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const run = yield* Effect.fork(thread.run("hello"))
      const start = yield* peer.expectRequest("turn/start")
      const interrupting = yield* Effect.fork(Fiber.interrupt(run))
      yield* peer.respond(start.id, { turn: Fixtures.turn("turn-1", "inProgress") })
      const interrupt = yield* peer.expectRequest("turn/interrupt").pipe(Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => new Error("no turn/interrupt was sent") }))
      assert.deepStrictEqual(interrupt.params, { threadId: "thread-1", turnId: "turn-1" })
      yield* peer.respond(interrupt.id, {})
      yield* peer.notify("turn/completed", { threadId: "thread-1", turn: Fixtures.turn("turn-1", "interrupted") })
      const exit = yield* Fiber.join(interrupting)
      assert.isTrue(Exit.isInterrupted(exit), `expected an interruption, got ${String(exit)}`)
      // the thread is free again
      const next = yield* Effect.fork(thread.run("again"))
      yield* Fixtures.serveTurn(peer, { turnId: "turn-2", text: "done" })
      const result = yield* Fiber.join(next)
      assert.strictEqual(result.turn.status, "completed")
    }))
})
