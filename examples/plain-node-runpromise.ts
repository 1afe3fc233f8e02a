/**
 * Calling the Effect SDK from plain async/await code (no Effect.gen in your program).
 *
 * 1. One-shot: build an Effect and `await Effect.runPromise(...)` it — codex starts, answers, stops.
 * 2. Long-lived: a `ManagedRuntime` keeps one codex process (and the layer) alive across many
 *    `await runtime.runPromise(...)` calls; `await runtime.dispose()` shuts it down.
 * 3. Errors: `runPromise` rejects; `runPromiseExit` (or `Effect.either`) gives the typed error.
 *
 *   npx tsx --conditions=source examples/plain-node-runpromise.ts
 */
import { Cause, Effect, Exit, ManagedRuntime, Option } from "effect"
import { Codex } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

/** 1. A plain async function that asks one question. */
async function askOnce(question: string): Promise<string> {
  const program = Effect.gen(function*() {
    const backend = yield* Backend.Backend
    yield* backend.script(FakeModel.text("Paris."))
    const codex = yield* Codex.Codex
    const thread = yield* codex.threadStart()
    const result = yield* thread.run(question)
    return Option.getOrElse(result.finalResponse, () => "(no answer)")
  })
  return Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Backend.layerCodex())))
}

async function main() {
  console.log("1. one-shot Effect.runPromise")
  console.log(`   answer: ${await askOnce("What is the capital of France? One word.")}`)

  console.log("2. ManagedRuntime: one codex process for several calls")
  const runtime = ManagedRuntime.make(Backend.layerCodex())
  try {
    const backend = await runtime.runPromise(Backend.Backend)
    await runtime.runPromise(backend.script(FakeModel.text("Noted: 7."), FakeModel.text("You said 7."), FakeModel.httpError(500)))

    // threadStart needs a Scope (for per-thread approval handlers); without such handlers the
    // thread stays usable after the scope closed.
    const thread = await runtime.runPromise(Effect.scoped(Effect.flatMap(Codex.Codex, (codex) => codex.threadStart())))
    console.log(`   thread ${thread.id}`)

    const first = await runtime.runPromise(thread.run("Remember the number 7. Reply briefly."))
    console.log(`   turn 1: ${Option.getOrElse(first.finalResponse, () => "")}`)
    const second = await runtime.runPromise(thread.run("Which number did I say?"))
    console.log(`   turn 2: ${Option.getOrElse(second.finalResponse, () => "")}`)

    console.log("3. typed errors from plain code")
    // Offline the fake model answers this turn with HTTP 500; the real model answers normally.
    const exit = await runtime.runPromiseExit(thread.run("One more question."))
    if (Exit.isSuccess(exit)) {
      console.log(`   succeeded: ${Option.getOrElse(exit.value.finalResponse, () => "")}`)
    } else {
      const error = Cause.failureOption(exit.cause)
      if (Option.isSome(error) && error.value._tag === "TurnFailedError") {
        console.log(`   TurnFailedError: ${error.value.message} (kind ${error.value.info.kind}, retryable ${error.value.info.retryable})`)
      } else {
        console.log(`   failed: ${Cause.pretty(exit.cause)}`)
      }
    }
  } finally {
    await runtime.dispose() // stops codex app-server (and the fake model)
  }
  console.log("done")
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
