import * as Fixtures from "@effect-codex/testing/Fixtures"
import * as MockAppServer from "@effect-codex/testing/MockAppServer"
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Codex from "../src/Codex.js"
import type { CodexConfig } from "../src/CodexConfig.js"
import * as Tool from "../src/Tool.js"
import * as Transport from "../src/Transport.js"

class Database extends Context.Tag("test/Database")<Database, { readonly customer: (id: number) => string }>() {}

const lookup = Tool.make("lookup_customer", {
  description: "Finds a customer by id",
  parameters: Schema.Struct({ id: Schema.Number }),
  handler: ({ id }) => Effect.map(Database, (db) => db.customer(id))
})

const Tools = { config: { experimentalApi: true } satisfies CodexConfig }

/** Codex over an in-memory app-server whose peer the test scripts. */
const connect = (config: CodexConfig = Tools.config) =>
  Effect.gen(function*() {
    const { peer, transport } = yield* MockAppServer.make()
    const context = yield* Layer.build(Codex.layerTransport(config).pipe(Layer.provide(Layer.succeed(Transport.Transport, transport))))
    return { peer, codex: yield* Effect.provide(Codex.Codex, context) }
  })

/** Starts a thread with tools while the peer answers `thread/start`; returns the thread and the request. */
const startWith = <R>(
  _codex: Codex.Codex.Service,
  peer: MockAppServer.Peer,
  threadId: string,
  start: Effect.Effect<import("../src/Thread.js").Thread, unknown, R>
) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(start)
    const request = yield* Fixtures.serveThreadStart(peer, threadId)
    return { thread: yield* Fiber.join(fiber), request }
  })

type Answer = { readonly success: boolean; readonly contentItems: ReadonlyArray<{ readonly type: string; readonly text?: string; readonly imageUrl?: string }> }
const answerOf = (reply: MockAppServer.ClientReply) => {
  assert.strictEqual(reply._tag, "Response", JSON.stringify(reply))
  return (reply as MockAppServer.ClientResponse).result as Answer
}
const textOf = (reply: MockAppServer.ClientReply) => answerOf(reply).contentItems.map((c) => c.text ?? "").join("")

/** Waits until the TestClock holds a sleep ending at `at` (a timeout's timer starts on a fiber of its own). */
const sleepScheduledAt = (at: number): Effect.Effect<void> =>
  Effect.flatMap(TestClock.sleeps(), (sleeps) => Chunk.some(sleeps, (s) => s === at) ? Effect.void : Effect.zipRight(Effect.yieldNow(), sleepScheduledAt(at)))

const db = Layer.succeed(Database, { customer: (id) => `customer ${id}: Ada Lovelace` })

describe("Tool", () => {
  describe("inputSchema", () => {
    it("is the Struct's JSON Schema, an object, without $schema", () => {
      assert.deepStrictEqual(lookup.inputSchema, {
        type: "object",
        required: ["id"],
        properties: { id: { type: "number" } },
        additionalProperties: false
      })
    })

    it("inlines references (a Class at the top, a Class inside) and keeps descriptions", () => {
      class Address extends Schema.Class<Address>("Address")({ city: Schema.String }) {}
      class Order extends Schema.Class<Order>("Order")({ id: Schema.Number.annotations({ description: "the order id" }), ship: Address }) {}
      const schema = Tool.inputSchemaOf("order", Order)
      const json = JSON.stringify(schema)
      assert.notInclude(json, "$ref")
      assert.notInclude(json, "$defs")
      assert.strictEqual(schema.type, "object")
      assert.deepStrictEqual((schema.properties as Record<string, unknown>).ship, {
        type: "object",
        required: ["city"],
        properties: { city: { type: "string" } },
        additionalProperties: false
      })
      assert.include(json, "the order id")
    })

    it("keeps $defs for a recursive Schema (a reference that cannot be inlined)", () => {
      interface Category {
        readonly name: string
        readonly children: ReadonlyArray<Category>
      }
      const Category: Schema.Schema<Category> = Schema.Struct({
        name: Schema.String,
        children: Schema.Array(Schema.suspend((): Schema.Schema<Category> => Category))
      }).annotations({ identifier: "Category" })
      const schema = Tool.inputSchemaOf("tree", Schema.Struct({ root: Category }))
      assert.strictEqual(schema.type, "object")
      const defs = schema.$defs as Record<string, { type: string }>
      assert.strictEqual(defs.Category!.type, "object")
      assert.include(JSON.stringify(schema.properties), `"$ref":"#/$defs/Category"`)
    })

    it("an empty Struct is an object without properties", () => {
      assert.deepStrictEqual(Tool.inputSchemaOf("ping", Schema.Struct({})), { type: "object", properties: {} })
    })

    it("refuses parameters that are not an object, and names codex refuses", () => {
      assert.throws(() => Tool.make("t", { description: "", parameters: Schema.String, handler: () => Effect.succeed("") }), /must be an object Schema/)
      assert.throws(() => Tool.make("a.b", { description: "", parameters: Schema.Struct({}), handler: () => Effect.succeed("") }), /must match/)
      assert.throws(() => Tool.namespace("crm", "", []), /at least one tool/)
      assert.throws(() => Tool.toSpecs([lookup, lookup]), /duplicate tool name: lookup_customer/)
    })

    it("toSpecs: functions and namespaces as codex takes them", () => {
      const find = Tool.make("find", { description: "Find", parameters: Schema.Struct({ q: Schema.String }), handler: ({ q }) => Effect.succeed(q) })
      assert.deepStrictEqual(Tool.toSpecs([Tool.namespace("crm", "CRM tools", [find]), find]), [
        { type: "namespace", name: "crm", description: "CRM tools", tools: [{ type: "function", name: "find", description: "Find", inputSchema: find.inputSchema }] },
        { type: "function", name: "find", description: "Find", inputSchema: find.inputSchema }
      ])
    })
  })

  describe("messageOf", () => {
    it("an error's message, else its name; a string; else the JSON", () => {
      assert.strictEqual(Tool.messageOf(new Error("db offline")), "db offline")
      assert.strictEqual(Tool.messageOf(new TypeError()), "TypeError (no message)")
      assert.strictEqual(Tool.messageOf("plain"), "plain")
      assert.strictEqual(Tool.messageOf({ code: 7 }), `{"code":7}`)
      assert.strictEqual(Tool.messageOf(undefined), "undefined")
    })
  })

  describe("types", () => {
    it("handler requirements flow into threadStart; args are the decoded type", () => {
      const typed = Tool.make("typed", {
        description: "",
        parameters: Schema.Struct({ id: Schema.NumberFromString, tags: Schema.Array(Schema.String) }),
        handler: (args, context) => {
          expectTypeOf(args).toEqualTypeOf<{ readonly id: number; readonly tags: ReadonlyArray<string> }>()
          expectTypeOf(context.callId).toEqualTypeOf<string>()
          // @ts-expect-error: args.id is a number, not a string
          args.id.toUpperCase()
          return Effect.succeed("ok")
        }
      })
      expectTypeOf(typed).toEqualTypeOf<Tool.Tool<never>>()
      expectTypeOf(lookup).toEqualTypeOf<Tool.Tool<Database>>()
      expectTypeOf(Tool.namespace("crm", "", [lookup, typed])).toEqualTypeOf<Tool.Namespace<Database>>()
      const requirements = (codex: Codex.Codex.Service) => ({
        none: codex.threadStart(),
        withTools: codex.threadStart({}, { tools: [lookup, typed] }),
        inNamespace: codex.threadFork("t", {}, { tools: [Tool.namespace("crm", "", [lookup])] })
      })
      type R<T> = T extends Effect.Effect<infer _A, infer _E, infer R> ? R : never
      type Of = ReturnType<typeof requirements>
      expectTypeOf<R<Of["none"]>>().toEqualTypeOf<Scope.Scope>()
      expectTypeOf<R<Of["withTools"]>>().toEqualTypeOf<Scope.Scope | Database>()
      expectTypeOf<R<Of["inNamespace"]>>().toEqualTypeOf<Scope.Scope | Database>()
    })
  })

  describe("serving (MockAppServer)", () => {
    it.scoped("threadStart sends dynamicTools and routes the thread's calls to the handler, with decoded args and context", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect()
        const seen: Array<unknown> = []
        const echo = Tool.make("echo", {
          description: "Echoes",
          parameters: Schema.Struct({ n: Schema.NumberFromString }),
          handler: (args, context) => Effect.sync(() => seen.push({ args, context })).pipe(Effect.as(`n+1 = ${args.n + 1}`))
        })
        const { request } = yield* startWith(codex, peer, "thread-1", codex.threadStart({ model: "m" }, { tools: [echo, lookup] }).pipe(Effect.provide(db)))
        const params = request.params as { model: string; dynamicTools: Array<{ name: string; inputSchema: unknown }> }
        assert.strictEqual(params.model, "m")
        assert.deepStrictEqual(params.dynamicTools.map((t) => t.name), ["echo", "lookup_customer"])
        const reply = yield* Fixtures.serveToolCall(peer, { tool: "echo", callId: "c1", arguments: { n: "41" } })
        assert.deepStrictEqual(answerOf(reply), { success: true, contentItems: [{ type: "inputText", text: "n+1 = 42" }] })
        assert.deepStrictEqual(seen, [{ args: { n: 41 }, context: { threadId: "thread-1", turnId: "turn-1", callId: "c1" } }])
        // the service from the context at threadStart
        assert.strictEqual(textOf(yield* Fixtures.serveToolCall(peer, { tool: "lookup_customer", arguments: { id: 7 } })), "customer 7: Ada Lovelace")
      }))

    it.scoped("faults fail closed: bad arguments (handler not called), failure, Tool.fail, defect, unknown tool", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect()
        let calls = 0
        class Refused extends Schema.TaggedError<Refused>()("Refused", { message: Schema.String }) {}
        const tools = [
          Tool.make("strict", {
            description: "",
            parameters: Schema.Struct({ id: Schema.Number }),
            handler: () => Effect.sync(() => calls++).pipe(Effect.as("called"))
          }),
          Tool.make("refuses", { description: "", parameters: Schema.Struct({}), handler: () => Tool.fail("not allowed for this customer") }),
          Tool.make("fails", { description: "", parameters: Schema.Struct({}), handler: () => Effect.fail(new Refused({ message: "db offline" })) }),
          Tool.make("fails_plain", { description: "", parameters: Schema.Struct({}), handler: () => Effect.fail({ code: 7 }) }),
          Tool.make("dies", { description: "", parameters: Schema.Struct({}), handler: () => Effect.die(new Error("secret internals")) })
        ] as const
        yield* startWith(codex, peer, "thread-1", codex.threadStart({}, { tools }))
        const bad = answerOf(yield* Fixtures.serveToolCall(peer, { tool: "strict", arguments: { id: "seven" } }))
        assert.isFalse(bad.success)
        assert.match(bad.contentItems[0]!.text!, /^invalid arguments for strict: [\s\S]*Expected number, actual "seven"/)
        assert.strictEqual(calls, 0)
        const missing = answerOf(yield* Fixtures.serveToolCall(peer, { tool: "strict", arguments: {} }))
        assert.match(missing.contentItems[0]!.text!, /id[\s\S]*is missing/)
        assert.deepStrictEqual(answerOf(yield* Fixtures.serveToolCall(peer, { tool: "refuses", arguments: {} })), Tool.failure("not allowed for this customer"))
        assert.deepStrictEqual(answerOf(yield* Fixtures.serveToolCall(peer, { tool: "fails", arguments: {} })), Tool.failure("db offline"))
        assert.deepStrictEqual(answerOf(yield* Fixtures.serveToolCall(peer, { tool: "fails_plain", arguments: {} })), Tool.failure(`{"code":7}`))
        const died = answerOf(yield* Fixtures.serveToolCall(peer, { tool: "dies", arguments: {} }))
        assert.deepStrictEqual(died, Tool.failure("dies: tool failed"))
        const unknown = answerOf(yield* Fixtures.serveToolCall(peer, { tool: "nope", namespace: "zzz", arguments: {} }))
        assert.isFalse(unknown.success)
        assert.match(unknown.contentItems[0]!.text!, /unknown tool zzz\.nope/)
        // the connection is fine
        assert.strictEqual(textOf(yield* Fixtures.serveToolCall(peer, { tool: "strict", arguments: { id: 1 } })), "called")
      }))

    it.scoped("a success Schema: the result is sent as its encoded JSON", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect()
        const stock = Tool.make("stock", {
          description: "",
          parameters: Schema.Struct({ sku: Schema.String }),
          success: Schema.Struct({ sku: Schema.String, count: Schema.Number, checkedAt: Schema.DateFromString }),
          handler: ({ sku }) => Effect.succeed({ sku, count: 3, checkedAt: new Date("2026-12-03T00:00:00.000Z") })
        })
        yield* startWith(codex, peer, "thread-1", codex.threadStart({}, { tools: [stock] }))
        assert.deepStrictEqual(JSON.parse(textOf(yield* Fixtures.serveToolCall(peer, { tool: "stock", arguments: { sku: "A1" } }))), {
          sku: "A1",
          count: 3,
          checkedAt: "2026-12-03T00:00:00.000Z"
        })
        // a `Schema.Void` result has no JSON: it is sent as `null`, not as a text item without text
        const ping = Tool.make("ping", { description: "", parameters: Schema.Struct({}), success: Schema.Void, handler: () => Effect.void })
        yield* startWith(codex, peer, "thread-2", codex.threadStart({}, { tools: [ping] }))
        assert.deepStrictEqual(answerOf(yield* Fixtures.serveToolCall(peer, { threadId: "thread-2", tool: "ping", arguments: {} })), {
          success: true,
          contentItems: [{ type: "inputText", text: "null" }]
        })
      }))

    it.scoped("content: images and mixed content", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect()
        const chart = Tool.make("chart", {
          description: "",
          parameters: Schema.Struct({}),
          handler: () => Effect.succeed(Tool.content(["the chart:", Tool.image("https://example.invalid/chart.png")]))
        })
        yield* startWith(codex, peer, "thread-1", codex.threadStart({}, { tools: [chart] }))
        assert.deepStrictEqual(answerOf(yield* Fixtures.serveToolCall(peer, { tool: "chart", arguments: {} })), {
          success: true,
          contentItems: [{ type: "inputText", text: "the chart:" }, { type: "inputImage", imageUrl: "https://example.invalid/chart.png" }]
        })
      }))

    it.scoped("timeouts (TestClock): the tool's own, else CodexConfig.toolTimeout; the handler is interrupted", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect({ experimentalApi: true, toolTimeout: "30 seconds" })
        const interrupted: Array<string> = []
        const running = { own: yield* Deferred.make<void>(), default: yield* Deferred.make<void>() }
        const hang = (name: "own" | "default", timeout?: "5 seconds") =>
          Tool.make(name, {
            description: "",
            parameters: Schema.Struct({}),
            ...(timeout === undefined ? {} : { timeout }),
            handler: () =>
              Deferred.succeed(running[name], undefined).pipe(
                Effect.zipRight(Effect.never),
                Effect.onInterrupt(() => Effect.sync(() => interrupted.push(name)))
              )
          })
        yield* startWith(codex, peer, "thread-1", codex.threadStart({}, { tools: [hang("own", "5 seconds"), hang("default")] }))
        const own = yield* Effect.fork(Fixtures.serveToolCall(peer, { tool: "own", arguments: {} }))
        const byDefault = yield* Effect.fork(Fixtures.serveToolCall(peer, { tool: "default", callId: "c2", arguments: {} }))
        yield* Deferred.await(running.own)
        yield* Deferred.await(running.default)
        yield* sleepScheduledAt(5_000)
        yield* sleepScheduledAt(30_000)
        yield* TestClock.adjust("4999 millis")
        assert.isNull(own.unsafePoll())
        yield* TestClock.adjust("1 millis")
        assert.deepStrictEqual(answerOf(yield* Fiber.join(own)), Tool.failure("own timed out after 5s"))
        assert.deepStrictEqual(interrupted, ["own"])
        yield* TestClock.adjust("24999 millis")
        assert.isNull(byDefault.unsafePoll())
        yield* TestClock.adjust("1 millis")
        assert.deepStrictEqual(answerOf(yield* Fiber.join(byDefault)), Tool.failure("default timed out after 30s"))
        assert.deepStrictEqual(interrupted, ["own", "default"])
      }))

    it.scoped("the default toolTimeout is 5 minutes", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect()
        const started = yield* Deferred.make<void>()
        const slow = Tool.make("slow", {
          description: "",
          parameters: Schema.Struct({}),
          handler: () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never)
        })
        yield* startWith(codex, peer, "thread-1", codex.threadStart({}, { tools: [slow] }))
        const call = yield* Effect.fork(Fixtures.serveToolCall(peer, { tool: "slow", arguments: {} }))
        yield* Deferred.await(started)
        yield* sleepScheduledAt(300_000)
        yield* TestClock.adjust("299 seconds")
        assert.isNull(call.unsafePoll())
        yield* TestClock.adjust("1 seconds")
        assert.deepStrictEqual(answerOf(yield* Fiber.join(call)), Tool.failure("slow timed out after 5m"))
      }))

    it.scoped("calls of a turn run concurrently; the turn's completion interrupts those still running", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect()
        const started = yield* Deferred.make<void>()
        const finalized: Array<string> = []
        let running = 0
        let most = 0
        const wait = Tool.make("wait", {
          description: "",
          parameters: Schema.Struct({ name: Schema.String }),
          handler: ({ name }) =>
            Effect.gen(function*() {
              running++
              most = Math.max(most, running)
              if (running === 2) yield* Deferred.succeed(started, undefined)
              return yield* Effect.never
            }).pipe(Effect.ensuring(Effect.sync(() => {
              running--
              finalized.push(name)
            })))
        })
        yield* startWith(codex, peer, "thread-1", codex.threadStart({}, { tools: [wait] }))
        const a = yield* Effect.fork(Fixtures.serveToolCall(peer, { tool: "wait", callId: "a", arguments: { name: "a" } }))
        const b = yield* Effect.fork(Fixtures.serveToolCall(peer, { tool: "wait", callId: "b", arguments: { name: "b" } }))
        yield* Deferred.await(started)
        assert.strictEqual(most, 2)
        // another turn's completion does not touch them
        yield* peer.notify("turn/completed", { threadId: "thread-1", turn: Fixtures.turn("turn-0", "completed") })
        yield* Effect.yieldNow()
        assert.deepStrictEqual(finalized, [])
        yield* peer.notify("turn/completed", { threadId: "thread-1", turn: Fixtures.turn("turn-1", "interrupted") })
        assert.deepStrictEqual(answerOf(yield* Fiber.join(a)), Tool.failure("wait was interrupted"))
        assert.deepStrictEqual(answerOf(yield* Fiber.join(b)), Tool.failure("wait was interrupted"))
        assert.deepStrictEqual(finalized.sort(), ["a", "b"])
      }))

    it.scoped("closing the thread's scope interrupts its running calls; then calls get the fail-closed answer", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect()
        const entered = yield* Deferred.make<void>()
        const finalized = yield* Deferred.make<void>()
        const wait = Tool.make("wait", {
          description: "",
          parameters: Schema.Struct({}),
          handler: () => Effect.zipRight(Deferred.succeed(entered, undefined), Effect.never).pipe(Effect.ensuring(Deferred.succeed(finalized, undefined)))
        })
        const scope = yield* Scope.make()
        yield* startWith(codex, peer, "thread-1", Scope.extend(codex.threadStart({}, { tools: [wait] }), scope))
        const call = yield* Effect.fork(Fixtures.serveToolCall(peer, { tool: "wait", arguments: {} }))
        yield* Deferred.await(entered)
        yield* Scope.close(scope, Exit.void)
        yield* Deferred.await(finalized)
        assert.deepStrictEqual(answerOf(yield* Fiber.join(call)), Tool.failure("wait was interrupted"))
        const after = answerOf(yield* Fixtures.serveToolCall(peer, { tool: "wait", arguments: {} }))
        assert.deepStrictEqual(after, { success: false, contentItems: [{ type: "inputText", text: "No handler is registered for dynamic tool calls." }] })
      }))

    it.scoped("two threads with different tools: each call goes to its own thread's tool", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect()
        const named = (thread: string) =>
          Tool.make("whoami", { description: "", parameters: Schema.Struct({}), handler: (_, context) => Effect.succeed(`${thread} tool, call on ${context.threadId}`) })
        yield* startWith(codex, peer, "thread-a", codex.threadStart({}, { tools: [named("A")] }))
        yield* startWith(codex, peer, "thread-b", codex.threadStart({}, { tools: [named("B")] }))
        const [a, b] = yield* Effect.all([
          Fixtures.serveToolCall(peer, { threadId: "thread-a", tool: "whoami", callId: "x", arguments: {} }),
          Fixtures.serveToolCall(peer, { threadId: "thread-b", tool: "whoami", callId: "y", arguments: {} })
        ], { concurrency: 2 })
        assert.strictEqual(textOf(a), "A tool, call on thread-a")
        assert.strictEqual(textOf(b), "B tool, call on thread-b")
      }))

    it.scoped("namespaced tools are found by namespace and name", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect()
        const find = (where: string) => Tool.make("find", { description: "", parameters: Schema.Struct({}), handler: () => Effect.succeed(where) })
        yield* startWith(codex, peer, "thread-1", codex.threadStart({}, { tools: [Tool.namespace("crm", "CRM", [find("in crm")]), find("top level")] }))
        assert.strictEqual(textOf(yield* Fixtures.serveToolCall(peer, { tool: "find", namespace: "crm", arguments: {} })), "in crm")
        assert.strictEqual(textOf(yield* Fixtures.serveToolCall(peer, { tool: "find", arguments: {} })), "top level")
      }))

    it.scoped("tools take precedence over approvals.toolCall for their thread; other threads keep it", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect()
        const approvals = { toolCall: () => Effect.succeed({ success: true, contentItems: [{ type: "inputText" as const, text: "by approvals" }] }) }
        const mine = Tool.make("t", { description: "", parameters: Schema.Struct({}), handler: () => Effect.succeed("by the tool") })
        yield* startWith(codex, peer, "with-tools", codex.threadStart({}, { tools: [mine], approvals }))
        yield* startWith(codex, peer, "without", codex.threadStart({}, { approvals }))
        assert.strictEqual(textOf(yield* Fixtures.serveToolCall(peer, { threadId: "with-tools", tool: "t", arguments: {} })), "by the tool")
        assert.strictEqual(textOf(yield* Fixtures.serveToolCall(peer, { threadId: "without", tool: "t", arguments: {} })), "by approvals")
      }))

    it.scoped("threadFork and threadResume serve the tools given, without sending dynamicTools", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect()
        const t = Tool.make("t", { description: "", parameters: Schema.Struct({}), handler: (_, c) => Effect.succeed(`served on ${c.threadId}`) })
        const fork = yield* Effect.fork(codex.threadFork("parent", {}, { tools: [t] }))
        const forkRequest = yield* peer.expectRequest("thread/fork")
        yield* peer.respond(forkRequest.id, Fixtures.threadStartResponse(Fixtures.thread("forked")))
        yield* Fiber.join(fork)
        const resume = yield* Effect.fork(codex.threadResume("old", {}, { tools: [t] }))
        const resumeRequest = yield* peer.expectRequest("thread/resume")
        yield* peer.respond(resumeRequest.id, Fixtures.threadStartResponse(Fixtures.thread("old")))
        yield* Fiber.join(resume)
        assert.notProperty(forkRequest.params, "dynamicTools")
        assert.notProperty(resumeRequest.params, "dynamicTools")
        assert.strictEqual(textOf(yield* Fixtures.serveToolCall(peer, { threadId: "forked", tool: "t", arguments: {} })), "served on forked")
        assert.strictEqual(textOf(yield* Fixtures.serveToolCall(peer, { threadId: "old", tool: "t", arguments: {} })), "served on old")
      }))

    it.scoped("without experimentalApi, threadStart with tools fails before sending", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect({})
        const error = yield* Effect.flip(codex.threadStart({}, { tools: [lookup] }).pipe(Effect.provide(db)))
        assert.strictEqual(error._tag, "ExperimentalApiRequiredError")
        assert.include(error.message, "thread/start.dynamicTools")
        assert.isTrue(Option.isNone(yield* peer.poll))
      }))

    it.scoped("RunResult.toolCalls lists the turn's calls; external sends toolOutput with empty input", () =>
      Effect.gen(function*() {
        const { codex, peer } = yield* connect()
        const t = Tool.make("t", { description: "", parameters: Schema.Struct({}), handler: () => Effect.succeed("ok") })
        const { thread } = yield* startWith(codex, peer, "thread-1", codex.threadStart({}, { tools: [t] }))
        const run = yield* Effect.fork(thread.run("go"))
        const start = yield* peer.expectRequest("turn/start")
        yield* peer.respond(start.id, { turn: Fixtures.turn("turn-1", "inProgress") })
        yield* Fixtures.serveToolCall(peer, { tool: "t", callId: "c1", arguments: { a: 1 } })
        yield* peer.notify("turn/completed", { threadId: "thread-1", turn: Fixtures.turn("turn-1", "completed") })
        const result = yield* Fiber.join(run)
        assert.strictEqual(result.toolCalls.length, 1)
        const [call] = result.toolCalls
        assert.deepStrictEqual<unknown>({ ...call!, duration: Option.map(call!.duration, (d) => d.toString()) }, {
          callId: "c1",
          tool: "t",
          namespace: undefined,
          arguments: { a: 1 },
          success: true,
          contentItems: [{ type: "inputText", text: "ok" }],
          duration: Option.some("Duration(1ms)")
        })

        const external = yield* Effect.fork(thread.external("monitor", Tool.content(["build green", Tool.image("data:image/png;base64,AA==")]), { namespace: "ci" }))
        const request = yield* Fixtures.serveTurn(peer, { turnId: "turn-2", text: "noted" })
        assert.deepStrictEqual(request.params, {
          threadId: "thread-1",
          input: [],
          toolOutput: {
            name: "monitor",
            namespace: "ci",
            output: [{ type: "input_text", text: "build green" }, { type: "input_image", image_url: "data:image/png;base64,AA==" }]
          }
        })
        assert.deepStrictEqual((yield* Fiber.join(external)).finalResponse, Option.some("noted"))
      }))
  })
})
