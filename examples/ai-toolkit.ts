/**
 * `@effect/ai` tools, served to Codex unchanged: an `@effect/ai` `Toolkit` and its handler layer
 * (`toolkit.toLayer(...)`) become the thread's client-side tools with
 * `CodexTools.fromToolkit(toolkit)` (from `@effect-codex/app-server/ai`). The handlers run in this
 * program when the agent calls the tools; what they need (here an `Orders` service) is provided
 * with the handler layer. A handler's failure reaches the model as a failed call with its message.
 * Client-side tools need `experimentalApi: true`.
 *
 *   npx tsx --conditions=source examples/ai-toolkit.ts
 */
import { Tool as AiTool, Toolkit } from "@effect/ai"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Context, Effect, Layer, Option, Schema } from "effect"
import { Codex } from "@effect-codex/app-server"
import { CodexTools } from "@effect-codex/app-server/ai"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

// ---- tools written for @effect/ai ---------------------------------------------------------------

class RefundRefused extends Schema.TaggedError<RefundRefused>()("RefundRefused", { message: Schema.String }) {}

const GetOrder = AiTool.make("get_order", {
  description: "Looks up an order by its id",
  parameters: { orderId: Schema.String },
  success: Schema.Struct({ orderId: Schema.String, item: Schema.String, total: Schema.Number, status: Schema.String })
})

const RefundOrder = AiTool.make("refund_order", {
  description: "Refunds an order",
  parameters: { orderId: Schema.String, reason: Schema.String },
  success: Schema.Struct({ refunded: Schema.Number }),
  failure: RefundRefused
})

const SupportTools = Toolkit.make(GetOrder, RefundOrder)

class Orders extends Context.Tag("examples/Orders")<Orders, {
  readonly find: (id: string) => { readonly item: string; readonly total: number; readonly status: string } | undefined
}>() {}

const SupportHandlers = SupportTools.toLayer(
  Effect.gen(function*() {
    const orders = yield* Orders
    return SupportTools.of({
      get_order: ({ orderId }) =>
        Effect.gen(function*() {
          yield* Console.log(`handler get_order(${JSON.stringify(orderId)})`)
          const order = orders.find(orderId)
          return order === undefined ? { orderId, item: "-", total: 0, status: "unknown" } : { orderId, ...order }
        }),
      refund_order: ({ orderId, reason }) =>
        Effect.gen(function*() {
          yield* Console.log(`handler refund_order(${JSON.stringify(orderId)}, ${JSON.stringify(reason)})`)
          const order = orders.find(orderId)
          if (order?.status !== "delivered") {
            return yield* new RefundRefused({ message: `order ${orderId} is ${order?.status ?? "unknown"}: only delivered orders can be refunded` })
          }
          return { refunded: order.total }
        })
    })
  })
).pipe(Layer.provide(Layer.succeed(Orders, { find: (id) => (id === "A-1001" ? { item: "kettle", total: 39.9, status: "shipped" } : undefined) })))

// ---- served to Codex ----------------------------------------------------------------------------

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  yield* backend.script(
    FakeModel.toolCall("get_order", { orderId: "A-1001" }, { callId: "call-get" }),
    FakeModel.toolCall("refund_order", { orderId: "A-1001", reason: "arrived broken" }, { callId: "call-refund" }),
    FakeModel.text("Order A-1001 (a kettle, 39.90) has shipped but is not delivered yet, so it cannot be refunded now.")
  )
  const codex = yield* Codex.Codex
  const tools = CodexTools.fromToolkit(SupportTools)
  yield* Console.log(`tools: ${tools.map((tool) => `${tool.name} ${JSON.stringify(tool.inputSchema)}`).join("; ")}`)
  // The tools require the handlers of SupportTools: threadStart does too, until SupportHandlers is provided.
  const thread = yield* codex.threadStart({}, { tools })
  const result = yield* thread.run("My order A-1001 arrived broken: please refund it.")
  for (const call of result.toolCalls) {
    yield* Console.log(`call ${call.tool}: ${call.success ? "ok" : "failed"} → ${call.contentItems.map((c) => (c.type === "inputText" ? c.text : c.type)).join("")}`)
  }
  yield* Console.log(`answer: ${Option.getOrElse(result.finalResponse, () => "(no answer)")}`)

  // Offline: what the model got back on its next requests (each request repeats the history: once per call).
  const outputs = new Map((yield* backend.requests).flatMap(FakeModel.toolOutputs).map((output) => [output.callId, output.output]))
  for (const [callId, output] of outputs) yield* Console.log(`model received ${callId}: ${output}`)
}).pipe(Effect.scoped, Effect.provide(SupportHandlers))

program.pipe(Effect.provide(Backend.layerCodex({ config: { experimentalApi: true } })), NodeRuntime.runMain)
