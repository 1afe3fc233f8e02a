import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { ProcessExitedError } from "../src/CodexError.js"
import * as Transport from "../src/Transport.js"

/** A push source as a test drives it: records pauses and runs back-pressure effects on demand. */
const source = () => {
  const log: Array<string> = []
  const forked: Array<Effect.Effect<void>> = []
  let paused = false
  const delivery = Transport.makeDelivery({
    pause: () => {
      paused = true
      log.push("pause")
    },
    resume: () => {
      paused = false
      log.push("resume")
    },
    fork: (effect) => void forked.push(effect),
    capacity: 3
  })
  return { delivery, log, forked, isPaused: () => paused }
}

const died = new ProcessExitedError({ exitCode: 1, signal: null, stderrTail: [] })

describe("Transport.makeDelivery", () => {
  it.effect("keeps the lines that arrive before the listener, pausing the source past its capacity", () =>
    Effect.gen(function*() {
      const { delivery, isPaused, log } = source()
      delivery.push(["a", "b"])
      assert.isFalse(isPaused())
      delivery.push(["c"])
      assert.isTrue(isPaused())
      const received: Array<string> = []
      yield* delivery.listen({ onLines: (lines) => void received.push(...lines), onEnd: () => {} })
      assert.deepStrictEqual(received, ["a", "b", "c"])
      assert.deepStrictEqual(log, ["pause", "resume"])
      delivery.push(["d"])
      assert.deepStrictEqual(received, ["a", "b", "c", "d"])
    }))

  it.effect("a listener's back-pressure pauses the source until its effect completes; lines meanwhile wait, in order", () =>
    Effect.gen(function*() {
      const { delivery, forked, isPaused } = source()
      const gate = yield* Deferred.make<void>()
      const received: Array<string> = []
      let first = true
      yield* delivery.listen({
        onLines: (lines) => {
          received.push(...lines)
          if (!first) return undefined
          first = false
          return Deferred.await(gate)
        },
        onEnd: () => {}
      })
      delivery.push(["a"])
      assert.isTrue(isPaused())
      delivery.push(["b"]) // a source may still deliver what it already had
      assert.deepStrictEqual(received, ["a"])
      const fiber = yield* Effect.fork(forked[0]!)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(received, ["a", "b"])
      assert.isFalse(isPaused())
    }))

  it.effect("lines pushed from inside onLines (a re-entrant write) are delivered after it returns", () =>
    Effect.gen(function*() {
      const { delivery } = source()
      const received: Array<string> = []
      yield* delivery.listen({
        onLines: (lines) => {
          for (const line of lines) {
            if (line === "request") delivery.push(["answer"])
            received.push(line)
          }
          return undefined
        },
        onEnd: () => {}
      })
      delivery.push(["request", "next"])
      assert.deepStrictEqual(received, ["request", "next", "answer"])
    }))

  it.effect("the end comes once, after the last lines, also before the listener, and at once during back-pressure", () =>
    Effect.gen(function*() {
      const early = source()
      early.delivery.push(["a"])
      early.delivery.end(died)
      const events: Array<string> = []
      yield* early.delivery.listen({ onLines: (lines) => void events.push(...lines), onEnd: (e) => void events.push(`end:${e?._tag}`) })
      early.delivery.end(undefined)
      assert.deepStrictEqual(events, ["a", "end:ProcessExitedError"])

      const waiting = source()
      const gate = yield* Deferred.make<void>()
      const log: Array<string> = []
      yield* waiting.delivery.listen({
        onLines: (lines) => {
          log.push(...lines)
          return lines[0] === "a" ? Deferred.await(gate) : undefined
        },
        onEnd: (e) => void log.push(`end:${e === undefined ? "closed" : e._tag}`)
      })
      waiting.delivery.push(["a"])
      waiting.delivery.push(["b"])
      assert.deepStrictEqual(log, ["a"])
      // the end does not wait for a listener that stopped reading: the held lines, then the end
      waiting.delivery.end(undefined)
      assert.deepStrictEqual(log, ["a", "b", "end:closed"])
      const fiber = yield* Effect.fork(waiting.forked[0]!)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(log, ["a", "b", "end:closed"])
    }))

  it.effect("a second consumer is a defect", () =>
    Effect.gen(function*() {
      const { delivery } = source()
      yield* delivery.listen({ onLines: () => undefined, onEnd: () => {} })
      const exit = yield* Effect.exit(delivery.listen({ onLines: () => undefined, onEnd: () => {} }))
      assert.isTrue(Exit.isFailure(exit) && !Exit.isInterrupted(exit))
    }))

  it.effect("incoming: every run reads the same lines in order, then fails with the reason", () =>
    Effect.gen(function*() {
      const { delivery } = source()
      delivery.push(["a", "b", "c"])
      const first = yield* delivery.incoming.pipe(Stream.take(2), Stream.runCollect)
      assert.deepStrictEqual(Chunk.toReadonlyArray(first), ["a", "b"])
      delivery.push(["d"])
      delivery.end(died)
      const rest: Array<string> = []
      const end = yield* delivery.incoming.pipe(Stream.runForEach((line) => Effect.sync(() => rest.push(line))), Effect.either)
      assert.deepStrictEqual(rest, ["c", "d"])
      assert.isTrue(end._tag === "Left" && end.left === died)
      // a clean end (closed by the owner) ends the stream
      const again = source()
      again.delivery.push(["x"])
      again.delivery.end(undefined)
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(again.delivery.incoming)), ["x"])
    }))
})
