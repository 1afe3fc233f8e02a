import * as Fixtures from "@effect-codex/testing/Fixtures"
import type * as MockAppServer from "@effect-codex/testing/MockAppServer"
import * as MockServer from "@effect-codex/testing/MockAppServer"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Codex from "../src/Codex.js"
import * as Turn from "../src/Turn.js"
import * as Transport from "../src/Transport.js"

// The goal state machine on an in-memory app-server: the test plays the server's side, turn by
// turn, including what the real one would not do on cue (die, clear from elsewhere, report an
// unknown status).

const threadId = "thread-1"

const setup = Effect.gen(function*() {
  const { peer, transport } = yield* MockServer.make()
  const context = yield* Layer.build(Codex.layerTransport().pipe(Layer.provide(Layer.succeed(Transport.Transport, transport))))
  const codex = yield* Effect.provide(Codex.Codex, context)
  const started = yield* Effect.fork(codex.threadStart())
  yield* Fixtures.serveThreadStart(peer, threadId)
  return { peer, thread: yield* Fiber.join(started) }
})

/** Answers `thread/goal/get` (with `existing`) and `thread/goal/set`, as for a goal set on an idle thread. */
const serveGoalSet = (peer: MockAppServer.Peer, existing: unknown = null) =>
  Effect.gen(function*() {
    const get = yield* peer.expectRequest("thread/goal/get")
    yield* peer.respond(get.id, { goal: existing })
    if (existing !== null) {
      const clear = yield* peer.expectRequest("thread/goal/clear")
      yield* peer.respond(clear.id, { cleared: true })
      yield* peer.notify("thread/goal/cleared", { threadId })
    }
    const set = yield* peer.expectRequest("thread/goal/set")
    yield* peer.respond(set.id, { goal: Fixtures.threadGoal(threadId, "active") })
    yield* peer.notify("thread/goal/updated", { threadId, turnId: null, goal: Fixtures.threadGoal(threadId, "active") })
    return set
  })

const usage = (total: number, last: number) => {
  const of = (n: number) => ({ totalTokens: n, inputTokens: n, cachedInputTokens: 0, outputTokens: 0, reasoningOutputTokens: 0 })
  return { total: of(total), last: of(last) }
}

/**
 * Plays a turn the server starts by itself: `turn/started`, an answer, one usage report per model
 * call (`calls`: the thread's total after each, and that call's tokens), the goal's state, the end.
 */
const serveGoalTurn = (
  peer: MockAppServer.Peer,
  script: {
    readonly turnId: string
    readonly text?: string
    readonly calls?: ReadonlyArray<readonly [total: number, last: number]>
    readonly goal?: string
    readonly status?: "completed" | "interrupted" | "failed"
    readonly complete?: boolean
  }
) =>
  Effect.gen(function*() {
    const turnId = script.turnId
    yield* peer.notify("turn/started", { threadId, turn: Fixtures.turn(turnId, "inProgress") })
    if (script.text !== undefined) {
      yield* peer.notify("item/completed", { threadId, turnId, completedAtMs: 0, item: Fixtures.agentMessage(`${turnId}-msg`, script.text) })
    }
    for (const [total, last] of script.calls ?? []) {
      yield* peer.notify("thread/tokenUsage/updated", { threadId, turnId, tokenUsage: usage(total, last) })
    }
    if (script.goal !== undefined) {
      yield* peer.notify("thread/goal/updated", { threadId, turnId, goal: Fixtures.threadGoal(threadId, script.goal) })
    }
    if (script.complete !== false) {
      yield* peer.notify("turn/completed", { threadId, turn: Fixtures.turn(turnId, script.status ?? "completed") })
    }
  })

describe("Goal", { timeout: 10_000 }, () => {
  it.scoped("follows the server's turns to a stopping status; the usage is the turns' own, summed", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const running = yield* Effect.fork(thread.runGoal("Ship it", { tokenBudget: 1000 }))
      const set = yield* serveGoalSet(peer)
      assert.deepStrictEqual(set.params, { threadId, objective: "Ship it", tokenBudget: 1000 })
      // the thread had used 100 tokens before the goal: none of them are the goal's
      yield* serveGoalTurn(peer, { turnId: "t1", text: "one", calls: [[130, 30]], goal: "active" })
      yield* serveGoalTurn(peer, { turnId: "t2", text: "two", calls: [[150, 20], [160, 10]], goal: "complete" })
      const result = yield* Fiber.join(running)
      assert.strictEqual(result.goal.status, "complete")
      assert.deepStrictEqual(result.turns.map((t) => t.turn.id), ["t1", "t2"])
      assert.deepStrictEqual(Option.getOrNull(result.finalResponse), "two")
      assert.strictEqual(result.usage.totalTokens, 60)
      assert.strictEqual(result.usage.inputTokens, 60)
    }))

  it.scoped("a status reported between turns (turnId null) stops the goal at once", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const handle = yield* Effect.fork(thread.goal("Wait"))
      yield* serveGoalSet(peer)
      const goal = yield* Fiber.join(handle)
      const running = yield* Effect.fork(goal.run)
      yield* serveGoalTurn(peer, { turnId: "t1", text: "one", goal: "active" })
      yield* peer.notify("thread/goal/updated", { threadId, turnId: null, goal: Fixtures.threadGoal(threadId, "paused") })
      const result = yield* Fiber.join(running)
      assert.strictEqual(result.goal.status, "paused")
      assert.strictEqual(result.turns.length, 1)
    }))

  it.scoped("a status a newer server knows and this SDK does not stops the goal too", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const running = yield* Effect.fork(thread.runGoal("Future"))
      yield* serveGoalSet(peer)
      yield* serveGoalTurn(peer, { turnId: "t1", text: "one", goal: "abandoned" })
      const result = yield* Fiber.join(running)
      assert.strictEqual(result.goal.status, "abandoned")
    }))

  it.scoped("a status reported during a turn waits for that turn; budgetLimited and usageLimited stop it", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      for (const status of ["budgetLimited", "usageLimited"]) {
        const running = yield* Effect.fork(thread.runGoal(status))
        yield* serveGoalSet(peer, status === "budgetLimited" ? null : Fixtures.threadGoal(threadId, "budgetLimited"))
        yield* serveGoalTurn(peer, { turnId: `${status}-1`, text: "working", goal: status, complete: false })
        // still running: the turn has not completed
        yield* Effect.yieldNow()
        assert.isNull(running.unsafePoll())
        yield* peer.notify("item/completed", { threadId, turnId: `${status}-1`, completedAtMs: 0, item: Fixtures.agentMessage("m", "wrapping up") })
        yield* peer.notify("turn/completed", { threadId, turn: Fixtures.turn(`${status}-1`, "completed") })
        const result = yield* Fiber.join(running)
        assert.strictEqual(result.goal.status, status)
        assert.strictEqual(Option.getOrNull(result.finalResponse), "wrapping up")
      }
    }))

  it.scoped("a turn of the user's, or a second goal, during a goal fails with GoalActiveError; afterwards they work", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const running = yield* Effect.fork(thread.runGoal("Mine"))
      yield* serveGoalSet(peer)
      const turn = yield* Effect.either(thread.run("hello"))
      assert.isTrue(Either.isLeft(turn) && turn.left._tag === "GoalActiveError")
      const compact = yield* Effect.either(thread.compact)
      assert.isTrue(Either.isLeft(compact) && compact.left._tag === "GoalActiveError")
      const second = yield* Effect.either(thread.runGoal("Yours"))
      assert.isTrue(Either.isLeft(second) && second.left._tag === "GoalActiveError")
      yield* serveGoalTurn(peer, { turnId: "t1", text: "done", goal: "complete" })
      yield* Fiber.join(running)
      const next = yield* Effect.fork(thread.run("hello"))
      yield* Fixtures.serveTurn(peer, { turnId: "t2", text: "hi" })
      assert.strictEqual((yield* Fiber.join(next)).turn.status, "completed")
    }))

  it.scoped("a queued turn of the user's waits for the goal to stop, then runs", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const running = yield* Effect.fork(thread.runGoal("First"))
      yield* serveGoalSet(peer)
      const queued = yield* Effect.fork(thread.run("after the goal", { queue: true }))
      yield* serveGoalTurn(peer, { turnId: "t1", text: "working", goal: "active" })
      const sentDuring = (yield* peer.history).flatMap((m) => ("method" in m ? [m.method] : []))
      assert.notInclude(sentDuring, "turn/start")
      assert.isNull(queued.unsafePoll())
      yield* serveGoalTurn(peer, { turnId: "t1b", text: "done", goal: "complete" })
      assert.strictEqual((yield* Fiber.join(running)).goal.status, "complete")
      yield* Fixtures.serveTurn(peer, { turnId: "t2", text: "hi" })
      assert.strictEqual(Option.getOrNull((yield* Fiber.join(queued)).finalResponse), "hi")
    }))

  it.scoped("a goal on a busy thread fails with TurnBusyError before anything is sent", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const turn = yield* Effect.fork(thread.run("busy"))
      const start = yield* peer.expectRequest("turn/start")
      const goal = yield* Effect.either(thread.runGoal("Later"))
      assert.isTrue(Either.isLeft(goal) && goal.left._tag === "TurnBusyError")
      const sent = (yield* peer.history).flatMap((m) => ("method" in m ? [m.method] : []))
      assert.isFalse(sent.some((method) => method.startsWith("thread/goal/")))
      yield* peer.respond(start.id, { turn: Fixtures.turn("t1", "inProgress") })
      yield* peer.notify("turn/completed", { threadId, turn: Fixtures.turn("t1", "completed") })
      yield* Fiber.join(turn)
    }))

  it.scoped("an active goal set by another client is refused; a stopped one is replaced", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const refused = yield* Effect.fork(Effect.either(thread.runGoal("Mine")))
      const get = yield* peer.expectRequest("thread/goal/get")
      yield* peer.respond(get.id, { goal: Fixtures.threadGoal(threadId, "active") })
      const exit = yield* Fiber.join(refused)
      assert.isTrue(Either.isLeft(exit) && exit.left._tag === "GoalActiveError")
      // the refusal gave the thread back, and a stopped goal is cleared before the new one is set
      const replaced = yield* Effect.fork(thread.runGoal("Mine"))
      yield* serveGoalSet(peer, Fixtures.threadGoal(threadId, "complete", { tokensUsed: 500 }))
      yield* serveGoalTurn(peer, { turnId: "t1", text: "done", goal: "complete" })
      assert.strictEqual((yield* Fiber.join(replaced)).turns.length, 1)
    }))

  it.scoped("cleared from elsewhere: run fails with GoalClearedError once the running turn completed", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const running = yield* Effect.fork(Effect.either(thread.runGoal("Cleared")))
      yield* serveGoalSet(peer)
      yield* serveGoalTurn(peer, { turnId: "t1", text: "one", complete: false })
      yield* peer.notify("thread/goal/cleared", { threadId })
      yield* Effect.yieldNow()
      assert.isNull(running.unsafePoll())
      yield* peer.notify("turn/completed", { threadId, turn: Fixtures.turn("t1", "completed") })
      const result = yield* Fiber.join(running)
      assert.isTrue(Either.isLeft(result) && result.left._tag === "GoalClearedError")
    }))

  it.scoped("a dead process mid-goal fails run with ProcessExitedError", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const running = yield* Effect.fork(Effect.either(thread.runGoal("Doomed")))
      yield* serveGoalSet(peer)
      yield* serveGoalTurn(peer, { turnId: "t1", text: "one", complete: false })
      yield* peer.die({ exitCode: 1 })
      const result = yield* Fiber.join(running)
      assert.isTrue(Either.isLeft(result) && result.left._tag === "ProcessExitedError", String(Either.isLeft(result) && result.left))
    }))

  it.scoped("a goal turn interrupted from elsewhere leaves no next turn: the goal is paused and run returns", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const running = yield* Effect.fork(thread.runGoal("Interrupted"))
      yield* serveGoalSet(peer)
      yield* serveGoalTurn(peer, { turnId: "t1", text: "one", status: "interrupted" })
      const pause = yield* peer.expectRequest("thread/goal/set")
      assert.deepStrictEqual(pause.params, { threadId, status: "paused" })
      yield* peer.respond(pause.id, { goal: Fixtures.threadGoal(threadId, "paused") })
      const result = yield* Fiber.join(running)
      assert.strictEqual(result.goal.status, "paused")
      assert.strictEqual(result.turns[0]?.turn.status, "interrupted")
    }))

  it.scoped("after a resume, a late report of the earlier pause does not end the new leg", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const started = yield* Effect.fork(thread.goal("Two legs"))
      yield* serveGoalSet(peer)
      const goal = yield* Fiber.join(started)
      const first = yield* Effect.fork(goal.run)
      yield* serveGoalTurn(peer, { turnId: "t1", text: "one", goal: "paused" })
      assert.strictEqual((yield* Fiber.join(first)).goal.status, "paused")

      const resuming = yield* Effect.fork(goal.resume)
      const resume = yield* peer.expectRequest("thread/goal/set")
      assert.deepStrictEqual(resume.params, { threadId, status: "active" })
      yield* peer.respond(resume.id, { goal: Fixtures.threadGoal(threadId, "active") })
      yield* Fiber.join(resuming)
      const second = yield* Effect.fork(goal.run)
      yield* peer.notify("thread/goal/updated", { threadId, turnId: null, goal: Fixtures.threadGoal(threadId, "paused") })
      yield* peer.notify("thread/goal/updated", { threadId, turnId: null, goal: Fixtures.threadGoal(threadId, "active") })
      yield* serveGoalTurn(peer, { turnId: "t2", text: "two", goal: "complete" })
      const result = yield* Fiber.join(second)
      assert.strictEqual(result.goal.status, "complete")
      assert.deepStrictEqual(result.turns.map((t) => t.turn.id), ["t1", "t2"])
    }))

  it.scoped("closing the scope of a goal that stopped unobserved sends no pause: a complete goal stays complete", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const scope = yield* Scope.make()
      const started = yield* Effect.fork(Scope.extend(thread.goal("Done alone"), scope))
      yield* serveGoalSet(peer)
      yield* Fiber.join(started)
      yield* serveGoalTurn(peer, { turnId: "t1", text: "done", goal: "complete" })
      yield* Scope.close(scope, Exit.void)
      const sent = (yield* peer.history).flatMap((m) => ("method" in m ? [m.method] : []))
      assert.deepStrictEqual(sent.filter((method) => method.startsWith("thread/goal/") || method === "turn/interrupt"), [
        "thread/goal/get",
        "thread/goal/set"
      ])
      // the thread is free again
      const next = yield* Effect.fork(thread.run("hello"))
      yield* Fixtures.serveTurn(peer, { turnId: "t2", text: "hi" })
      assert.strictEqual((yield* Fiber.join(next)).turn.status, "completed")
    }))

  it.scoped("closing the scope of a pursued goal pauses it and interrupts its turn; a server that never ends the turn is given up on after Turn.abortTimeout", () =>
    Effect.gen(function*() {
      const { peer, thread } = yield* setup
      const scope = yield* Scope.make()
      const started = yield* Effect.fork(Scope.extend(thread.goal("Abandoned"), scope))
      yield* serveGoalSet(peer)
      yield* Fiber.join(started)
      yield* peer.notify("turn/started", { threadId, turn: Fixtures.turn("t1", "inProgress") })
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      const pause = yield* peer.expectRequest("thread/goal/set")
      assert.deepStrictEqual(pause.params, { threadId, status: "paused" })
      yield* peer.respond(pause.id, { goal: Fixtures.threadGoal(threadId, "paused") })
      const interrupt = yield* peer.expectRequest("turn/interrupt")
      assert.deepStrictEqual(interrupt.params, { threadId, turnId: "t1" })
      yield* peer.respond(interrupt.id, {})
      // no turn/completed ever comes
      yield* TestClock.adjust(Turn.abortTimeout)
      yield* Fiber.join(closing)
      // the thread is free again
      const next = yield* Effect.fork(thread.run("hello"))
      yield* Fixtures.serveTurn(peer, { turnId: "t2", text: "hi" })
      assert.strictEqual((yield* Fiber.join(next)).turn.status, "completed")
    }))
})
