/**
 * `thread.turn(...).stream`: every notification of one turn as it arrives, narrowed by `method`
 * (typed `params`), ending after `turn/completed`. Text is printed live as it streams.
 *
 *   npx tsx --conditions=source examples/stream-events.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Stream } from "effect"
import { Codex, type RpcConnection } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

/** One line per event; `undefined` for events shown otherwise (deltas). */
const describe = (event: RpcConnection.Notification): string | undefined => {
  switch (event.method) {
    case "error":
      return `error: ${event.params.error.message}${event.params.willRetry ? " (codex retries)" : ""}`
    case "warning":
      return `warning: ${event.params.message}`
    case "thread/status/changed":
      return `thread status: ${event.params.status.type}`
    case "turn/started":
      return `turn started (${event.params.turn.id})`
    case "item/started":
      return `item started: ${event.params.item.type}`
    case "item/completed": {
      const item = event.params.item
      return item.type === "agentMessage"
        ? `item completed: agentMessage ${JSON.stringify(item.text)}`
        : `item completed: ${item.type}`
    }
    case "item/reasoning/summaryTextDelta":
      return `reasoning: ${event.params.delta}`
    case "item/agentMessage/delta":
      return undefined
    case "thread/tokenUsage/updated":
      return `token usage: ${event.params.tokenUsage.total.totalTokens} tokens so far`
    case "turn/completed":
      return `turn completed: ${event.params.turn.status}`
    case "$unknown":
      return `(a notification this SDK does not know: ${event.rawMethod})`
    default:
      return event.method
  }
}

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  yield* backend.script(
    FakeModel.response([
      FakeModel.reasoning("A haiku has 5, 7 and 5 syllables."),
      FakeModel.text("Fibers wake and yield,\nerrors typed in every branch,\nscope closes, all clean.", {
        chunks: ["Fibers wake ", "and yield,\n", "errors typed ", "in every branch,\n", "scope closes, ", "all clean."]
      })
    ])
  )

  const codex = yield* Codex.Codex
  const thread = yield* codex.threadStart()
  const turn = yield* thread.turn("Write a haiku about Effect.")

  const counts = new Map<string, number>()
  let streaming = false
  yield* turn.stream.pipe(
    Stream.runForEach((event) =>
      Effect.sync(() => {
        counts.set(event.method, (counts.get(event.method) ?? 0) + 1)
        if (event.method === "item/agentMessage/delta") {
          if (!streaming) process.stdout.write("text: ")
          streaming = true
          process.stdout.write(event.params.delta.replaceAll("\n", "\n      "))
          return
        }
        if (streaming) process.stdout.write("\n")
        streaming = false
        const line = describe(event)
        if (line !== undefined) console.log(`· ${line}`)
      })
    )
  )
  yield* Console.log(`events: ${[...counts].map(([method, n]) => `${method} ×${n}`).join(", ")}`)
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex()), NodeRuntime.runMain)
