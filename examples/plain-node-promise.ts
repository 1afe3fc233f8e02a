/**
 * The SDK without Effect: `@effect-codex/app-server/promise` — Promises, `for await` and
 * `await using`.
 *
 * 1. `thread.run(input)` → `{ finalResponse, items, usage, turn }`
 * 2. `thread.runStreamed(input)`: iterate the events with `for await`, then `turn.result()`
 * 3. Errors are classes: `instanceof TurnFailedError` (with `info.retryable`), …
 * 4. `signal`: an `AbortSignal` stops a turn (it is interrupted on the server) → `AbortError`
 *
 *   npx tsx --conditions=source examples/plain-node-promise.ts
 */
import { AbortError, CodexClient, TurnFailedError } from "@effect-codex/app-server/promise"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

async function main() {
  await using backend = await Backend.open()
  await backend.script(
    FakeModel.text("Promises resolve once; streams keep going."), // 1.
    FakeModel.text("Async iterators pull values one at a time.", { chunks: ["Async ", "iterators ", "pull values ", "one at a time."] }), // 2.
    FakeModel.httpError(500), // 3.
    FakeModel.stall(FakeModel.text("I could go on", { chunks: ["I could ", "go on"] })), // 4. never finishes
    FakeModel.text("Still here.") // 4. the next turn
  )

  // Closed at the end of the block (or on an exception): threads, turns, then the process.
  await using client = await CodexClient.start(backend.config)
  console.log(`codex app-server ${client.serverVersion} (pid ${client.pid})`)
  const thread = await client.threadStart()

  console.log("1. run")
  const result = await thread.run("Promises vs streams, one sentence.")
  console.log(`   answer: ${result.finalResponse}`)
  console.log(`   usage: ${result.usage?.total.totalTokens ?? "?"} tokens, turn ${result.turn.status}`)

  console.log("2. runStreamed")
  const turn = thread.runStreamed("Async iterators, one sentence.")
  process.stdout.write("   streamed: ")
  for await (const event of turn) {
    if (event.method === "item/agentMessage/delta") process.stdout.write(`[${event.params.delta}]`)
  }
  process.stdout.write("\n")
  const streamed = await turn.result()
  console.log(`   result after the loop: ${streamed.finalResponse} (${streamed.items.length} items)`)

  console.log("3. errors")
  try {
    await thread.run("This one fails (offline).")
    console.log("   succeeded")
  } catch (error) {
    if (!(error instanceof TurnFailedError)) throw error
    console.log(`   TurnFailedError: ${error.message} — kind ${error.info.kind}, retryable ${error.info.retryable}`)
  }

  console.log("4. AbortSignal")
  try {
    const slow = await thread.run("Talk for as long as you like.", { signal: AbortSignal.timeout(500) })
    console.log(`   finished within 500 ms: ${slow.finalResponse}`)
  } catch (error) {
    if (!(error instanceof AbortError)) throw error
    console.log(`   AbortError: ${error.message}; the turn was interrupted on the server`)
  }
  const after = await thread.run("Are you still there?")
  console.log(`   the thread is free again: ${after.finalResponse}`)
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
