import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterEach, describe, expect, it } from "vitest"
import { FakeModel } from "@effect-codex/testing"
import { AbortError, CodexClient, GoalActiveError, type Notification } from "@effect-codex/app-server/promise"

// Goals through the plain-Node facade, on the real codex binary against a FakeModel on
// 127.0.0.1. Only the FakeModel is driven through Effect; every wait is for an event or a request.

const TIMEOUT = 90_000

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const setup = async () => {
  const scope = await Effect.runPromise(Scope.make())
  cleanups.push(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  const fake = await Effect.runPromise(FakeModel.make().pipe(Scope.extend(scope)))
  const client = await CodexClient.start(fake.config)
  cleanups.push(() => client.close())
  return {
    client,
    enqueue: (...replies: ReadonlyArray<FakeModel.Reply>) => Effect.runPromise(fake.enqueue(...replies)),
    awaitRequests: (n: number) => Effect.runPromise(fake.awaitRequests(n)),
    requests: () => Effect.runPromise(fake.requests),
    releaseStalls: () => Effect.runPromise(fake.releaseStalls)
  }
}

const threeTurns = [
  FakeModel.text("Step one."),
  FakeModel.text("Step two."),
  FakeModel.goalComplete(),
  FakeModel.text("All three done.")
]

describe("goals (Promise facade)", () => {
  it("runGoal follows the server's turns to complete, as plain values", async () => {
    const { client, enqueue } = await setup()
    await enqueue(...threeTurns)
    const thread = await client.threadStart()
    const result = await thread.runGoal("Do three steps")
    expect(result.goal.status).toBe("complete")
    expect(result.turns.map((t) => t.finalResponse)).toEqual(["Step one.", "Step two.", "All three done."])
    expect(result.finalResponse).toBe("All three done.")
    expect(result.usage.totalTokens).toBe(60)
  }, TIMEOUT)

  it("for await over goalStreamed sees every turn and the goal's updates; the thread is the goal's meanwhile", async () => {
    const { client, enqueue } = await setup()
    await enqueue(...threeTurns)
    const thread = await client.threadStart()
    const goal = thread.goalStreamed("Do three steps")
    await goal.started
    await expect(thread.run("Are you there?")).rejects.toBeInstanceOf(GoalActiveError)
    const events: Array<Notification> = []
    for await (const event of goal) events.push(event)
    expect(events.filter((e) => e.method === "turn/completed")).toHaveLength(3)
    expect(events[events.length - 1]?.method).toBe("turn/completed")
    const updates = events.flatMap((e) => (e.method === "thread/goal/updated" ? [e.params.goal.status] : []))
    expect(updates[updates.length - 1]).toBe("complete")
    const result = await goal.result()
    expect(result.turns).toHaveLength(3)
    expect((await goal.status())?.status).toBe("complete")
  }, TIMEOUT)

  it("leaving the loop early pauses the goal and interrupts its turn; the thread is free again", async () => {
    const { awaitRequests, client, enqueue, requests } = await setup()
    await enqueue(FakeModel.stall(FakeModel.text("Thinking")))
    const thread = await client.threadStart()
    const goal = thread.goalStreamed("Never finished")
    for await (const event of goal) {
      if (event.method === "turn/started") {
        await awaitRequests(1)
        break
      }
    }
    expect((await goal.status())?.status).toBe("paused")
    const turns = (await thread.read({ includeTurns: true })).turns
    expect(turns.map((t) => t.status)).toEqual(["interrupted"])
    await enqueue(FakeModel.text("Back to you."))
    expect((await thread.run("hi")).finalResponse).toBe("Back to you.")
    expect(await requests()).toHaveLength(2)
  }, TIMEOUT)

  it("pause, then resume and follow the next leg to complete", async () => {
    const { awaitRequests, client, enqueue, releaseStalls } = await setup()
    await enqueue(FakeModel.text("One."), FakeModel.stall(FakeModel.text("Two.")))
    const thread = await client.threadStart()
    const goal = thread.goalStreamed("Two legs")
    const first = goal.result()
    await awaitRequests(2)
    expect((await goal.pause()).status).toBe("paused")
    await releaseStalls() // the running turn finishes what it was saying
    const paused = await first
    expect(paused.goal.status).toBe("paused")
    expect(paused.turns.map((t) => t.finalResponse)).toEqual(["One.", "Two."])

    await enqueue(FakeModel.goalComplete(), FakeModel.text("Done."))
    expect((await goal.resume()).status).toBe("active")
    const statuses: Array<string> = []
    for await (const event of goal) if (event.method === "thread/goal/updated") statuses.push(event.params.goal.status)
    expect(statuses[statuses.length - 1]).toBe("complete")
    const done = await goal.result()
    expect(done.turns.map((t) => t.finalResponse)).toEqual(["One.", "Two.", "Done."])
  }, TIMEOUT)

  it("aborting the signal of runGoal rejects with AbortError and pauses the goal", async () => {
    const { awaitRequests, client, enqueue } = await setup()
    await enqueue(FakeModel.stall(FakeModel.text("Thinking")))
    const thread = await client.threadStart()
    const controller = new AbortController()
    const running = thread.runGoal("Aborted", { signal: controller.signal })
    await awaitRequests(1)
    controller.abort()
    await expect(running).rejects.toBeInstanceOf(AbortError)
    const read = await thread.read({ includeTurns: true })
    expect(read.turns.map((t) => t.status)).toEqual(["interrupted"])
    expect((await client.request("thread/goal/get", { threadId: thread.id })).goal?.status).toBe("paused")
  }, TIMEOUT)

  it("aborting the signal of goalStreamed ends the loop with AbortError and pauses the goal", async () => {
    const { awaitRequests, client, enqueue } = await setup()
    await enqueue(FakeModel.stall(FakeModel.text("Thinking")))
    const thread = await client.threadStart()
    const controller = new AbortController()
    const goal = thread.goalStreamed("Aborted while followed", { signal: controller.signal })
    const seen: Array<string> = []
    const loop = (async () => {
      for await (const event of goal) {
        seen.push(event.method)
        if (event.method === "turn/started") void awaitRequests(1).then(() => controller.abort())
      }
    })()
    await expect(loop).rejects.toBeInstanceOf(AbortError)
    expect(seen).toContain("turn/started")
    expect((await client.request("thread/goal/get", { threadId: thread.id })).goal?.status).toBe("paused")
    expect((await thread.read({ includeTurns: true })).turns.map((t) => t.status)).toEqual(["interrupted"])
  }, TIMEOUT)
})
