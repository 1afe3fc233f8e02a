/**
 * `thread.run`: run a turn to its end and read the `RunResult` — the final answer, every item the
 * turn produced, token usage (what this `turn` used, the `last` model call and the `total` of the
 * thread) and the turn itself.
 * A second turn on the same thread continues the conversation.
 *
 *   npx tsx --conditions=source examples/run-turn.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Option } from "effect"
import { Codex, type Turn } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

const usage = (result: Turn.RunResult) =>
  Option.match(result.usage, {
    onNone: () => "usage: (not reported)",
    onSome: (u) =>
      `usage: this turn ${u.turn.totalTokens} tokens, last call ${u.last.inputTokens} in / ${u.last.outputTokens} out; ` +
      `thread total ${u.total.totalTokens} tokens`
  })

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  yield* backend.script(
    FakeModel.response(
      [
        FakeModel.reasoning("Two primes below ten, then their product."),
        FakeModel.text("Two primes: 3 and 7. Their product is 21.")
      ],
      {
        usage: FakeModel.usage(120, 30, { reasoning: 12 })
      }
    ),
    FakeModel.text("Their sum is 10.")
  )

  const codex = yield* Codex.Codex
  const thread = yield* codex.threadStart()

  const first = yield* thread.run("Name two primes below ten and multiply them. Be brief.")
  yield* Console.log(`turn 1 (${first.turn.id}): status ${first.turn.status}`)
  yield* Console.log(`  final answer: ${Option.getOrElse(first.finalResponse, () => "(none)")}`)
  yield* Console.log(`  items: ${first.items.map((item) => item.type).join(", ")}`)
  yield* Console.log(`  ${usage(first)}`)

  const second = yield* thread.run("And their sum?")
  yield* Console.log(`turn 2 (${second.turn.id}): status ${second.turn.status}`)
  yield* Console.log(`  final answer: ${Option.getOrElse(second.finalResponse, () => "(none)")}`)
  yield* Console.log(`  ${usage(second)}`)

  // Offline we can look at what the model received: the second request carries the first turn.
  const requests = yield* backend.requests
  if (requests.length >= 2) {
    const history = JSON.stringify(FakeModel.inputItems(requests[1]!))
    yield* Console.log(`the 2nd model request carries turn 1: ${history.includes("Their product is 21")}`)
  }
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex()), NodeRuntime.runMain)
