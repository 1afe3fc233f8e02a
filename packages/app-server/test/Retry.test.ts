import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Random from "effect/Random"
import * as TestClock from "effect/TestClock"
import { CodexError, retryOnOverload } from "../src/index.js"
import * as Retry from "../src/Retry.js"

const busy = new CodexError.ServerBusyError({ message: "Server overloaded; retry later.", method: "model/list" })

/** An effect that records the (test clock) time of every attempt and answers from `outcomes`. */
const scripted = <E>(outcomes: ReadonlyArray<E | "ok">) => {
  const times: Array<number> = []
  const effect = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    times.push(now)
    const outcome = outcomes[Math.min(times.length - 1, outcomes.length - 1)]
    if (outcome === "ok") return `ok after ${times.length}`
    return yield* Effect.fail(outcome as E)
  })
  return { effect, times }
}

describe("Retry", () => {
  it.effect("retries ServerBusyError with the default policy: 3 attempts, 250 ms then 500 ms", () =>
    Effect.gen(function*() {
      const { effect, times } = scripted([busy])
      const fiber = yield* retryOnOverload(effect).pipe(Effect.withRandom(Random.fixed([0.5])), Effect.fork)
      yield* TestClock.adjust("249 millis")
      assert.deepStrictEqual(times, [0])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(times, [0, 250])
      yield* TestClock.adjust("499 millis")
      assert.deepStrictEqual(times, [0, 250])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(times, [0, 250, 750])
      const exit = yield* Fiber.await(fiber)
      assert.deepStrictEqual(exit, Exit.fail(busy))
      // no fourth attempt, however long we wait
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(times.length, 3)
    }))

  it.effect("applies the jitter bounds (±20%): factors 0.8 then 1.2", () =>
    Effect.gen(function*() {
      const { effect, times } = scripted([busy])
      // Random.next = 0 -> min factor, 1 -> max factor
      const fiber = yield* retryOnOverload(effect).pipe(Effect.withRandom(Random.fixed([0, 1])), Effect.fork)
      yield* TestClock.adjust("199 millis")
      assert.deepStrictEqual(times, [0])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(times, [0, 200])
      yield* TestClock.adjust("599 millis")
      assert.deepStrictEqual(times, [0, 200])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(times, [0, 200, 800])
      assert.deepStrictEqual(yield* Fiber.await(fiber), Exit.fail(busy))
    }))

  it.effect("caps every delay at maxDelay, after the jitter", () =>
    Effect.gen(function*() {
      const { effect, times } = scripted([busy])
      const policy = { attempts: 5, initialDelay: Duration.seconds(1), maxDelay: Duration.seconds(2), jitter: 0.2 }
      const fiber = yield* retryOnOverload(effect, policy).pipe(Effect.withRandom(Random.fixed([1])), Effect.fork)
      yield* TestClock.adjust("10 seconds")
      // 1 s * 1.2, then 2.4 s / 4.8 s / 9.6 s capped at 2 s
      assert.deepStrictEqual(times, [0, 1200, 3200, 5200, 7200])
      assert.deepStrictEqual(yield* Fiber.await(fiber), Exit.fail(busy))
    }))

  it.effect("succeeds after one busy answer", () =>
    Effect.gen(function*() {
      const { effect, times } = scripted([busy, "ok"])
      const fiber = yield* effect.pipe(retryOnOverload(), Effect.withRandom(Random.fixed([0.5])), Effect.fork)
      yield* TestClock.adjust("250 millis")
      assert.strictEqual(yield* Fiber.join(fiber), "ok after 2")
      assert.deepStrictEqual(times, [0, 250])
    }))

  it.effect("never retries a RequestTimeoutError", () =>
    Effect.gen(function*() {
      const timeout = new CodexError.RequestTimeoutError({ method: "thread/start", timeout: Duration.seconds(5) })
      const { effect, times } = scripted([timeout, "ok"])
      const fiber = yield* retryOnOverload(effect).pipe(Effect.fork)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* Fiber.await(fiber), Exit.fail(timeout))
      assert.deepStrictEqual(times, [0])
    }))

  it.effect("never retries an InvalidRequestError, even after a busy answer", () =>
    Effect.gen(function*() {
      const invalid = CodexError.fromJsonRpcError({ code: -32600, message: "Not initialized" }, "thread/start")
      const { effect, times } = scripted<CodexError.JsonRpcError>([busy, invalid, "ok"])
      const fiber = yield* retryOnOverload(effect).pipe(Effect.withRandom(Random.fixed([0.5])), Effect.fork)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* Fiber.await(fiber), Exit.fail(invalid))
      assert.deepStrictEqual(times, [0, 250])
    }))

  it.effect("retries nothing with `false`, and once per extra attempt", () =>
    Effect.gen(function*() {
      const off = scripted([busy, "ok"])
      const offFiber = yield* retryOnOverload(off.effect, false).pipe(Effect.fork)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* Fiber.await(offFiber), Exit.fail(busy))
      assert.deepStrictEqual(off.times, [0])

      const two = scripted([busy])
      const twoFiber = yield* retryOnOverload(two.effect, { attempts: 2, initialDelay: "100 millis" }).pipe(
        Effect.withRandom(Random.fixed([0.5])),
        Effect.fork
      )
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* Fiber.await(twoFiber), Exit.fail(busy))
      assert.deepStrictEqual(two.times, [60_000, 60_100])
    }))

  it.effect("overloadSchedule can be used directly with Effect.retry", () =>
    Effect.gen(function*() {
      const { effect, times } = scripted([busy, busy, busy, "ok"])
      const fiber = yield* effect.pipe(
        Effect.retry(Retry.overloadSchedule({ attempts: 4, jitter: 0 })),
        Effect.withRandom(Random.fixed([0.9])),
        Effect.fork
      )
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(yield* Fiber.join(fiber), "ok after 4")
      assert.deepStrictEqual(times, [0, 250, 750, 1750])
    }))
})
