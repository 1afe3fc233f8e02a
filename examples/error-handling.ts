/**
 * Errors are typed values (`CodexError`): handle them with `catchTag`, classify failed turns with
 * `error.info`, retry what is retryable, and put deadlines on requests and turns.
 *
 * 1. A failed turn (the model answered HTTP 500): `TurnFailedError`, `info.retryable` → retry it.
 * 2. A failure that retrying cannot fix (context window exceeded).
 * 3. `RequestTimeoutError`: a request that gets no answer within its deadline (never retried
 *    automatically: it may have run).
 * 4. A stalled turn under a deadline: the turn is interrupted on the server, the thread stays usable.
 * 5. `retryOnOverload`: what it retries (-32001 "server overloaded") and what it does not.
 *
 * Offline the FakeModel produces each failure; with a real model the turns normally succeed.
 *
 *   npx tsx --conditions=source examples/error-handling.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Duration, Effect, Option } from "effect"
import { Codex, CodexError, retryOnOverload } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

const answer = (result: { readonly finalResponse: Option.Option<string> }) => Option.getOrElse(result.finalResponse, () => "(none)")

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  yield* backend.script(
    FakeModel.httpError(500), // 1. first attempt
    FakeModel.text("Recovered on the second attempt."), // 1. retry
    FakeModel.failed("context_length_exceeded", "Your input exceeds the context window of this model."), // 2.
    FakeModel.stall(FakeModel.text("Thinking very hard", { chunks: ["Thinking ", "very ", "hard"] })), // 4. never finishes
    FakeModel.text("Back again.") // 4. the next turn
  )
  const codex = yield* Codex.Codex
  const thread = yield* codex.threadStart()

  yield* Console.log("1. a failed turn, retried while retryable")
  let attempt = 0
  const recovered = yield* Effect.suspend(() => {
    attempt++
    return thread.run("Tell me a fun fact.")
  }).pipe(
    Effect.tapErrorTag("TurnFailedError", (error) =>
      Console.log(
        `   attempt ${attempt}: TurnFailedError "${error.message}" codexErrorInfo=${JSON.stringify(error.codexErrorInfo)} ` +
          `→ kind ${error.info.kind}, retryable ${error.info.retryable}`
      )),
    Effect.retry({ times: 2, while: (error) => error._tag === "TurnFailedError" && error.info.retryable })
  )
  yield* Console.log(`   attempt ${attempt}: ${answer(recovered)}`)

  yield* Console.log("2. a failure that a retry cannot fix")
  // (On its own thread: after this failure codex compacts the thread's history before its next turn.)
  const other = yield* codex.threadStart()
  yield* other.run("Summarize this very long text …").pipe(
    Effect.flatMap((result) => Console.log(`   succeeded: ${answer(result)}`)),
    Effect.catchTag("TurnFailedError", (error) =>
      Console.log(`   TurnFailedError: kind ${error.info.kind}, retryable ${error.info.retryable} — shorten the input or start a new thread`))
  )

  yield* Console.log("3. a request deadline")
  // `command/exec` answers when the command has finished; `sleep 30` takes longer than the deadline.
  const processId = "slow-sleep"
  yield* codex.request("command/exec", { command: ["sleep", "30"], cwd: backend.workspace, processId }, { timeout: "200 millis" }).pipe(
    Effect.flatMap(() => Console.log("   the command finished in time")),
    Effect.catchTag("RequestTimeoutError", (error) =>
      Effect.gen(function*() {
        yield* Console.log(`   RequestTimeoutError: ${error.message} (never retried automatically: it may have run)`)
        // Here it is indeed still running on the server: stop it.
        yield* codex.request("command/exec/terminate", { processId })
        yield* Console.log("   the command was still running; terminated it")
        // codex still answers the timed-out request once the command ends; the SDK logs that late
        // answer ("a response to no pending request") as a warning.
      }))
  )

  yield* Console.log("4. a stalled turn under a deadline")
  yield* thread.run("Think about this for as long as you like.").pipe(
    Effect.timeout("500 millis"),
    Effect.flatMap((result) => Console.log(`   finished in time: ${answer(result)}`)),
    Effect.catchTag("TimeoutException", () => Console.log("   no answer within 500 ms: the turn was interrupted on the server"))
  )
  const next = yield* thread.run("Are you there?")
  yield* Console.log(`   the thread is free again: ${answer(next)}`)

  yield* Console.log("5. retryOnOverload")
  // codex answers -32001 ("Server overloaded; retry later.") when its queue is full; such a request
  // was not processed. The SDK retries it by itself (CodexConfig.retry); retryOnOverload applies the
  // same policy to any effect — here one that is overloaded twice (simulated), then succeeds.
  let calls = 0
  const flaky = Effect.suspend(() => {
    calls++
    return calls <= 2
      ? Effect.fail(new CodexError.ServerBusyError({ message: "Server overloaded; retry later.", method: "thread/list" }))
      : codex.threadList({ limit: 1 })
  })
  const listed = yield* retryOnOverload(flaky, { attempts: 5, initialDelay: "20 millis" })
  yield* Console.log(`   succeeded after ${calls} calls (${listed.data.length} thread listed)`)
  // Anything else fails at once, unchanged.
  let timeouts = 0
  const timingOut = Effect.suspend(() => {
    timeouts++
    return Effect.fail(new CodexError.RequestTimeoutError({ method: "thread/list", timeout: Duration.seconds(1) }))
  })
  const outcome = yield* Effect.either(retryOnOverload(timingOut))
  yield* Console.log(`   a RequestTimeoutError is not retried: ${timeouts} call, failed with ${outcome._tag === "Left" ? outcome.left._tag : "nothing"}`)
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex()), NodeRuntime.runMain)
