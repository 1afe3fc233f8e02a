import { assert, describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { FakeModel } from "@effect-codex/testing"
import * as Approvals from "../src/Approvals.js"
import * as Codex from "../src/Codex.js"
import * as Tool from "../src/Tool.js"

// Client-side tools against the real codex binary and a FakeModel on 127.0.0.1: the model calls a
// tool, codex sends `item/tool/call`, the SDK runs the handler and its answer reaches the model on
// the next request. Every wait is for an event; the timeouts are only guards.

class Database extends Context.Tag("test/Database")<Database, { readonly customer: (id: number) => string }>() {}

const withCodex = <A, E>(
  body: (codex: Codex.Codex.Service, fake: FakeModel.FakeModel.Service) => Effect.Effect<A, E, Scope.Scope | Database>,
  fakeOptions?: FakeModel.Options
) =>
  Effect.gen(function*() {
    const fake = yield* FakeModel.make(fakeOptions)
    const context = yield* Layer.build(Codex.layer({ ...fake.config, experimentalApi: true }).pipe(Layer.provide(Approvals.declineAll)))
    return yield* body(Context.get(context, Codex.Codex), fake)
  }).pipe(
    Effect.scoped,
    Effect.provideService(Database, { customer: (id) => `customer ${id}: Ada Lovelace` }),
    Effect.timeout("90 seconds")
  )

const lookupCustomer = Tool.make("lookup_customer", {
  description: "Finds a customer by id",
  parameters: Schema.Struct({ id: Schema.Number }),
  handler: ({ id }, context) => Effect.map(Database, (db) => `${db.customer(id)} (call ${context.callId})`)
})

describe("client-side tools on codex 0.171.0", () => {
  it.live("the model calls a tool: the handler runs with decoded args and its context, and its answer reaches the model", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        const seen: Array<Tool.CallContext> = []
        const tool = Tool.make("lookup_customer", {
          description: "Finds a customer by id",
          parameters: Schema.Struct({ id: Schema.NumberFromString }),
          handler: ({ id }, context) =>
            Effect.map(Database, (db) => {
              seen.push(context)
              return db.customer(id + 1)
            })
        })
        yield* fake.enqueue(
          FakeModel.toolCall("lookup_customer", { id: "6" }, { callId: "call-1" }),
          FakeModel.text("Customer 7 is Ada Lovelace.")
        )
        const thread = yield* codex.threadStart({}, { tools: [tool] })
        const result = yield* thread.run("who is customer 7?")

        const output = yield* fake.awaitToolOutput("call-1")
        expect(output.output).toBe("customer 7: Ada Lovelace")
        const [first] = yield* fake.requests
        const offered = ((first!.body as { readonly tools: unknown }).tools as ReadonlyArray<{ readonly name?: string; readonly parameters?: unknown }>)
          .find((t) => t.name === "lookup_customer")
        expect(offered?.parameters).toEqual(tool.inputSchema)

        expect(seen).toEqual([{ threadId: thread.id, turnId: result.turn.id, callId: "call-1" }])
        expect(Option.getOrThrow(result.finalResponse)).toBe("Customer 7 is Ada Lovelace.")
        expect(result.toolCalls).toHaveLength(1)
        const call = result.toolCalls[0]!
        expect(call).toMatchObject({
          callId: "call-1",
          tool: "lookup_customer",
          namespace: undefined,
          arguments: { id: "6" },
          success: true,
          contentItems: [{ type: "inputText", text: "customer 7: Ada Lovelace" }]
        })
        assert.isTrue(Option.isSome(call.duration))
      })))

  it.live("faults fail closed and the turn goes on: bad arguments, a refusal, a failure, a defect, a timeout", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        let strictCalls = 0
        const slowInterrupted = yield* Deferred.make<void>()
        class Offline extends Schema.TaggedError<Offline>()("Offline", { message: Schema.String }) {}
        const tools = [
          Tool.make("strict", {
            description: "Needs a numeric id",
            parameters: Schema.Struct({ id: Schema.Number }),
            handler: () => Effect.sync(() => ++strictCalls).pipe(Effect.as("called"))
          }),
          Tool.make("refuses", { description: "", parameters: Schema.Struct({}), handler: () => Tool.fail("not allowed for this customer") }),
          Tool.make("fails", { description: "", parameters: Schema.Struct({}), handler: () => Effect.fail(new Offline({ message: "database offline" })) }),
          Tool.make("dies", { description: "", parameters: Schema.Struct({}), handler: () => Effect.die(new Error("internal detail")) }),
          Tool.make("slow", {
            description: "",
            parameters: Schema.Struct({}),
            timeout: "300 millis",
            handler: () => Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(slowInterrupted, undefined)))
          })
        ]
        yield* fake.enqueue(
          // one model response with five calls: codex sends them to the client at once
          FakeModel.response([
            FakeModel.toolCall("strict", { id: "seven" }, { callId: "c-strict" }),
            FakeModel.toolCall("refuses", {}, { callId: "c-refuses" }),
            FakeModel.toolCall("fails", {}, { callId: "c-fails" }),
            FakeModel.toolCall("dies", {}, { callId: "c-dies" }),
            FakeModel.toolCall("slow", {}, { callId: "c-slow" })
          ]),
          FakeModel.text("I could not do it.")
        )
        const thread = yield* codex.threadStart({}, { tools })
        const result = yield* thread.run("try everything")

        const outputOf = (callId: string) => Effect.map(fake.awaitToolOutput(callId), (o) => o.output)
        expect(yield* outputOf("c-strict")).toMatch(/^invalid arguments for strict: [\s\S]*Expected number, actual "seven"/)
        expect(strictCalls).toBe(0)
        expect(yield* outputOf("c-refuses")).toBe("not allowed for this customer")
        expect(yield* outputOf("c-fails")).toBe("database offline")
        expect(yield* outputOf("c-dies")).toBe("dies: tool failed")
        expect(yield* outputOf("c-slow")).toBe("slow timed out after 300ms")
        yield* Deferred.await(slowInterrupted)

        expect(result.turn.status).toBe("completed")
        expect(Option.getOrThrow(result.finalResponse)).toBe("I could not do it.")
        // in the order the calls completed
        expect(result.toolCalls.map((c) => [c.tool, c.success]).sort()).toEqual([
          ["dies", false],
          ["fails", false],
          ["refuses", false],
          ["slow", false],
          ["strict", false]
        ])
        // the connection is still fine: another turn runs
        yield* fake.enqueue(FakeModel.text("still here"))
        expect(Option.getOrThrow((yield* thread.run("again")).finalResponse)).toBe("still here")
      })))

  it.live("two threads with different tools at once: each call goes to its own thread's tool", () =>
    withCodex(
      (codex, fake) =>
        Effect.gen(function*() {
          const whoami = (answer: string) => Tool.make("whoami", { description: "Says who answers", parameters: Schema.Struct({}), handler: () => Effect.succeed(answer) })
          const a = yield* codex.threadStart({}, { tools: [whoami("thread A's tool")] })
          const b = yield* codex.threadStart({}, { tools: [whoami("thread B's tool")] })
          const [ra, rb] = yield* Effect.all([a.run("A"), b.run("B")], { concurrency: 2 })
          expect(Option.getOrThrow(ra.finalResponse)).toBe("heard: thread A's tool")
          expect(Option.getOrThrow(rb.finalResponse)).toBe("heard: thread B's tool")
          expect((yield* fake.awaitToolOutput("call-A")).output).toBe("thread A's tool")
          expect((yield* fake.awaitToolOutput("call-B")).output).toBe("thread B's tool")
        }),
      {
        // each thread's first request calls the tool with a call id naming the thread; the follow-up echoes the answer
        respond: (request) => {
          const [output] = FakeModel.toolOutputs(request)
          return output === undefined
            ? FakeModel.toolCall("whoami", {}, { callId: `call-${FakeModel.lastUserText(request)}` })
            : FakeModel.text(`heard: ${output.output}`)
        }
      }
    ))

  it.live("interrupting a turn interrupts its running handler (its finalizer runs) and the thread goes on", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        const started = yield* Deferred.make<Tool.CallContext>()
        const finalized = yield* Deferred.make<void>()
        const wait = Tool.make("wait_for_build", {
          description: "Waits for the build",
          parameters: Schema.Struct({}),
          handler: (_, context) =>
            Deferred.succeed(started, context).pipe(
              Effect.zipRight(Effect.never),
              Effect.ensuring(Deferred.succeed(finalized, undefined))
            )
        })
        yield* fake.enqueue(FakeModel.toolCall("wait_for_build", {}, { callId: "c-wait" }))
        const thread = yield* codex.threadStart({}, { tools: [wait] })
        const turn = yield* thread.turn("wait for the build")
        const running = yield* Effect.fork(turn.run)
        const context = yield* Deferred.await(started)
        expect(context).toEqual({ threadId: thread.id, turnId: turn.id, callId: "c-wait" })
        yield* turn.interrupt
        yield* Deferred.await(finalized)
        const result = yield* Fiber.join(running)
        expect(result.turn.status).toBe("interrupted")
        yield* fake.enqueue(FakeModel.text("next turn"))
        expect(Option.getOrThrow((yield* thread.run("next")).finalResponse)).toBe("next turn")
      })))

  it.live("a namespaced tool is offered in its namespace and called with it", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        const crm = Tool.namespace("crm", "Customer records", [lookupCustomer])
        yield* fake.enqueue(
          FakeModel.toolCall("lookup_customer", { id: 3 }, { callId: "c-ns", namespace: "crm" }),
          FakeModel.text("found")
        )
        const thread = yield* codex.threadStart({}, { tools: [crm] })
        const result = yield* thread.run("find customer 3")
        const [first] = yield* fake.requests
        const offered = ((first!.body as { readonly tools: unknown }).tools as ReadonlyArray<{ readonly type?: string; readonly name?: string; readonly tools?: ReadonlyArray<{ readonly name: string }> }>)
          .find((t) => t.type === "namespace" && t.name === "crm")
        expect(offered?.tools?.map((t) => t.name)).toEqual(["lookup_customer"])
        expect((yield* fake.awaitToolOutput("c-ns")).output).toBe("customer 3: Ada Lovelace (call c-ns)")
        expect(result.toolCalls.map((c) => [c.namespace, c.tool, c.success])).toEqual([["crm", "lookup_customer", true]])
      })))

  it.live("a fork whose tools are not served gets the fail-closed answer; served again, they answer", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.text("ready"))
        const parent = yield* codex.threadStart({}, { tools: [lookupCustomer] })
        yield* parent.run("hello")

        yield* fake.enqueue(FakeModel.toolCall("lookup_customer", { id: 1 }, { callId: "c-unserved" }), FakeModel.text("no luck"))
        const unserved = yield* codex.threadFork(parent.id)
        const refused = yield* unserved.run("look up 1")
        expect(refused.toolCalls.map((c) => c.success)).toEqual([false])

        yield* fake.enqueue(FakeModel.toolCall("lookup_customer", { id: 2 }, { callId: "c-served" }), FakeModel.text("found"))
        const served = yield* codex.threadFork(parent.id, {}, { tools: [lookupCustomer] })
        const answered = yield* served.run("look up 2")
        expect(answered.toolCalls.map((c) => c.success)).toEqual([true])
        expect((yield* fake.awaitToolOutput("c-served")).output).toBe("customer 2: Ada Lovelace (call c-served)")
      })))

  it.live("ExternalMessage: thread.external starts a turn whose model request carries the output as the tool's", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        yield* fake.enqueue(FakeModel.text("Great, the build is green."))
        const thread = yield* codex.threadStart()
        const result = yield* thread.external("build_monitor", "build finished: green")
        const [request] = yield* fake.requests
        const outputs = FakeModel.toolOutputs(request!)
        expect(outputs).toEqual([{ type: "function_call_output", callId: undefined, name: "build_monitor", namespace: undefined, output: "build finished: green" }])
        expect(Option.getOrThrow(result.finalResponse)).toBe("Great, the build is green.")
        expect(result.items.map((i) => i.type)).toContain("functionCallOutput")
        expect(result.toolCalls).toEqual([])
      })))
})
