import * as AiTool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { FakeModel } from "@effect-codex/testing"
import { CodexTools } from "../src/ai.js"
import * as Codex from "../src/Codex.js"

// An `@effect/ai` Toolkit served to the real codex binary (against a FakeModel on 127.0.0.1): the
// model calls the tools, codex asks the client (`item/tool/call`), the toolkit's handlers run, and
// their answers reach the model on its next request.

class FullyBooked extends Schema.TaggedError<FullyBooked>()("FullyBooked", { message: Schema.String }) {}

const GetWeather = AiTool.make("get_weather", {
  description: "The weather in a city on a day",
  parameters: { city: Schema.String, day: Schema.Date },
  success: Schema.Struct({ city: Schema.String, day: Schema.Date, celsius: Schema.Number })
})

const BookTable = AiTool.make("book_table", {
  description: "Books a table in a restaurant",
  parameters: { restaurant: Schema.String, people: Schema.Int },
  success: Schema.Struct({ confirmation: Schema.String }),
  failure: FullyBooked
})

const toolkit = Toolkit.make(GetWeather, BookTable)

describe("CodexTools (codex app-server, FakeModel)", () => {
  it.live("a Toolkit's handlers answer the model's calls; the next requests carry a result and a failure", () => {
    const calls: Array<unknown> = []
    const handlers = toolkit.toLayer({
      get_weather: ({ city, day }) => Effect.sync(() => calls.push({ tool: "get_weather", city, day })).pipe(Effect.as({ city, day, celsius: 21 })),
      book_table: ({ people, restaurant }) =>
        Effect.sync(() => calls.push({ tool: "book_table", restaurant, people })).pipe(
          Effect.zipRight(Effect.fail(new FullyBooked({ message: `${restaurant} is fully booked for ${people}` })))
        )
    })
    return Effect.gen(function*() {
      const fake = yield* FakeModel.FakeModel
      const codex = yield* Codex.Codex
      yield* fake.enqueue(
        FakeModel.toolCall("get_weather", { city: "Paris", day: "2026-06-01T00:00:00.000Z" }, { callId: "call-weather" }),
        FakeModel.toolCall("book_table", { restaurant: "Chez Ada", people: 4 }, { callId: "call-book" }),
        FakeModel.text("Sunny, 21°C; Chez Ada is fully booked.")
      )
      const thread = yield* codex.threadStart({}, { tools: CodexTools.fromToolkit(toolkit) })
      const result = yield* thread.run("Weather in Paris on June 1st, and a table for 4 at Chez Ada?")

      expect(Option.getOrUndefined(result.finalResponse)).toBe("Sunny, 21°C; Chez Ada is fully booked.")
      // the handlers ran with decoded parameters
      expect(calls).toEqual([
        { tool: "get_weather", city: "Paris", day: new Date("2026-06-01T00:00:00.000Z") },
        { tool: "book_table", restaurant: "Chez Ada", people: 4 }
      ])

      const requests = yield* fake.requests
      expect(requests).toHaveLength(3)
      // the model was offered both tools, with the parameters' JSON Schema
      const offered = (requests[0]!.body as { tools: ReadonlyArray<{ name?: string; description?: string; parameters?: unknown }> }).tools
      expect(offered.find((t) => t.name === "get_weather")).toMatchObject({
        description: "The weather in a city on a day",
        parameters: { type: "object", required: ["city", "day"], properties: { city: { type: "string" } } }
      })
      expect(offered.find((t) => t.name === "book_table")).toMatchObject({
        parameters: { type: "object", required: ["restaurant", "people"], properties: { people: { type: "integer" } } }
      })
      // each next request carries the previous call's output: the encoded success, then the failure's message
      const weather = FakeModel.toolOutputs(requests[1]!).find((o) => o.callId === "call-weather")
      expect(JSON.parse(weather!.output)).toEqual({ city: "Paris", day: "2026-06-01T00:00:00.000Z", celsius: 21 })
      const booking = yield* fake.awaitToolOutput("call-book")
      expect(FakeModel.toolOutputs(requests[2]!).map((o) => o.callId)).toContain("call-book")
      expect(booking.output).toContain("Chez Ada is fully booked for 4")

      expect(result.toolCalls.map((c) => [c.tool, c.success])).toEqual([["get_weather", true], ["book_table", false]])
    }).pipe(
      Effect.scoped,
      Effect.provide(handlers),
      Effect.provide(FakeModel.layerCodex(undefined, { experimentalApi: true })),
      Effect.timeout("90 seconds")
    )
  })
})
