/**
 * Resume a thread from a new `codex app-server` process: run a turn, shut the process down,
 * start a fresh one with the same `CODEX_HOME`, `threadResume(id)` and go on — the model sees the
 * earlier conversation (codex reloads it from the rollout on disk).
 *
 *   npx tsx --conditions=source examples/resume-thread.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Option } from "effect"
import { Codex, StdioTransport } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  yield* backend.script(FakeModel.text("Got it: the codeword is PELICAN."), FakeModel.text("The codeword was PELICAN."))

  // First process: start a thread, run a turn. Leaving the `Effect.provide` stops the process.
  const threadId = yield* Effect.gen(function*() {
    const codex = yield* Codex.Codex
    const { pid } = yield* StdioTransport.StdioTransport
    yield* Console.log(`process 1 (pid ${pid}) started`)
    const thread = yield* codex.threadStart()
    const result = yield* thread.run("Remember this codeword: PELICAN. Reply briefly.")
    yield* Console.log(`process 1: thread ${thread.id}: ${Option.getOrElse(result.finalResponse, () => "")}`)
    return thread.id
  }).pipe(Effect.scoped, Effect.provide(Codex.layer(backend.config)))
  yield* Console.log("process 1 stopped")

  // Second process, same CODEX_HOME: resume the thread by id.
  yield* Effect.gen(function*() {
    const codex = yield* Codex.Codex
    const { pid } = yield* StdioTransport.StdioTransport
    yield* Console.log(`process 2 (pid ${pid}) started`)
    const thread = yield* codex.threadResume(threadId)
    yield* Console.log(`process 2: resumed thread ${thread.id} (same id: ${thread.id === threadId})`)
    const result = yield* thread.run("What was the codeword?")
    yield* Console.log(`process 2: ${Option.getOrElse(result.finalResponse, () => "")}`)
  }).pipe(Effect.scoped, Effect.provide(Codex.layer(backend.config)))

  const requests = yield* backend.requests
  if (requests.length >= 2) {
    const carried = JSON.stringify(FakeModel.inputItems(requests[1]!)).includes("PELICAN")
    yield* Console.log(`the model request after the resume carries the first turn: ${carried}`)
  }
})

program.pipe(Effect.provide(Backend.layer()), NodeRuntime.runMain)
