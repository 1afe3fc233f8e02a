/**
 * Thread management: name, read (with turns), fork, list, archive / unarchive, compact.
 *
 *   npx tsx --conditions=source examples/thread-lifecycle.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect } from "effect"
import { Codex } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  yield* backend.script(
    FakeModel.text("Planning the trip: Lisbon, 3 days."),
    FakeModel.text("Summary: a 3-day trip to Lisbon is being planned.") // answers the compaction
  )
  const codex = yield* Codex.Codex

  const thread = yield* codex.threadStart()
  yield* thread.run("Help me plan 3 days in Lisbon. One sentence.")
  yield* Console.log(`started and ran a turn on ${thread.id}`)

  yield* thread.setName("Lisbon trip")
  const read = yield* thread.read({ includeTurns: true })
  yield* Console.log(`setName + read: name "${read.name}", ${read.turns.length} turn(s)`)

  const fork = yield* codex.threadFork(thread.id)
  yield* Console.log(`fork: ${fork.id} (forked from ${fork.info.forkedFromId})`)

  const listed = yield* codex.threadList({})
  const ids = listed.data.map((t) => t.id)
  yield* Console.log(`list: ${listed.data.length} thread(s); has the thread: ${ids.includes(thread.id)}, has the fork: ${ids.includes(fork.id)}`)

  yield* codex.threadArchive(fork.id)
  const afterArchive = (yield* codex.threadList({})).data.map((t) => t.id)
  yield* Console.log(`archive fork: still listed: ${afterArchive.includes(fork.id)}`)
  const archived = (yield* codex.threadList({ archived: true })).data.map((t) => t.id)
  yield* Console.log(`listed with archived: true: ${archived.includes(fork.id)}`)

  const back = yield* codex.threadUnarchive(fork.id)
  yield* Console.log(`unarchive: ${back.id} is back: ${(yield* codex.threadList({})).data.some((t) => t.id === fork.id)}`)

  // Compaction runs as a turn of its own: the model is asked to summarize the conversation.
  yield* thread.compact
  yield* Console.log("compact: done")
  const requests = yield* backend.requests
  if (requests.length >= 2) {
    yield* Console.log(`the model was asked to compact: ${JSON.stringify(requests[1]!.body).includes("CONTEXT CHECKPOINT COMPACTION")}`)
  }
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex()), NodeRuntime.runMain)
