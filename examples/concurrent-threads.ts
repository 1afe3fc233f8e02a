/**
 * Several threads streaming at once over one `codex app-server` process. Each turn's stream only
 * carries its own thread's events, and turns of different threads run concurrently.
 *
 * Offline, the FakeModel holds each answer open after its first words until all three model
 * requests are in flight at the same time, then lets them finish: proof that they ran together.
 *
 *   npx tsx --conditions=source examples/concurrent-threads.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Stream } from "effect"
import { Codex } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

const names = ["alpha", "beta", "gamma"] as const

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  for (const _ of names) {
    yield* backend.script(FakeModel.stall(FakeModel.text("one, two, three.", { chunks: ["one, ", "two, ", "three."] })))
  }
  const codex = yield* Codex.Codex

  if (backend.fake !== undefined) {
    const fake = backend.fake
    yield* Effect.forkScoped(Effect.gen(function*() {
      yield* fake.awaitRequests(names.length)
      yield* Console.log(`[fake] ${names.length} model requests in flight at once — letting them finish`)
      yield* fake.releaseStalls
    }))
  }

  const threads = yield* Effect.forEach(names, (name) => Effect.map(codex.threadStart(), (thread) => ({ name, thread })))
  const results = yield* Effect.forEach(
    threads,
    ({ name, thread }) =>
      Effect.gen(function*() {
        const turn = yield* thread.turn("Count to three in words.")
        let text = ""
        yield* turn.stream.pipe(
          Stream.runForEach((event) => {
            if (event.method === "item/agentMessage/delta") {
              text += event.params.delta
              return Console.log(`[${name}] ${JSON.stringify(event.params.delta)}`)
            }
            if (event.method === "turn/completed") return Console.log(`[${name}] turn ${event.params.turn.status}`)
            return Effect.void
          })
        )
        return { name, thread: thread.id, text }
      }),
    { concurrency: "unbounded" }
  )
  for (const { name, text, thread } of results) yield* Console.log(`${name} (${thread}): ${text}`)
  yield* Console.log(`${new Set(results.map((r) => r.thread)).size} threads, ${results.length} answers`)
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex()), NodeRuntime.runMain)
