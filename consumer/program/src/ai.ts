/**
 * `@effect-codex/app-server/ai` as a user gets it: `@effect/ai` (0.37, installed by the user next
 * to the SDK, its optional peer dependency) and a `Toolkit` served to the real pinned `codex`
 * binary against `FakeModel`, compiled with `tsc` and run with plain `node`.
 */
// The modules, not the `@effect/ai` barrel: the barrel's declarations (McpServer, via @effect/rpc and
// @effect/experimental) need the DOM lib (`Transferable`, `Storage`), which this project, without
// skipLibCheck, does not have; what the SDK's `ai` subpath itself declares needs only these two.
import * as AiTool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { Codex } from "@effect-codex/app-server"
import { CodexTools } from "@effect-codex/app-server/ai"
import { FakeModel } from "@effect-codex/testing"
import { Effect, Option, Schema } from "effect"

const Add = AiTool.make("add", {
  description: "Adds two numbers",
  parameters: { a: Schema.Number, b: Schema.Number },
  success: Schema.Number
})
const toolkit = Toolkit.make(Add)
const handlers = toolkit.toLayer({ add: ({ a, b }) => Effect.succeed(a + b) })

const needsHandlers = Effect.gen(function*() {
  const fake = yield* FakeModel.FakeModel
  yield* fake.enqueue(FakeModel.toolCall("add", { a: 2, b: 40 }, { callId: "call-add" }), FakeModel.text("2 + 40 = 42."))
  const codex = yield* Codex.Codex
  const thread = yield* codex.threadStart({}, { tools: CodexTools.fromToolkit(toolkit) })
  const result = yield* thread.run("What is 2 + 40? Use the tool.")
  const output = yield* fake.awaitToolOutput("call-add")
  console.log(`ai: tool output ${JSON.stringify(output.output)}, answer ${JSON.stringify(Option.getOrNull(result.finalResponse))}`)
}).pipe(Effect.scoped)

// @ts-expect-error: the toolkit's handlers are required until their layer is provided
const missing: Effect.Effect<void, unknown, FakeModel.FakeModel | Codex.Codex> = needsHandlers
void missing

Effect.runPromise(needsHandlers.pipe(Effect.provide(handlers), Effect.provide(FakeModel.layerCodex(undefined, { experimentalApi: true })))).then(
  () => console.log("ai: done"),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
