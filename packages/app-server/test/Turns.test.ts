import { assert, describe, it } from "@effect/vitest"
import * as Option from "effect/Option"
import type { Notification } from "../src/RpcConnection.js"
import * as Turn from "../src/Turn.js"

// Turns on an in-memory app-server (MockAppServer) and the pure parts of a turn's result.

const tokens = (input: number, output: number): Turn.Tokens => ({
  inputTokens: input,
  cachedInputTokens: 0,
  cacheWriteInputTokens: 0,
  outputTokens: output,
  reasoningOutputTokens: 0,
  totalTokens: input + output
})

const report = (total: Turn.Tokens, last: Turn.Tokens): Notification =>
  ({
    method: "thread/tokenUsage/updated",
    params: { threadId: "thread-1", turnId: "turn-1", tokenUsage: { total, last, modelContextWindow: null } }
  }) as Notification

const turnOf = (collector: Turn.Collector) => Option.getOrThrow(collector.usage).turn.totalTokens

describe("Collector usage", () => {
  it("the turn's usage is the difference of total between its start and its end", () => {
    const collector = new Turn.Collector("thread-1", "turn-1", { baseline: tokens(100, 10) })
    collector.add(report(tokens(150, 15), tokens(50, 5)))
    collector.add(report(tokens(230, 25), tokens(80, 10)))
    assert.deepStrictEqual(Option.getOrThrow(collector.usage).turn, tokens(130, 15))
  })

  it("a first report that repeats the known total counts nothing", () => {
    const collector = new Turn.Collector("thread-1", "turn-1", { baseline: tokens(100, 10) })
    collector.add(report(tokens(100, 10), tokens(40, 4)))
    assert.strictEqual(turnOf(collector), 0)
    collector.add(report(tokens(150, 15), tokens(50, 5)))
    assert.strictEqual(turnOf(collector), 55)
  })

  it("without a known total, the first report's own call is the start (total - last)", () => {
    const collector = new Turn.Collector("thread-1", "turn-1")
    collector.add(report(tokens(150, 15), tokens(50, 5)))
    assert.strictEqual(turnOf(collector), 55)
  })

  it("a stale known total (turns not seen) gives way to the first report", () => {
    const collector = new Turn.Collector("thread-1", "turn-1", { baseline: tokens(10, 1) })
    collector.add(report(tokens(150, 15), tokens(50, 5)))
    assert.strictEqual(turnOf(collector), 55)
  })

  it("the tracker follows every report; no report, no usage", () => {
    const tracker: Turn.UsageTracker = { total: undefined }
    const collector = new Turn.Collector("thread-1", "turn-1", { tracker })
    assert.isTrue(Option.isNone(collector.usage))
    collector.add(report(tokens(150, 15), tokens(50, 5)))
    assert.deepStrictEqual(tracker.total, tokens(150, 15))
  })
})
