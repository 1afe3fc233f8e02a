/**
 * Client-side tools with the Promise facade: the agent calls async functions of this program.
 *
 * - `lookup_order`: parameters as an Effect Schema, so `args` are decoded and typed; an unknown
 *   order is refused by throwing (the model gets `success: false` with the message).
 * - `shipping_quote`: parameters as a plain JSON Schema (`args: unknown`, checked by hand); it
 *   passes its `signal` on to the (simulated) carrier API, so an interrupted turn stops it.
 * - `result.toolCalls`: what was called, with which arguments, and whether it succeeded.
 *
 * Tools need the experimental API (`experimentalApi: true`).
 *
 *   npx tsx --conditions=source examples/plain-node-tools.ts
 */
import { setTimeout as sleep } from "node:timers/promises"
import { Schema } from "effect"
import { CodexClient, tool } from "@effect-codex/app-server/promise"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

/** The program's own data: what the tools look into. */
const orders = new Map([
  ["A-17", { item: "mechanical keyboard", weightKg: 1.2, status: "packed" }]
])

const lookupOrder = tool({
  name: "lookup_order",
  description: "Finds an order by its id (like A-17): item, weight in kg, status.",
  parameters: Schema.Struct({ orderId: Schema.String.pipe(Schema.pattern(/^[A-Z]-\d+$/)) }),
  handler: async ({ orderId }) => {
    console.log(`   tool: lookup_order(${orderId})`)
    const order = orders.get(orderId)
    if (order === undefined) throw new Error(`no order ${orderId}`)
    return JSON.stringify({ orderId, ...order })
  }
})

const shippingQuote = tool({
  name: "shipping_quote",
  description: "Quotes the shipping price of a parcel to a country.",
  parameters: {
    type: "object",
    properties: {
      weightKg: { type: "number", description: "the parcel's weight in kg" },
      country: { type: "string", description: "ISO 3166 alpha-2 code, e.g. FR" }
    },
    required: ["weightKg", "country"],
    additionalProperties: false
  },
  handler: async (args, { signal }) => {
    const { weightKg, country } = args as { weightKg?: unknown; country?: unknown }
    if (typeof weightKg !== "number" || typeof country !== "string") throw new Error("weightKg (number) and country (string) are required")
    console.log(`   tool: shipping_quote(${weightKg} kg → ${country})`)
    await sleep(50, undefined, { signal }) // the carrier's API; aborted if the call is cut short
    return `${(4.9 + weightKg * 2).toFixed(2)} EUR, 2 days`
  }
})

async function main() {
  await using backend = await Backend.open()
  await backend.script(
    FakeModel.toolCall("lookup_order", { orderId: "A-17" }),
    FakeModel.toolCall("lookup_order", { orderId: "Z-99" }),
    FakeModel.toolCall("shipping_quote", { weightKg: 1.2, country: "FR" }),
    FakeModel.text("A-17 (a mechanical keyboard, packed) ships to France for 7.30 EUR in 2 days; there is no order Z-99.")
  )

  await using client = await CodexClient.start({ ...backend.config, experimentalApi: true })
  const thread = await client.threadStart({}, { tools: [lookupOrder, shippingQuote] })

  console.log("› What do orders A-17 and Z-99 cost to ship to France?")
  const result = await thread.run("What do orders A-17 and Z-99 cost to ship to France? Use the tools.")
  console.log(`   answer: ${result.finalResponse}`)
  console.log("tool calls:")
  for (const call of result.toolCalls) {
    const answer = call.contentItems.map((item) => (item.type === "inputText" ? item.text : `[${item.type}]`)).join(" ")
    console.log(`   ${call.success ? "✓" : "✗"} ${call.tool} ${JSON.stringify(call.arguments)} → ${answer}`)
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
