import * as AiTool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import * as Fixtures from "@effect-codex/testing/Fixtures"
import * as MockAppServer from "@effect-codex/testing/MockAppServer"
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { CodexTools } from "../src/ai.js"
import * as Codex from "../src/Codex.js"
import type { CodexConfig } from "../src/CodexConfig.js"
import * as Tool from "../src/Tool.js"
import * as Transport from "../src/Transport.js"

// `CodexTools.fromToolkit` on MockAppServer: the `@effect/ai` tools become `dynamicTools`, and the
// peer's `item/tool/call` requests run the handlers of `toolkit.toLayer(...)`.

class Inventory extends Context.Tag("test/Inventory")<Inventory, { readonly count: (sku: string) => number }>() {}

class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String, message: Schema.String }) {}

const GetStock = AiTool.make("get_stock", {
  description: "How many items of a SKU are in stock",
  parameters: { sku: Schema.String, at: Schema.Date },
  success: Schema.Struct({ sku: Schema.String, count: Schema.Number, checkedAt: Schema.DateFromString }),
  failure: OutOfStock
})

const Reserve = AiTool.make("reserve", {
  description: "Reserves items",
  parameters: { sku: Schema.String, quantity: Schema.Int },
  failure: Schema.Struct({ code: Schema.Literal("limit"), max: Schema.NumberFromString }),
  failureMode: "return"
})

const Ping = AiTool.make("ping", { description: "Answers pong", success: Schema.String })

const toolkit = Toolkit.make(GetStock, Reserve, Ping)

const seen: Array<unknown> = []

const handlers = toolkit.toLayer(
  Effect.gen(function*() {
    const inventory = yield* Inventory
    return toolkit.of({
      get_stock: ({ at, sku }) =>
        Effect.sync(() => seen.push({ sku, at })).pipe(
          Effect.zipRight(
            inventory.count(sku) === 0
              ? Effect.fail(new OutOfStock({ sku, message: `${sku} is out of stock` }))
              : Effect.succeed({ sku, count: inventory.count(sku), checkedAt: at })
          )
        ),
      reserve: ({ quantity }) => quantity > 10 ? Effect.fail({ code: "limit" as const, max: 10 }) : Effect.void,
      ping: () => Effect.succeed("pong")
    })
  })
).pipe(Layer.provide(Layer.succeed(Inventory, { count: (sku) => (sku === "A1" ? 3 : 0) })))

const config = { experimentalApi: true } satisfies CodexConfig

const connect = Effect.gen(function*() {
  const { peer, transport } = yield* MockAppServer.make()
  const context = yield* Layer.build(Codex.layerTransport(config).pipe(Layer.provide(Layer.succeed(Transport.Transport, transport))))
  return { peer, codex: yield* Effect.provide(Codex.Codex, context) }
})

/** Starts a thread while the peer answers `thread/start`; returns the request. */
const start = <R>(peer: MockAppServer.Peer, thread: Effect.Effect<unknown, unknown, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(thread)
    const request = yield* Fixtures.serveThreadStart(peer, "thread-1")
    yield* Fiber.join(fiber)
    return request
  })

type Answer = { readonly success: boolean; readonly contentItems: ReadonlyArray<{ readonly type: string; readonly text?: string }> }
const answerOf = (reply: MockAppServer.ClientReply) => {
  assert.strictEqual(reply._tag, "Response", JSON.stringify(reply))
  return (reply as MockAppServer.ClientResponse).result as Answer
}

describe("CodexTools (@effect/ai)", () => {
  it("fromToolkit: one Tool per tool, in order, with name, description and the parameters' JSON Schema", () => {
    const tools = CodexTools.fromToolkit(toolkit)
    assert.deepStrictEqual(tools.map((t) => [t.name, t.description]), [
      ["get_stock", "How many items of a SKU are in stock"],
      ["reserve", "Reserves items"],
      ["ping", "Answers pong"]
    ])
    assert.deepStrictEqual(tools[0]!.inputSchema, Tool.inputSchemaOf("get_stock", GetStock.parametersSchema))
    assert.deepStrictEqual(tools[0]!.inputSchema, {
      type: "object",
      required: ["sku", "at"],
      properties: { sku: { type: "string" }, at: { type: "string", description: "a string to be decoded into a Date" } },
      additionalProperties: false
    })
    // a tool without parameters (`EmptyParams`) is still an object
    assert.strictEqual(tools[2]!.inputSchema.type, "object")
    assert.deepStrictEqual(tools[2]!.inputSchema.properties, {})
  })

  it("a description from the parameters Schema when the tool has none; the timeout option", () => {
    const described = AiTool.make("described").setParameters(Schema.Struct({ q: Schema.String }).annotations({ description: "Searches" }))
    const [tool] = CodexTools.fromToolkit(Toolkit.make(described), { timeout: "5 seconds" })
    assert.strictEqual(tool!.description, "Searches")
    assert.strictEqual(tool!.timeout?.toString(), "Duration(5s)")
    assert.isUndefined(CodexTools.fromToolkit(toolkit)[0]!.timeout)
  })

  it("refuses provider-defined tools and names codex refuses, with a TypeError", () => {
    const WebSearch = AiTool.providerDefined({
      id: "openai.web_search",
      toolkitName: "OpenAiWebSearch",
      providerName: "web_search",
      args: {}
    })({})
    assert.throws(() => CodexTools.fromToolkit(Toolkit.make(WebSearch)), TypeError, /OpenAiWebSearch is a provider-defined tool \(web_search\)/)
    assert.throws(() => CodexTools.fromToolkit(Toolkit.make(AiTool.make("has.dot"))), TypeError, /must match/)
  })

  it("types: the handlers (and the tools' dependencies) are the tools' requirements, and flow into threadStart", () => {
    class Clock extends Context.Tag("test/Clock")<Clock, { readonly now: number }>() {}
    const WithDependency = AiTool.make("now", { success: Schema.Number, dependencies: [Clock] })
    const tools = CodexTools.fromToolkit(toolkit)
    expectTypeOf(tools).toEqualTypeOf<
      ReadonlyArray<Tool.Tool<AiTool.Handler<"get_stock"> | AiTool.Handler<"reserve"> | AiTool.Handler<"ping">>>
    >()
    expectTypeOf(CodexTools.fromToolkit(Toolkit.make(WithDependency))).toEqualTypeOf<ReadonlyArray<Tool.Tool<AiTool.Handler<"now"> | Clock>>>()
    const threads = (codex: Codex.Codex.Service) => ({
      plain: codex.threadStart({}, { tools: CodexTools.fromToolkit(toolkit) }),
      namespaced: codex.threadStart({}, { tools: [Tool.namespace("shop", "", CodexTools.fromToolkit(toolkit))] }),
      provided: codex.threadStart({}, { tools: CodexTools.fromToolkit(toolkit) }).pipe(Effect.provide(handlers))
    })
    type R<T> = T extends Effect.Effect<infer _A, infer _E, infer R> ? R : never
    type Of = ReturnType<typeof threads>
    type Handlers = Layer.Layer.Success<typeof handlers>
    expectTypeOf<R<Of["plain"]>>().toEqualTypeOf<Scope.Scope | Handlers>()
    expectTypeOf<R<Of["namespaced"]>>().toEqualTypeOf<Scope.Scope | Handlers>()
    expectTypeOf<R<Of["provided"]>>().toEqualTypeOf<Scope.Scope>()
  })

  it.scoped("serves the toolkit: dynamicTools sent, handlers run with decoded parameters, results encoded by the success Schema", () =>
    Effect.gen(function*() {
      seen.length = 0
      const { codex, peer } = yield* connect
      const request = yield* start(peer, codex.threadStart({}, { tools: CodexTools.fromToolkit(toolkit) }).pipe(Effect.provide(handlers)))
      const dynamicTools = (request.params as { dynamicTools: ReadonlyArray<{ type: string; name: string; description: string }> }).dynamicTools
      assert.deepStrictEqual(dynamicTools.map((t) => [t.type, t.name]), [["function", "get_stock"], ["function", "reserve"], ["function", "ping"]])

      const stock = answerOf(yield* Fixtures.serveToolCall(peer, { tool: "get_stock", arguments: { sku: "A1", at: "2026-01-02T03:04:05.000Z" } }))
      assert.isTrue(stock.success)
      assert.deepStrictEqual(JSON.parse(stock.contentItems[0]!.text!), { sku: "A1", count: 3, checkedAt: "2026-01-02T03:04:05.000Z" })
      // the handler got the decoded parameters (a Date), from the layer's Inventory
      assert.deepStrictEqual(seen, [{ sku: "A1", at: new Date("2026-01-02T03:04:05.000Z") }])

      assert.deepStrictEqual(answerOf(yield* Fixtures.serveToolCall(peer, { tool: "ping", arguments: {} })), {
        success: true,
        contentItems: [{ type: "inputText", text: `"pong"` }]
      })
      // a `Schema.Void` success (the default) is sent as `null`
      assert.deepStrictEqual(answerOf(yield* Fixtures.serveToolCall(peer, { tool: "reserve", arguments: { sku: "A1", quantity: 2 } })), {
        success: true,
        contentItems: [{ type: "inputText", text: "null" }]
      })
    }))

  it.scoped("faults: a failure is success: false with its message (or its failure-Schema JSON); bad parameters never reach the handler", () =>
    Effect.gen(function*() {
      seen.length = 0
      const { codex, peer } = yield* connect
      yield* start(peer, codex.threadStart({}, { tools: CodexTools.fromToolkit(toolkit) }).pipe(Effect.provide(handlers)))
      // failureMode "error", a failure with a message
      assert.deepStrictEqual(
        answerOf(yield* Fixtures.serveToolCall(peer, { tool: "get_stock", arguments: { sku: "Z9", at: "2026-01-02T00:00:00.000Z" } })),
        Tool.failure("Z9 is out of stock")
      )
      // failureMode "return", a failure without a message: encoded by its Schema (max as a string)
      assert.deepStrictEqual(
        answerOf(yield* Fixtures.serveToolCall(peer, { tool: "reserve", arguments: { sku: "A1", quantity: 11 } })),
        Tool.failure(`{"code":"limit","max":"10"}`)
      )
      seen.length = 0
      const bad = answerOf(yield* Fixtures.serveToolCall(peer, { tool: "get_stock", arguments: { sku: "A1", at: "not a date" } }))
      assert.isFalse(bad.success)
      assert.match(bad.contentItems[0]!.text!, /^invalid arguments for get_stock: [\s\S]*\["at"\][\s\S]*Expected a valid Date/)
      const fractional = answerOf(yield* Fixtures.serveToolCall(peer, { tool: "reserve", arguments: { sku: "A1", quantity: 1.5 } }))
      assert.match(fractional.contentItems[0]!.text!, /^invalid arguments for reserve: [\s\S]*integer/)
      assert.deepStrictEqual(seen, [])
    }))

  it.scoped("a result that does not match the success Schema is a failure for the model", () =>
    Effect.gen(function*() {
      const Count = AiTool.make("count", { success: Schema.Number.pipe(Schema.nonNegative()) })
      const kit = Toolkit.make(Count)
      const { codex, peer } = yield* connect
      yield* start(peer, codex.threadStart({}, { tools: CodexTools.fromToolkit(kit) }).pipe(Effect.provide(kit.toLayer({ count: () => Effect.succeed(-1) }))))
      const answer = answerOf(yield* Fixtures.serveToolCall(peer, { tool: "count", arguments: {} }))
      assert.isFalse(answer.success)
      assert.match(answer.contentItems[0]!.text!, /^the tool's result does not match its success Schema: [\s\S]*non-negative/)
    }))
})
