import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { FakeModel } from "@effect-codex/testing"
import * as Approvals from "../src/Approvals.js"
import * as Codex from "../src/Codex.js"
import type { CodexConfig } from "../src/CodexConfig.js"
import type * as Turn from "../src/Turn.js"

// Turns against the real codex binary and a FakeModel on 127.0.0.1: per-turn token usage, queued
// turns, idle timeouts. Every wait is for an event; the timeouts are only guards.

const startCodex = (fake: FakeModel.FakeModel.Service, config: CodexConfig = {}) =>
  Effect.map(
    Layer.build(Codex.layer({ ...fake.config, ...config }).pipe(Layer.provide(Approvals.declineAll))),
    (context) => Context.get(context, Codex.Codex)
  )

const withCodex = <A, E>(
  body: (codex: Codex.Codex.Service, fake: FakeModel.FakeModel.Service) => Effect.Effect<A, E, Scope.Scope>,
  config: CodexConfig = {}
) =>
  Effect.gen(function*() {
    const fake = yield* FakeModel.make()
    const codex = yield* startCodex(fake, config)
    return yield* body(codex, fake)
  }).pipe(Effect.scoped, Effect.timeout("90 seconds"))

const usageOf = (result: Turn.RunResult) => Option.getOrThrow(result.usage)

describe("usage.turn", () => {
  it.live("sums every model call of a turn; later turns count from the total before them", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(
          // turn 1: a shell command, then the answer: two model calls
          FakeModel.execCommand("echo hi", { login: false, usage: FakeModel.usage(100, 10, { cached: 30, reasoning: 3 }) }),
          FakeModel.text("done", { usage: FakeModel.usage(200, 20, { cached: 50, reasoning: 5 }) }),
          // turn 2: one call
          FakeModel.text("two", { usage: FakeModel.usage(300, 30) }),
          // turn 3: a response without usage (the server repeats the last report)
          FakeModel.text("three", { usage: null })
        )
        const thread = yield* codex.threadStart()
        const first = usageOf(yield* thread.run("run echo"))
        expect(first.last).toMatchObject({ inputTokens: 200, outputTokens: 20, totalTokens: 220 })
        expect(first.turn).toEqual({
          inputTokens: 300,
          cachedInputTokens: 80,
          cacheWriteInputTokens: 0,
          outputTokens: 30,
          reasoningOutputTokens: 8,
          totalTokens: 330
        })
        expect(first.total.totalTokens).toBe(330)

        const second = usageOf(yield* thread.run("again"))
        expect(second.turn).toMatchObject({ inputTokens: 300, cachedInputTokens: 0, outputTokens: 30, totalTokens: 330 })
        expect(second.total.totalTokens).toBe(660)

        // streamed, folded by the handle's collector
        const turn = yield* thread.turn("no usage")
        const collector = turn.collector()
        yield* Stream.runForEach(turn.stream, (event) => Effect.sync(() => collector.add(event)))
        const third = Option.getOrThrow(collector.usage)
        // `last` is stale (the previous call), `turn` is right: nothing was used
        expect(third.last.totalTokens).toBe(330)
        expect(third.total.totalTokens).toBe(660)
        expect(third.turn).toMatchObject({ inputTokens: 0, outputTokens: 0, totalTokens: 0 })
      })))

  it.live("a resumed thread's first turn (total unknown before it) counts only its own calls", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(
        FakeModel.text("one", { usage: FakeModel.usage(100, 10) }),
        FakeModel.text("two", { usage: FakeModel.usage(200, 20) }),
        FakeModel.execCommand("echo hi", { login: false, usage: FakeModel.usage(300, 30) }),
        FakeModel.text("three", { usage: FakeModel.usage(400, 40) })
      )
      const threadId = yield* Effect.scoped(
        Effect.gen(function*() {
          const codex = yield* startCodex(fake)
          const thread = yield* codex.threadStart()
          yield* thread.run("one")
          yield* thread.run("two")
          return thread.id
        })
      )
      const codex = yield* startCodex(fake)
      const resumed = yield* codex.threadResume(threadId)
      const usage = usageOf(yield* resumed.run("three"))
      expect(usage.total.totalTokens).toBe(330 + 770)
      expect(usage.turn).toMatchObject({ inputTokens: 700, outputTokens: 70, totalTokens: 770 })
    }).pipe(Effect.scoped, Effect.timeout("90 seconds")))
})

describe("one turn per thread", () => {
  it.live("run with { queue: true } waits for the running turn instead of failing", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.text("first", { chunks: ["fir", "st"] }), FakeModel.text("second"))
        const thread = yield* codex.threadStart()
        const first = yield* Effect.fork(thread.run("one"))
        const second = yield* Effect.fork(thread.run("two", { queue: true }))
        expect(Option.getOrThrow((yield* Fiber.join(first)).finalResponse)).toBe("first")
        expect(Option.getOrThrow((yield* Fiber.join(second)).finalResponse)).toBe("second")
        const [, request] = yield* fake.awaitRequests(2)
        // a turn of its own, not a steer of the first one
        expect(FakeModel.lastUserText(request!)).toBe("two")
        expect(JSON.stringify(FakeModel.inputItems(request!))).toContain("first")
      })))
})

describe("idle timeout", () => {
  it.live("a model that stalls mid-answer: the turn is interrupted and run fails with TurnStalledError", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.stall(FakeModel.text("partial text", { chunks: ["partial ", "text"] })), FakeModel.text("after"))
        const thread = yield* codex.threadStart()
        const events = yield* codex.connection.subscribeThread(thread.id)
        const error = yield* Effect.flip(thread.run("talk", { idleTimeout: "1500 millis" }))
        expect(error._tag).toBe("TurnStalledError")
        if (error._tag !== "TurnStalledError") return
        expect(error.threadId).toBe(thread.id)
        expect(error.turnId).not.toBeNull()
        expect(error.lastEvent).toBe("item/agentMessage/delta")
        // the server ended the turn before run failed
        const [seen] = yield* events.mailbox.takeAll
        const completed = Chunk.toReadonlyArray(seen).find((n) => n.method === "turn/completed")
        expect(completed?.params).toMatchObject({ turn: { id: error.turnId, status: "interrupted" } })
        // and the thread takes a new turn, not a steer of the stalled one
        const next = yield* thread.run("again")
        expect(next.finalResponse).toEqual(Option.some("after"))
        expect(next.turn.id).not.toBe(error.turnId)
      }), { turnIdleTimeout: "1 minute" }))

  it.live("a compaction whose model stalls: interrupted, compact fails with TurnStalledError, the thread goes on", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(
          FakeModel.text("first"),
          FakeModel.stall(FakeModel.text("summary so f", { chunks: ["summary ", "so f"] })),
          FakeModel.text("after")
        )
        const thread = yield* codex.threadStart()
        yield* thread.run("first")
        const events = yield* codex.connection.subscribeThread(thread.id)
        const error = yield* Effect.flip(thread.compact)
        expect(error._tag).toBe("TurnStalledError")
        if (error._tag !== "TurnStalledError") return
        expect(error.turnId).not.toBeNull()
        expect(error.lastEvent).not.toBeNull()
        const [seen] = yield* events.mailbox.takeAll
        const completed = Chunk.toReadonlyArray(seen).find((n) => n.method === "turn/completed")
        expect(completed?.params).toMatchObject({ turn: { id: error.turnId, status: "interrupted" } })
        const next = yield* thread.run("again")
        expect(next.finalResponse).toEqual(Option.some("after"))
      }), { turnIdleTimeout: "1500 millis" }))
})
