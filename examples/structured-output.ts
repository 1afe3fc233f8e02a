/**
 * Structured output: pass an Effect `Schema` as `outputSchema`. Its JSON Schema goes to the model
 * (the Responses API's `text.format`), and the final answer is decoded with the same Schema into
 * `result.output` — typed. An answer that does not match fails with `StructuredOutputError`,
 * which keeps the raw text.
 *
 *   npx tsx --conditions=source examples/structured-output.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Schema } from "effect"
import { Codex } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

const City = Schema.Struct({
  city: Schema.String,
  country: Schema.String,
  population: Schema.Number.annotations({ description: "inhabitants of the city proper" }),
  landmarks: Schema.Array(Schema.String).annotations({ description: "three famous landmarks" })
})
type City = typeof City.Type

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  yield* backend.script(
    FakeModel.text(JSON.stringify({
      city: "Lisbon",
      country: "Portugal",
      population: 545000,
      landmarks: ["Belém Tower", "Jerónimos Monastery", "São Jorge Castle"]
    })),
    FakeModel.text(`{"city":"Porto","population":"about 230k"}`) // does not match the Schema
  )
  const codex = yield* Codex.Codex
  const thread = yield* codex.threadStart()

  const result = yield* thread.run("Facts about Lisbon.", { outputSchema: City })
  const city: City = result.output // typed by the Schema
  yield* Console.log(`decoded output: ${city.city}, ${city.country} — population ${city.population.toLocaleString("en-US")}`)
  yield* Console.log(`landmarks: ${city.landmarks.join("; ")}`)

  // Offline: the JSON Schema the model was given.
  const [request] = yield* backend.requests
  if (request !== undefined) {
    const format = (request.body as { readonly text?: { readonly format?: { readonly name?: string; readonly schema?: unknown } } }).text?.format
    yield* Console.log(`model received text.format "${format?.name}": ${JSON.stringify(format?.schema)}`)
  }

  // A non-matching answer (offline the fake sends one; a real model normally complies).
  yield* thread.run("Facts about Porto.", { outputSchema: City }).pipe(
    Effect.flatMap((porto) => Console.log(`decoded output: ${porto.output.city}`)),
    Effect.catchTag("StructuredOutputError", (error) =>
      Console.log(`StructuredOutputError: the answer does not match the Schema; raw text: ${error.raw}`))
  )
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex()), NodeRuntime.runMain)
