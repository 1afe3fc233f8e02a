/**
 * Model selection: `codex.models()` lists what the server offers (every page, hidden ones with
 * `includeHidden`); pick one and start a thread with it.
 *
 *   npx tsx --conditions=source examples/model-selection.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Option } from "effect"
import { Codex } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  yield* backend.script(FakeModel.text("Hello from the chosen model."))
  const codex = yield* Codex.Codex

  const models = yield* codex.models()
  yield* Console.log(`${models.length} models:`)
  for (const m of models) {
    const efforts = m.supportedReasoningEfforts.map((e) => e.reasoningEffort).join("/")
    yield* Console.log(`  ${m.isDefault ? "*" : " "} ${m.model.padEnd(16)} ${m.displayName.padEnd(14)} efforts ${efforts}`)
  }

  // With a real model: the default. Offline: gpt-5.5, a model whose requests the FakeModel can
  // answer (the newest catalog models send their tools in a different form).
  const chosen = backend.mode === "offline"
    ? models.find((m) => m.model === "gpt-5.5")
    : models.find((m) => m.isDefault)
  if (chosen === undefined) return yield* Effect.dieMessage("no suitable model in model/list")
  yield* Console.log(`chosen: ${chosen.model} (${chosen.description})`)

  const thread = yield* codex.threadStart({ model: chosen.model })
  yield* Console.log(`thread ${thread.id} started with model ${chosen.model}`)
  const result = yield* thread.run("Say hello in five words.")
  yield* Console.log(`answer: ${Option.getOrElse(result.finalResponse, () => "(none)")}`)

  const [request] = yield* backend.requests
  if (request !== undefined) {
    yield* Console.log(`the model request names: ${(request.body as { readonly model?: string }).model}`)
  }
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex()), NodeRuntime.runMain)
