/**
 * Steering and interrupting a running turn.
 *
 * 1. `turn.steer(input)`: add input while the agent is answering; the turn goes on with it.
 * 2. `turn.interrupt`: stop the turn; it completes with status "interrupted".
 * 3. Interrupting the fiber that consumes a turn interrupts the turn on the server too.
 *
 * Offline, the FakeModel holds its answer open ("stalls") after the first words, so there is
 * always a running turn to steer or interrupt.
 *
 *   npx tsx --conditions=source examples/steer-and-interrupt.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Deferred, Effect, Fiber, Option, Stream } from "effect"
import { Codex, type Turn } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

/**
 * Consumes a turn on a fiber, printing its text. `started` completes at the first text delta;
 * `done` gives the status of the turn.
 */
const watch = (label: string, turn: Turn.TurnHandle) =>
  Effect.gen(function*() {
    const firstDelta = yield* Deferred.make<void>()
    let status = "(no turn/completed)"
    const fiber = yield* turn.stream.pipe(
      Stream.runForEach((event) => {
        switch (event.method) {
          case "item/agentMessage/delta":
            return Effect.zipRight(Console.log(`   ${label} text: ${JSON.stringify(event.params.delta)}`), Deferred.succeed(firstDelta, undefined))
          case "turn/completed":
            status = event.params.turn.status
            return Effect.void
          default:
            return Effect.void
        }
      }),
      Effect.fork
    )
    return { started: Deferred.await(firstDelta), done: Effect.map(Fiber.join(fiber), () => status), fiber }
  })

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  yield* backend.script(
    FakeModel.stall(FakeModel.text("Counting: one, two", { chunks: ["Counting: ", "one, ", "two"] })), // 1. held open
    FakeModel.text("…three. And in French: un, deux, trois."), // 1. after the steer
    FakeModel.stall(FakeModel.text("Here is a long essay", { chunks: ["Here is ", "a long essay"] })), // 2.
    FakeModel.stall(FakeModel.text("Another long answer", { chunks: ["Another ", "long answer"] })), // 3.
    FakeModel.text("Short answer.") // 3. the next turn
  )
  const codex = yield* Codex.Codex
  const thread = yield* codex.threadStart()

  yield* Console.log("1. steer")
  const counting = yield* thread.turn("Count to three, slowly.")
  const watched = yield* watch("turn 1", counting)
  yield* watched.started
  yield* counting.steer("Also say it in French.").pipe(
    Effect.zipRight(Console.log("   steered: \"Also say it in French.\"")),
    Effect.catchAll((error) => Console.log(`   could not steer (the turn had already ended?): ${error.message}`))
  )
  yield* Console.log(`   turn 1 ${yield* watched.done}`)
  const requests = yield* backend.requests
  if (requests.length >= 2) yield* Console.log(`   the model's next request ends with: ${JSON.stringify(FakeModel.lastUserText(requests[1]!))}`)

  yield* Console.log("2. interrupt")
  const essay = yield* thread.turn("Write a long essay about fibers.")
  const watchedEssay = yield* watch("turn 2", essay)
  yield* watchedEssay.started
  yield* essay.interrupt
  yield* Console.log(`   turn 2 ${yield* watchedEssay.done}`)

  yield* Console.log("3. interrupt the consuming fiber")
  const observer = yield* codex.connection.subscribe // to see the server's side
  const long = yield* thread.turn("Another long answer, please.")
  const watchedLong = yield* watch("turn 3", long)
  yield* watchedLong.started
  yield* Fiber.interrupt(watchedLong.fiber)
  const completion = yield* observer.pipe(
    Stream.filter((n) => n.method === "turn/completed" && n.params.turn.id === long.id),
    Stream.runHead
  )
  const status = Option.match(completion, {
    onNone: () => "?",
    onSome: (n) => (n.method === "turn/completed" ? n.params.turn.status : "?")
  })
  yield* Console.log(`   the server reports turn 3 ${status}`)
  const next = yield* thread.run("Give me a short answer.")
  yield* Console.log(`   the thread is free again: ${Option.getOrElse(next.finalResponse, () => "(none)")}`)
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex()), NodeRuntime.runMain)
