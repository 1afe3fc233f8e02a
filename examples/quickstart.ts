/**
 * Quickstart: start codex, open a thread, run one turn, print the answer.
 *
 *   npx tsx --conditions=source examples/quickstart.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Option } from "effect"
import { Codex } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  // Offline, the FakeModel answers; with a real model this line does nothing.
  yield* backend.script(FakeModel.text("Effect is a TypeScript library for typed, composable, concurrent programs."))

  const codex = yield* Codex.Codex
  const thread = yield* codex.threadStart()
  yield* Console.log(`thread ${thread.id} started`)

  const result = yield* thread.run("In one sentence: what is Effect (effect.website)?")
  yield* Console.log(`answer: ${Option.getOrElse(result.finalResponse, () => "(no answer)")}`)
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex()), NodeRuntime.runMain)
