import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { FakeModel } from "@effect-codex/testing"
import * as Approvals from "../src/Approvals.js"
import * as Codex from "../src/Codex.js"
import type { CodexConfig } from "../src/CodexConfig.js"
import type { Notification } from "../src/RpcConnection.js"

// The high-level API against the real codex binary and a FakeModel on 127.0.0.1. Every wait is
// for an event; the timeout is only a guard.

interface Setup {
  readonly approvals?: Layer.Layer<Approvals.Approvals>
  readonly config?: CodexConfig
  readonly fakeModel?: FakeModel.Options
}

/** Starts codex (stdio) against a fresh FakeModel. */
const startCodex = (fake: FakeModel.FakeModel.Service, setup: Setup = {}) =>
  Effect.map(
    Layer.build(
      Codex.layer({ ...fake.config, ...setup.config }).pipe(
        Layer.provide(setup.approvals ?? Approvals.declineAll)
      )
    ),
    (context) => Context.get(context, Codex.Codex)
  )

const withCodex = <A, E>(
  body: (codex: Codex.Codex.Service, fake: FakeModel.FakeModel.Service) => Effect.Effect<A, E, Scope.Scope>,
  setup: Setup = {}
) =>
  Effect.gen(function*() {
    const fake = yield* FakeModel.make(setup.fakeModel)
    const codex = yield* startCodex(fake, setup)
    return yield* body(codex, fake)
  }).pipe(Effect.scoped, Effect.timeout("90 seconds"))

const deltasOf = (events: ReadonlyArray<Notification>) =>
  events.flatMap((e) => (e.method === "item/agentMessage/delta" ? [(e.params as { delta: string }).delta] : []))

/** Consumes a turn's stream on a fiber; `firstDelta` completes when text starts flowing. */
const consumeInBackground = (stream: Stream.Stream<Notification, unknown>) =>
  Effect.gen(function*() {
    const firstDelta = yield* Deferred.make<void>()
    const fiber = yield* stream.pipe(
      Stream.tap((e) => (e.method === "item/agentMessage/delta" ? Deferred.succeed(firstDelta, undefined) : Effect.void)),
      Stream.runCollect,
      Effect.map(Chunk.toReadonlyArray),
      Effect.fork
    )
    return { fiber, firstDelta: Deferred.await(firstDelta) }
  })

/** Waits for the `turn/completed` of a turn on a subscription taken earlier. */
const completionOf = (events: Stream.Stream<Notification, unknown>, turnId: string) =>
  events.pipe(
    Stream.filter((n) => n.method === "turn/completed" && (n.params as { turn: { id: string } }).turn.id === turnId),
    Stream.runHead,
    Effect.map(Option.map((n) => (n.params as { turn: { status: string } }).turn.status))
  )

describe("threads and turns", () => {
  it.live("streams text deltas in order, ending with turn/completed", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.text("Hello brave new world.", { chunks: ["Hello ", "brave ", "new ", "world."] }))
        const thread = yield* codex.threadStart()
        const turn = yield* thread.turn("hi")
        const events = Chunk.toReadonlyArray(yield* Stream.runCollect(turn.stream))
        expect(deltasOf(events)).toEqual(["Hello ", "brave ", "new ", "world."])
        expect(events.at(-1)?.method).toBe("turn/completed")
        expect(events.every((e) => (e.params as { threadId?: string }).threadId === thread.id)).toBe(true)
      })))

  it.live("run: finalResponse, items, usage (total and last)", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(
          FakeModel.response([FakeModel.reasoning("Thinking."), FakeModel.text("Done.")], {
            usage: FakeModel.usage(100, 20, { cached: 40, reasoning: 7 })
          }),
          FakeModel.text("Again.")
        )
        const thread = yield* codex.threadStart()
        expect(thread.settings).toMatchObject({ model: "mock-model", modelProvider: "mock", approvalPolicy: "never" })
        const first = yield* thread.run("do it")
        expect(first.finalResponse).toEqual(Option.some("Done."))
        expect(first.turn.status).toBe("completed")
        expect(first.items.map((i) => i.type)).toEqual(["userMessage", "reasoning", "agentMessage"])
        const usage = Option.getOrThrow(first.usage)
        expect(usage.last).toMatchObject({ inputTokens: 100, cachedInputTokens: 40, outputTokens: 20, reasoningOutputTokens: 7, totalTokens: 120 })
        const second = yield* thread.run("again")
        expect(Option.getOrThrow(second.usage).total.totalTokens).toBe(135)
        expect(Option.getOrThrow(second.usage).last.totalTokens).toBe(15)
      })))

  it.live("a second turn's model request carries the first turn", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.text("first answer"), FakeModel.text("second answer"))
        const thread = yield* codex.threadStart()
        yield* thread.run("first question")
        yield* thread.run("second question")
        const [, second] = yield* fake.awaitRequests(2)
        const history = JSON.stringify(FakeModel.inputItems(second!))
        expect(history).toContain("first question")
        expect(history).toContain("first answer")
        expect(FakeModel.lastUserText(second!)).toBe("second question")
      })))

  it.live("resumes a thread from a new process with the same CODEX_HOME", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(FakeModel.text("remember 42"), FakeModel.text("it was 42"))
      const threadId = yield* Effect.scoped(
        Effect.gen(function*() {
          const codex = yield* startCodex(fake)
          const thread = yield* codex.threadStart()
          yield* thread.run("remember a number")
          return thread.id
        })
      )
      const codex = yield* startCodex(fake)
      const resumed = yield* codex.threadResume(threadId)
      expect(resumed.id).toBe(threadId)
      const result = yield* resumed.run("which number?")
      expect(result.finalResponse).toEqual(Option.some("it was 42"))
      const [, second] = yield* fake.awaitRequests(2)
      expect(JSON.stringify(FakeModel.inputItems(second!))).toContain("remember 42")
    }).pipe(Effect.scoped, Effect.timeout("90 seconds")))

  it.live("forks, names, lists, reads, archives, unarchives and compacts", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.text("original"), FakeModel.text("summary of the conversation"))
        const thread = yield* codex.threadStart()
        yield* thread.run("start")
        yield* thread.setName("my thread")
        expect((yield* thread.read()).name).toBe("my thread")

        const fork = yield* codex.threadFork(thread.id)
        expect(fork.id).not.toBe(thread.id)
        expect(fork.info.forkedFromId).toBe(thread.id)

        const withTurns = yield* codex.threadRead(thread.id, { includeTurns: true })
        expect(withTurns.turns.length).toBe(1)

        const listed = yield* codex.threadList({})
        expect(listed.data.map((t) => t.id)).toContain(thread.id)

        yield* codex.threadArchive(thread.id)
        expect((yield* codex.threadList({})).data.map((t) => t.id)).not.toContain(thread.id)
        const back = yield* codex.threadUnarchive(thread.id)
        expect(back.id).toBe(thread.id)
        expect((yield* codex.threadList({})).data.map((t) => t.id)).toContain(thread.id)

        const resumed = yield* codex.threadResume(thread.id)
        yield* resumed.compact
        const requests = yield* fake.awaitRequests(2)
        expect(JSON.stringify(requests[1]!.body)).toContain("CONTEXT CHECKPOINT COMPACTION")
      })))

  it.live("two threads stream at once without crosstalk", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(
          FakeModel.text("alpha alpha alpha", { chunks: ["alpha ", "alpha ", "alpha"] }),
          FakeModel.text("beta beta beta", { chunks: ["beta ", "beta ", "beta"] })
        )
        const [a, b] = yield* Effect.all([codex.threadStart(), codex.threadStart()])
        const [ta, tb] = yield* Effect.all([a!.turn("one"), b!.turn("two")])
        const [ea, eb] = yield* Effect.all([Stream.runCollect(ta!.stream), Stream.runCollect(tb!.stream)], { concurrency: 2 })
        const textA = deltasOf(Chunk.toReadonlyArray(ea!)).join("")
        const textB = deltasOf(Chunk.toReadonlyArray(eb!)).join("")
        expect(new Set([textA, textB])).toEqual(new Set(["alpha alpha alpha", "beta beta beta"]))
        expect(Chunk.toReadonlyArray(ea!).every((e) => (e.params as { threadId?: string }).threadId === a!.id)).toBe(true)
        expect(Chunk.toReadonlyArray(eb!).every((e) => (e.params as { threadId?: string }).threadId === b!.id)).toBe(true)
      })))

  it.live("a second consumer on a busy thread fails fast with TurnBusyError", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.stall(FakeModel.text("wait", { chunks: ["wa", "it"] })))
        const thread = yield* codex.threadStart()
        const turn = yield* thread.turn("first")
        const second = yield* Effect.either(thread.turn("second"))
        expect(Either.isLeft(second) && second.left._tag).toBe("TurnBusyError")
        const compact = yield* Effect.either(thread.compact)
        expect(Either.isLeft(compact) && compact.left._tag).toBe("TurnBusyError")
        yield* turn.interrupt
        const result = yield* turn.run
        expect(result.turn.status).toBe("interrupted")
      })))

  it.live("runWith streams and collects in one pass; stream and run are then used up", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.text("x"))
        const thread = yield* codex.threadStart()
        const turn = yield* thread.turn("hi")
        const seen: Array<string> = []
        const result = yield* turn.runWith((e) => Effect.sync(() => seen.push(e.method)))
        expect(result.finalResponse).toEqual(Option.some("x"))
        expect(seen.at(-1)).toBe("turn/completed")
        expect(seen).toContain("item/agentMessage/delta")
        const again = yield* Effect.either(Stream.runDrain(turn.stream))
        expect(Either.isLeft(again) && again.left._tag).toBe("TurnConsumedError")
      })))
})

describe("configuration", () => {
  it.live("layerConfig reads the configuration from Config (secrets redacted)", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(FakeModel.text("configured"))
      const provider = ConfigProvider.fromMap(
        new Map([["CODEX_HOME", fake.codexHome], ["WORKSPACE", fake.workspace], ["OPENAI_API_KEY", "sk-test-not-a-real-key"]])
      )
      const context = yield* Layer.build(
        Codex.layerConfig({
          codexHome: Config.string("CODEX_HOME"),
          cwd: Config.string("WORKSPACE"),
          apiKey: Config.redacted("OPENAI_API_KEY")
        }).pipe(Layer.provide(Approvals.declineAll), Layer.provide(Layer.setConfigProvider(provider)))
      )
      const codex = Context.get(context, Codex.Codex)
      expect(codex.connection.server.codexHome).toBe(fake.codexHome)
      const result = yield* Effect.flatMap(codex.threadStart(), (thread) => thread.run("hi"))
      expect(result.finalResponse).toEqual(Option.some("configured"))
    }).pipe(Effect.scoped, Effect.timeout("90 seconds")))
})

describe("interrupt and steer", () => {
  it.live("interrupt mid-stream ends the turn as interrupted", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.stall(FakeModel.text("partial text", { chunks: ["partial ", "text"] })))
        const thread = yield* codex.threadStart()
        const turn = yield* thread.turn("talk")
        const { fiber, firstDelta } = yield* consumeInBackground(turn.stream)
        yield* firstDelta
        yield* turn.interrupt
        const events = yield* Fiber.join(fiber)
        const last = events.at(-1)!
        expect(last.method).toBe("turn/completed")
        expect((last.params as { turn: { status: string } }).turn.status).toBe("interrupted")
      })))

  it.live("interrupting the consuming fiber interrupts the turn on the server", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.stall(FakeModel.text("partial text", { chunks: ["partial ", "text"] })), FakeModel.text("next"))
        const thread = yield* codex.threadStart()
        const observer = yield* codex.connection.subscribe
        const turn = yield* thread.turn("talk")
        const { fiber, firstDelta } = yield* consumeInBackground(turn.stream)
        yield* firstDelta
        yield* Fiber.interrupt(fiber)
        expect(yield* completionOf(observer, turn.id)).toEqual(Option.some("interrupted"))
        // The thread is free again and the next turn knows the previous one was aborted.
        const next = yield* thread.run("again")
        expect(next.finalResponse).toEqual(Option.some("next"))
      })))

  it.live("steer adds input to the running turn", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.stall(FakeModel.text("counting", { chunks: ["one ", "two"] })), FakeModel.text("steered answer"))
        const thread = yield* codex.threadStart()
        const turn = yield* thread.turn("count")
        const { fiber, firstDelta } = yield* consumeInBackground(turn.stream)
        yield* firstDelta
        yield* turn.steer("also say steered")
        const events = yield* Fiber.join(fiber)
        const completed = events.at(-1)!
        expect((completed.params as { turn: { status: string } }).turn.status).toBe("completed")
        const [, second] = yield* fake.awaitRequests(2)
        expect(FakeModel.lastUserText(second!)).toBe("also say steered")
      })))
})

describe("approvals", () => {
  const commandTurn = (setup: Setup) =>
    withCodex(
      (codex, fake) =>
        Effect.gen(function*() {
          yield* fake.enqueue(FakeModel.execCommand("echo approved-run > ran.txt && echo ran-ok", { login: false }), FakeModel.text("finished"))
          const thread = yield* codex.threadStart({ approvalPolicy: "untrusted", sandbox: "workspace-write" })
          const result = yield* thread.run("run the command")
          const requests = yield* fake.awaitRequests(2)
          const ran = fs.existsSync(path.join(fake.workspace, "ran.txt"))
          return { result, ran, workspace: fake.workspace, toolOutput: FakeModel.toolOutputs(requests[1]!)[0]?.output ?? "" }
        }),
      setup
    )

  it.live("an accepted command runs and its output is in the item", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const { result, ran, workspace, toolOutput } = yield* commandTurn({
        approvals: Approvals.layer({
          commandExecution: (params) => Effect.sync(() => seen.push(params.command ?? "")).pipe(Effect.as({ decision: "accept" as const }))
        })
      })
      expect(seen[0]).toContain("echo approved-run")
      const item = result.items.find((i) => i.type === "commandExecution") as { status: string; aggregatedOutput: string }
      expect(item.status).toBe("completed")
      expect(item.aggregatedOutput).toContain("ran-ok")
      expect(toolOutput).toContain("ran-ok")
      expect(item).toMatchObject({ cwd: workspace })
      expect(ran).toBe(true)
    }))

  it.live("a declined command does not run and the model is told", () =>
    Effect.gen(function*() {
      const { result, ran, toolOutput } = yield* commandTurn({
        approvals: Approvals.layer({ commandExecution: () => Effect.succeed({ decision: "decline" as const }) })
      })
      expect(result.items.find((i) => i.type === "commandExecution")).toMatchObject({ status: "declined" })
      expect(toolOutput).toContain("rejected by user")
      expect(ran).toBe(false)
    }))

  it.live("with no handler the command is declined (fail closed)", () =>
    Effect.gen(function*() {
      const { result, ran } = yield* commandTurn({})
      expect(result.items.find((i) => i.type === "commandExecution")).toMatchObject({ status: "declined" })
      expect(ran).toBe(false)
    }))

  it.live("a failing handler declines and the connection goes on", () =>
    Effect.gen(function*() {
      const { result, ran } = yield* commandTurn({
        approvals: Approvals.layer({ commandExecution: () => Effect.fail("boom") })
      })
      expect(result.items.find((i) => i.type === "commandExecution")).toMatchObject({ status: "declined" })
      expect(ran).toBe(false)
    }))

  const patch = "*** Begin Patch\n*** Add File: hello.txt\n+hello from patch\n*** End Patch"
  const patchTurn = (decision: "accept" | "decline") =>
    withCodex(
      (codex, fake) =>
        Effect.gen(function*() {
          yield* fake.enqueue(FakeModel.applyPatch(patch), FakeModel.text("patched"))
          const thread = yield* codex.threadStart({ approvalPolicy: "untrusted", sandbox: "workspace-write" })
          const result = yield* thread.run("add hello.txt")
          return { result, written: fs.existsSync(path.join(fake.workspace, "hello.txt")) }
        }),
      { approvals: Approvals.layer({ fileChange: () => Effect.succeed({ decision }) }) }
    )

  it.live("apply_patch writes its file only when accepted", () =>
    Effect.gen(function*() {
      const accepted = yield* patchTurn("accept")
      expect(accepted.written).toBe(true)
      expect(accepted.result.items.find((i) => i.type === "fileChange")).toMatchObject({ status: "completed" })
      const declined = yield* patchTurn("decline")
      expect(declined.written).toBe(false)
      expect(declined.result.items.find((i) => i.type === "fileChange")).toMatchObject({ status: "declined" })
    }))

  it.live("per-thread handlers override the connection's", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.execCommand("echo per-thread", { login: false }), FakeModel.text("ok"))
        const thread = yield* codex.threadStart(
          { approvalPolicy: "untrusted", sandbox: "workspace-write" },
          { approvals: { commandExecution: () => Effect.succeed({ decision: "accept" as const }) } }
        )
        const result = yield* thread.run("go")
        expect(result.items.find((i) => i.type === "commandExecution")).toMatchObject({ status: "completed" })
      })))
})

describe("structured output", () => {
  const Answer = Schema.Struct({ answer: Schema.String, confidence: Schema.Number })

  it.live("the JSON Schema goes on the wire and the answer is decoded", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.text(`{"answer":"42","confidence":0.9}`))
        const thread = yield* codex.threadStart()
        const result = yield* thread.run("answer", { outputSchema: Answer })
        expect(result.output).toEqual({ answer: "42", confidence: 0.9 })
        const [request] = yield* fake.awaitRequests(1)
        const format = (request!.body as { text: { format: { name: string; schema: { required: Array<string> } } } }).text.format
        expect(format.name).toBe("codex_output_schema")
        expect(format.schema.required).toEqual(["answer", "confidence"])
      })))

  it.live("a mismatch fails with StructuredOutputError keeping the raw text", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.text(`{"answer":42}`))
        const thread = yield* codex.threadStart()
        const result = yield* Effect.either(thread.run("answer", { outputSchema: Answer }))
        expect(Either.isLeft(result)).toBe(true)
        if (Either.isLeft(result)) {
          expect(result.left._tag).toBe("StructuredOutputError")
          expect((result.left as { raw: string }).raw).toBe(`{"answer":42}`)
        }
      })))
})

describe("failed turns", () => {
  const failing = (reply: FakeModel.Reply) =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(reply)
        const thread = yield* codex.threadStart()
        return yield* Effect.flip(thread.run("fail please"))
      }))

  it.live("HTTP 500 gives TurnFailedError with internalServerError", () =>
    Effect.gen(function*() {
      const error = yield* failing(FakeModel.httpError(500))
      expect(error._tag).toBe("TurnFailedError")
      expect(error).toMatchObject({ codexErrorInfo: "internalServerError" })
    }))

  it.live("context_length_exceeded gives TurnFailedError with contextWindowExceeded", () =>
    Effect.gen(function*() {
      const error = yield* failing(FakeModel.failed("context_length_exceeded", "too long"))
      expect(error._tag).toBe("TurnFailedError")
      expect(error).toMatchObject({ codexErrorInfo: "contextWindowExceeded" })
    }))
})
