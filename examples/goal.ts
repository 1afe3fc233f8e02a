/**
 * Goals: an objective the server pursues over as many turns as it takes, followed as one run.
 *
 * 1. `thread.goal(objective)`: the server starts every turn itself (continuations) until the model
 *    reports the goal complete; `handle.stream` shows each turn and the goal's updates,
 *    `handle.run` sums them up. Meanwhile the thread is the goal's (`GoalActiveError`).
 * 2. `thread.runGoal(objective, { tokenBudget })`: the goal ends as `budgetLimited`.
 * 3. `pause` lets the running turn finish and stops the goal; `resume` continues it.
 * 4. Interrupting the fiber that follows a goal pauses it and interrupts its running turn.
 *
 * Offline, the FakeModel plays the model: text turns, then an `update_goal {"status":"complete"}`
 * call; it holds a turn open ("stalls") where a running turn is needed.
 *
 *   npx tsx --conditions=source examples/goal.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Deferred, Effect, Either, Fiber, Option, Stream } from "effect"
import { Codex, type Goal } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

const answer = (result: { readonly finalResponse: Option.Option<string> }) => Option.getOrElse(result.finalResponse, () => "(no answer)")

const summary = (result: Goal.GoalResult) =>
  `${result.goal.status} after ${result.turns.length} turn(s), ${result.usage.totalTokens} tokens (the server counted ${result.goal.tokensUsed})`

/** Prints a goal's events as they come: each turn's start and answer, each update of the goal. */
const printEvents = (handle: Goal.GoalHandle, onTurnStarted: Effect.Effect<void> = Effect.void, turnsBefore = 0) => {
  let turns = turnsBefore
  return handle.stream.pipe(
    Stream.runForEach((event) => {
      switch (event.method) {
        case "turn/started":
          turns++
          return Effect.zipRight(Console.log(`   turn ${turns} started by the server`), onTurnStarted)
        case "item/completed":
          return event.params.item.type === "agentMessage" ? Console.log(`   turn ${turns}: ${event.params.item.text}`) : Effect.void
        case "thread/goal/updated":
          return Console.log(`   goal ${event.params.goal.status}, ${event.params.goal.tokensUsed} tokens used`)
        default:
          return Effect.void
      }
    })
  )
}

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  const codex = yield* Codex.Codex

  yield* Console.log("1. a goal of three turns")
  yield* backend.script(
    FakeModel.text("Listed the files: a.txt, b.txt."),
    FakeModel.text("Counted the lines: 3 and 5."),
    FakeModel.goalComplete(),
    FakeModel.text("Goal complete: 2 files, 8 lines in all.")
  )
  const thread = yield* codex.threadStart()
  const result = yield* Effect.scoped(
    Effect.gen(function*() {
      const handle = yield* thread.goal("Count the lines of every file here, then report the total.")
      const busy = yield* Effect.either(thread.run("Something else?"))
      if (Either.isLeft(busy)) yield* Console.log(`   a turn of mine meanwhile: ${busy.left._tag}`)
      yield* printEvents(handle)
      return yield* handle.run
    })
  )
  yield* Console.log(`   ${summary(result)}; final answer: ${answer(result)}`)

  yield* Console.log("2. a token budget")
  yield* backend.script(...Array.from({ length: 3 }, (_, i) => FakeModel.text(`Still working (${i + 1}).`)))
  const limited = yield* thread.runGoal("Write the longest poem you can.", { tokenBudget: 40 })
  yield* Console.log(`   ${summary(limited)} of a budget of ${limited.goal.tokenBudget}`)

  yield* Console.log("3. pause and resume")
  yield* backend.script(
    FakeModel.text("Part one drafted."),
    FakeModel.stall(FakeModel.text("Part two drafted.")),
    FakeModel.goalComplete(),
    FakeModel.text("All parts drafted.")
  )
  const before = (yield* backend.requests).length
  yield* Effect.scoped(
    Effect.gen(function*() {
      const handle = yield* thread.goal("Draft a report in three parts.")
      const secondTurn = yield* Deferred.make<void>()
      let started = 0
      const following = yield* Effect.fork(
        printEvents(handle, Effect.suspend(() => (++started === 2 ? Deferred.succeed(secondTurn, undefined) : Effect.void)))
      )
      yield* Deferred.await(secondTurn)
      yield* Console.log(`   pausing: ${(yield* handle.pause).status} (the running turn finishes)`)
      if (backend.fake !== undefined) {
        yield* backend.fake.awaitRequests(before + 2) // the second turn's model call is held open
        yield* backend.fake.releaseStalls
      }
      yield* Fiber.join(following)
      const paused = yield* handle.run
      yield* Console.log(`   ${summary(paused)}`)
      yield* Console.log(`   resuming: ${(yield* handle.resume).status}`)
      yield* printEvents(handle, Effect.void, paused.turns.length)
      const done = yield* handle.run
      yield* Console.log(`   ${summary(done)}; final answer: ${answer(done)}`)
    })
  )

  yield* Console.log("4. interrupt the fiber that follows the goal")
  yield* backend.script(FakeModel.stall(FakeModel.text("Thinking about it")))
  const sent = (yield* backend.requests).length
  yield* Effect.scoped(
    Effect.gen(function*() {
      const handle = yield* thread.goal("Prove it, however long it takes.")
      const firstTurn = yield* Deferred.make<void>()
      const following = yield* Effect.fork(printEvents(handle, Deferred.succeed(firstTurn, undefined)))
      yield* Deferred.await(firstTurn)
      // offline: once the turn's model call is in flight (held open), so that it is used up
      if (backend.fake !== undefined) yield* backend.fake.awaitRequests(sent + 1)
      yield* Fiber.interrupt(following)
      const goal = yield* handle.status
      yield* Console.log(`   the goal is ${Option.match(goal, { onNone: () => "gone", onSome: (g) => g.status })}`)
    })
  )
  const read = yield* thread.read({ includeTurns: true })
  yield* Console.log(`   its last turn: ${read.turns[read.turns.length - 1]?.status}`)
  yield* backend.script(FakeModel.text("Back to you."))
  yield* Console.log(`   the thread is free again: ${answer(yield* thread.run("Anything else?"))}`)
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex()), NodeRuntime.runMain)
