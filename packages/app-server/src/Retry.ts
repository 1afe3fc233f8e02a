/**
 * Retries of `-32001` (server overloaded) answers.
 *
 * `codex app-server` answers a request with `-32001 "Server overloaded; retry later."` when its
 * ingress queue is full; such a request was not processed, so sending it again is safe. Nothing
 * else is retried here: in particular a `RequestTimeoutError` may have run on the server.
 *
 * Delays: `initialDelay * 2^n` (n = 0, 1, …), each multiplied by a random factor in
 * `[1 - jitter, 1 + jitter]`, then capped at `maxDelay`; at most `attempts - 1` retries.
 * Defaults: 3 attempts, 250 ms, 2 s cap, ±20 %.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Schedule from "effect/Schedule"
import type { RetryPolicy } from "./CodexConfig.js"
import { isServerBusyError } from "./CodexError.js"

/**
 * The default policy: 3 attempts, 250 ms first delay, 2 s cap, ±20 % jitter.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRetryPolicy: Required<RetryPolicy> = {
  attempts: 3,
  initialDelay: Duration.millis(250),
  maxDelay: Duration.seconds(2),
  jitter: 0.2
}

/**
 * The schedule for `-32001` retries. Its input is the failure; it stops at the first failure that
 * is not a `ServerBusyError`, and after `attempts - 1` retries.
 *
 * @since 0.1.0
 * @category schedules
 */
export const overloadSchedule = (policy: RetryPolicy = {}): Schedule.Schedule<number, unknown> => {
  const attempts = Math.max(1, Math.floor(policy.attempts ?? defaultRetryPolicy.attempts))
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? defaultRetryPolicy.jitter))
  const maxDelay = Duration.decode(policy.maxDelay ?? defaultRetryPolicy.maxDelay)
  return Schedule.exponential(policy.initialDelay ?? defaultRetryPolicy.initialDelay).pipe(
    Schedule.jitteredWith({ min: 1 - jitter, max: 1 + jitter }),
    Schedule.modifyDelay((_, delay) => Duration.min(delay, maxDelay)),
    Schedule.intersect(Schedule.recurs(attempts - 1)),
    Schedule.map(([, n]) => n),
    Schedule.whileInput((error: unknown) => isServerBusyError(error))
  )
}

/**
 * Options of {@link retryOnOverload}: a policy, or `false` for no retries.
 *
 * @since 0.1.0
 * @category models
 */
export type RetryOptions = RetryPolicy | false

/**
 * Runs an effect again while it fails with `ServerBusyError`, following {@link overloadSchedule}.
 * Any other failure, and the last `ServerBusyError`, is returned unchanged.
 *
 * @since 0.1.0
 * @category combinators
 */
export const retryOnOverload: {
  (options?: RetryOptions): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, options?: RetryOptions): Effect.Effect<A, E, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, options?: RetryOptions): Effect.Effect<A, E, R> =>
    options === false ? self : Effect.catchIf(self, (error): error is E => isServerBusyError(error), (error) => {
      // The retry machinery (a schedule driver per run) is only set up once a request was refused:
      // it replays that first failure to the schedule, so delays and counts are the same.
      let replayed = false
      const again = Effect.suspend((): Effect.Effect<A, E, R> => {
        if (replayed) return self
        replayed = true
        return Effect.fail(error)
      })
      return Effect.retry(again, scheduleOf(options ?? defaultPolicyKey))
    })
)

/** Schedules are immutable: build one per policy object, not one per request. */
const schedules = new WeakMap<RetryPolicy, Schedule.Schedule<number, unknown>>()
const defaultPolicyKey: RetryPolicy = {}
const scheduleOf = (policy: RetryPolicy): Schedule.Schedule<number, unknown> => {
  let schedule = schedules.get(policy)
  if (schedule === undefined) {
    schedule = overloadSchedule(policy)
    schedules.set(policy, schedule)
  }
  return schedule
}
