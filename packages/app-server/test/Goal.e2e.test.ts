import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { FakeModel } from "@effect-codex/testing"
import * as Codex from "../src/Codex.js"

// Goals on the real codex binary against a FakeModel on 127.0.0.1: the server starts the goal's
// turns itself; the fake plays the model (text turns, `update_goal` calls, stalls). Every wait is
// for an event or a request; the timeout is only a guard.

const withCodex = <A, E>(
  body: (codex: Codex.Codex.Service, fake: FakeModel.FakeModel.Service) => Effect.Effect<A, E, Scope.Scope>,
  options?: FakeModel.Options
) =>
  Effect.gen(function*() {
    const fake = yield* FakeModel.FakeModel
    const codex = yield* Codex.Codex
    return yield* body(codex, fake)
  }).pipe(Effect.scoped, Effect.provide(FakeModel.layerCodex(options)), Effect.timeout("90 seconds"))

const statusesOf = (events: ReadonlyArray<{ readonly method: string; readonly params: unknown }>) =>
  events.flatMap((e) => (e.method === "thread/goal/updated" ? [(e.params as { goal: { status: string } }).goal.status] : []))

describe("goals (codex app-server, FakeModel)", () => {
  it.live("a goal of three continued turns runs to complete; its stream carries every turn and ends after the last", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(
          FakeModel.text("Step one."),
          FakeModel.text("Step two."),
          FakeModel.goalComplete({ callId: "call-complete" }),
          FakeModel.text("Done: three steps.")
        )
        const thread = yield* codex.threadStart()
        const handle = yield* thread.goal("Do three steps")
        const events = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.stream))

        const completed = events.filter((e) => e.method === "turn/completed")
        expect(completed).toHaveLength(3)
        expect(events.filter((e) => e.method === "turn/started")).toHaveLength(3)
        expect(events[events.length - 1]).toBe(completed[2])
        // active when set, then after each turn's accounting (how many of those is up to the
        // server's timing), complete when the model said so
        const statuses = statusesOf(events)
        expect(statuses[0]).toBe("active")
        expect(statuses.slice(1, -1).every((s) => s === "active")).toBe(true)
        expect(statuses[statuses.length - 1]).toBe("complete")

        // The server started every turn: the user sent none; the model was given the goal tools.
        const requests = yield* fake.requests
        expect(requests).toHaveLength(4)
        expect(requests.every(FakeModel.isGoalContinuation)).toBe(true)
        const tools = (requests[0]!.body as { tools: ReadonlyArray<{ name?: string; parameters?: unknown }> }).tools
        const updateGoal = tools.find((t) => t.name === "update_goal")
        expect(updateGoal?.parameters).toMatchObject({
          properties: { status: { enum: ["complete", "blocked", "paused"] } },
          required: ["status"]
        })
        // the objective comes to the model as the output of a call it never made (`goal_objective`)
        const outputs = FakeModel.toolOutputs(requests[0]!)
        expect(outputs.map((o) => o.output)).toEqual(["Do three steps"])
        const answer = FakeModel.toolOutputs(requests[3]!).find((o) => o.callId === "call-complete")
        expect(JSON.parse(answer?.output ?? "{}")).toMatchObject({ goal: { status: "complete", objective: "Do three steps" } })

        // The stream was the leg: `run` now returns at once with what it saw.
        const result = yield* handle.run
        expect(result.goal.status).toBe("complete")
        expect(result.goal.objective).toBe("Do three steps")
        expect(result.turns.map((t) => t.turn.status)).toEqual(["completed", "completed", "completed"])
        expect(result.turns.map((t) => Option.getOrNull(t.finalResponse))).toEqual(["Step one.", "Step two.", "Done: three steps."])
        expect(Option.getOrNull(result.finalResponse)).toBe("Done: three steps.")
        // four model calls of 15 tokens each (FakeModel.defaultUsage), the last turn made two
        expect(result.usage).toMatchObject({ inputTokens: 40, outputTokens: 20, totalTokens: 60 })
        expect(yield* handle.status).toEqual(Option.some(result.goal))

        // The goal is over: the thread takes turns of the user's again.
        yield* fake.enqueue(FakeModel.text("Hello."))
        expect(Option.getOrNull((yield* thread.run("hi")).finalResponse)).toBe("Hello.")
      })
    ))

  it.live("a token budget ends a goal as budgetLimited", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        const thread = yield* codex.threadStart()
        const result = yield* thread.runGoal("Count forever", { tokenBudget: 40 })
        expect(result.goal.status).toBe("budgetLimited")
        expect(result.goal.tokenBudget).toBe(40)
        // 15 tokens a turn: 0, 15, 30 are under the budget, so three turns ran; the third crossed it
        expect(result.turns).toHaveLength(3)
        expect(result.goal.tokensUsed).toBe(45)
        expect(result.usage.totalTokens).toBe(45)
        expect(yield* fake.requests).toHaveLength(3)
      }), { respond: () => FakeModel.text("Still counting.") }))

  it.live("pause lets the running turn finish and stops the goal; resume continues it to complete", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.text("One."), FakeModel.stall(FakeModel.text("Two.")))
        const thread = yield* codex.threadStart()
        const handle = yield* thread.goal("Two legs")
        const first = yield* Effect.fork(handle.run)
        yield* fake.awaitRequests(2) // the second turn is running (stalled)

        // While the goal is pursued, the thread is the goal's.
        const busy = yield* Effect.either(thread.run("Are you there?"))
        expect(Either.isLeft(busy) && busy.left._tag).toBe("GoalActiveError")
        const second = yield* Effect.either(thread.goal("Another goal"))
        expect(Either.isLeft(second) && second.left._tag).toBe("GoalActiveError")
        const consumed = yield* Effect.either(handle.run)
        expect(Either.isLeft(consumed) && consumed.left._tag).toBe("GoalConsumedError")

        expect((yield* handle.pause).status).toBe("paused")
        yield* fake.releaseStalls
        const paused = yield* Fiber.join(first)
        expect(paused.goal.status).toBe("paused")
        expect(paused.turns.map((t) => [t.turn.status, Option.getOrNull(t.finalResponse)])).toEqual([
          ["completed", "One."],
          ["completed", "Two."]
        ])

        yield* fake.enqueue(FakeModel.goalComplete(), FakeModel.text("Resumed and done."))
        expect((yield* handle.resume).status).toBe("active")
        const done = yield* handle.run
        expect(done.goal.status).toBe("complete")
        expect(done.turns).toHaveLength(3)
        expect(Option.getOrNull(done.finalResponse)).toBe("Resumed and done.")
        expect(yield* fake.requests).toHaveLength(4)
      })
    ))

  it.live("interrupting the consuming fiber pauses the goal and interrupts its running turn", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.stall(FakeModel.text("Thinking")))
        const thread = yield* codex.threadStart()
        const handle = yield* thread.goal("Never finished")
        const fiber = yield* Effect.fork(handle.run)
        yield* fake.awaitRequests(1)
        yield* Fiber.interrupt(fiber)

        const goal = yield* handle.status
        expect(Option.map(goal, (g) => g.status)).toEqual(Option.some("paused"))
        const turns = (yield* thread.read({ includeTurns: true })).turns
        expect(turns.map((t) => t.status)).toEqual(["interrupted"])

        // No continuation started, and the thread is free for the user's turns.
        yield* fake.enqueue(FakeModel.text("Back to you."))
        expect(Option.getOrNull((yield* thread.run("hi")).finalResponse)).toBe("Back to you.")
        expect(yield* fake.requests).toHaveLength(2)
      })
    ))

  it.live("a failed turn blocks the goal, a usage limit makes it usageLimited; update_goal blocked too", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.text("Trying."), FakeModel.failed("server_error", "the model broke"))
        const thread = yield* codex.threadStart()
        const failed = yield* thread.runGoal("Fragile")
        expect(failed.goal.status).toBe("blocked")
        expect(failed.turns.map((t) => t.turn.status)).toEqual(["completed", "failed"])
        expect(failed.turns[1]?.turn.error?.message).toContain("the model broke")

        yield* fake.enqueue(FakeModel.failed("insufficient_quota", "no credits left"))
        const quota = yield* thread.runGoal("Expensive")
        expect(quota.goal.status).toBe("usageLimited")
        expect(quota.turns.map((t) => t.turn.status)).toEqual(["failed"])

        yield* fake.enqueue(FakeModel.goalBlocked(), FakeModel.text("I am stuck."))
        const blocked = yield* thread.runGoal("Impossible")
        expect(blocked.goal.status).toBe("blocked")
        expect(blocked.goal.objective).toBe("Impossible")
        expect(blocked.turns).toHaveLength(1)
        expect(Option.getOrNull(blocked.finalResponse)).toBe("I am stuck.")
      })
    ))

  it.live("cleared from elsewhere: the running turn finishes, no next one starts, run fails with GoalClearedError", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.stall(FakeModel.text("Halfway.")))
        const thread = yield* codex.threadStart()
        const handle = yield* thread.goal("Cleared midway")
        const running = yield* Effect.fork(Effect.either(handle.run))
        yield* fake.awaitRequests(1)
        expect(yield* codex.request("thread/goal/clear", { threadId: thread.id })).toEqual({ cleared: true })
        yield* fake.releaseStalls
        const result = yield* Fiber.join(running)
        expect(Either.isLeft(result) && result.left._tag).toBe("GoalClearedError")
        expect(yield* handle.status).toEqual(Option.none())
        expect((yield* thread.read({ includeTurns: true })).turns.map((t) => t.status)).toEqual(["completed"])
        expect(yield* fake.requests).toHaveLength(1)
      })
    ))
})
