/**
 * Your own tools: functions of this program that the agent calls in the middle of a turn.
 *
 * - `lookup_order` needs an `Orders` service from the context: `threadStart` then requires
 *   `Orders` in its type, and the program provides it like any other service.
 * - `issue_refund` refuses on purpose (`Tool.fail`): the model is told why and the turn goes on.
 *
 * The agent calls both; `result.toolCalls` says what it called and what each tool answered.
 * Client-side tools need codex's experimental API (`experimentalApi: true`).
 *
 * Offline, the FakeModel plays the model: it calls `lookup_order`, then `issue_refund`, then
 * answers with what it learned.
 *
 *   npx tsx --conditions=source examples/tools.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Context, Effect, Layer, Option, Schema } from "effect"
import { Codex, Tool } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

/** The program's own service: what the tools look things up in. */
class Orders extends Context.Tag("examples/Orders")<Orders, {
  readonly find: (id: string) => Effect.Effect<Option.Option<{ readonly item: string; readonly total: number }>>
}>() {}

const OrdersInMemory = Layer.succeed(Orders, {
  find: (id) => Effect.succeed(id === "A-1001" ? Option.some({ item: "mechanical keyboard", total: 129 }) : Option.none())
})

const lookupOrder = Tool.make("lookup_order", {
  description: "Finds an order by its id (like A-1001) and returns its item and total",
  parameters: Schema.Struct({ orderId: Schema.String.annotations({ description: "The order id" }) }),
  success: Schema.Struct({ orderId: Schema.String, item: Schema.String, total: Schema.Number }),
  handler: ({ orderId }) =>
    Effect.flatMap(Orders, (orders) => orders.find(orderId)).pipe(
      Effect.flatMap(Option.match({
        onNone: () => Tool.fail(`no order ${orderId}`),
        onSome: (order) => Effect.succeed({ orderId, ...order })
      }))
    )
})

const issueRefund = Tool.make("issue_refund", {
  description: "Refunds an order",
  parameters: Schema.Struct({ orderId: Schema.String, amount: Schema.Number }),
  handler: ({ amount }) => amount > 100 ? Tool.fail(`refunds over 100 need a human (asked for ${amount})`) : Effect.succeed("refunded")
})

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  const codex = yield* Codex.Codex
  yield* backend.script(
    FakeModel.toolCall("lookup_order", { orderId: "A-1001" }, { callId: "call-lookup" }),
    FakeModel.toolCall("issue_refund", { orderId: "A-1001", amount: 129 }, { callId: "call-refund" }),
    FakeModel.text("Order A-1001 is a mechanical keyboard (129). I could not refund it: refunds over 100 need a human.")
  )
  // `threadStart` requires `Orders` here, because `lookupOrder`'s handler does
  const thread = yield* codex.threadStart({ cwd: backend.workspace }, { tools: [lookupOrder, issueRefund] })
  const result = yield* thread.run("Look up order A-1001 and refund it in full.")
  for (const call of result.toolCalls) {
    const answer = call.contentItems.map((item) => item.type === "inputText" ? item.text : `[${item.type}]`).join("")
    yield* Console.log(`${call.tool}(${JSON.stringify(call.arguments)}) -> ${call.success ? "ok" : "refused"}: ${answer}`)
  }
  yield* Console.log(`answer: ${Option.getOrElse(result.finalResponse, () => "(none)")}`)
}).pipe(Effect.scoped)

program.pipe(
  Effect.provide(Layer.merge(Backend.layerCodex({ config: { experimentalApi: true } }), OrdersInMemory)),
  NodeRuntime.runMain
)
