/**
 * Approvals with the Promise facade: plain async callbacks.
 *
 * - The client's policy reads an allow-list file (async) to decide on each command.
 * - A command outside the list "asks a human" who never answers: after `timeoutMs` the request is
 *   refused (fail closed) and the callback's `signal` is aborted.
 * - One thread gets a callback of its own (it overrides the client's).
 * - Leaving a `for await` loop early (`break`) interrupts the turn on the server.
 *
 *   npx tsx --conditions=source examples/plain-node-promise-approvals.ts
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { CodexClient, type Notification } from "@effect-codex/app-server/promise"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

/** Prints the commands of a turn as they complete. */
const printCommand = (event: Notification) => {
  if (event.method !== "item/completed" || event.params.item.type !== "commandExecution") return
  const item = event.params.item
  const output = item.aggregatedOutput?.trim().replaceAll("\n", " | ") ?? ""
  console.log(`   $ ${item.commandActions[0]?.command ?? item.command} → ${item.status}${output === "" ? "" : `: ${output}`}`)
}

/** A human who never answers: resolves only when the SDK gives up (its signal is aborted). */
const askAHuman = (command: string, signal: AbortSignal) =>
  new Promise<"decline">((resolve) => {
    console.log(`   policy: "${command}" is not on the list; asking a human…`)
    signal.addEventListener("abort", () => {
      console.log("   policy: no answer in time; the SDK refused the command (its signal was aborted)")
      resolve("decline")
    })
  })

async function main() {
  await using backend = await Backend.open()
  const workspace = backend.workspace
  await Fs.writeFile(Path.join(workspace, "notes.md"), "buy milk\n")
  await Fs.writeFile(Path.join(workspace, "allowed-commands.txt"), "ls\ncat\n")
  await backend.script(
    FakeModel.execCommand("ls", { login: false }),
    FakeModel.execCommand("cat notes.md", { login: false }),
    FakeModel.execCommand("rm notes.md", { login: false }),
    FakeModel.text("Listed and read; removing was not allowed."),
    FakeModel.execCommand("touch new.txt", { login: false }),
    FakeModel.text("Created new.txt."),
    FakeModel.stall(FakeModel.text("A very long story begins", { chunks: ["A very ", "long story ", "begins"] }))
  )

  await using client = await CodexClient.start({
    ...backend.config,
    // The SDK logs a refused (timed-out) approval as a warning; this example prints its own lines.
    logLevel: "Error",
    approvals: {
      timeoutMs: 300,
      commandExecution: async (params, { signal }) => {
        const command = params.commandActions?.[0]?.command ?? params.command ?? ""
        const program = command.split(" ")[0] ?? ""
        const allowed = (await Fs.readFile(Path.join(workspace, "allowed-commands.txt"), "utf8")).split("\n")
        if (allowed.includes(program)) {
          console.log(`   policy: "${program}" is on the list → accept`)
          return { decision: "accept" }
        }
        return { decision: await askAHuman(command, signal) }
      }
    }
  })
  const settings = { approvalPolicy: "untrusted", sandbox: "workspace-write" } as const

  console.log("thread 1 — the client's policy (allow-list file)")
  const thread = await client.threadStart(settings)
  const turn = thread.runStreamed("List the files, show notes.md, then delete it.")
  for await (const event of turn) printCommand(event)
  console.log(`   answer: ${(await turn.result()).finalResponse}`)
  console.log(`   notes.md still exists: ${await Fs.access(Path.join(workspace, "notes.md")).then(() => true, () => false)}`)

  console.log("thread 2 — a callback of its own")
  const trusted = await client.threadStart(settings, {
    approvals: {
      commandExecution: async (params) => {
        console.log(`   thread policy: accept "${params.commandActions?.[0]?.command}"`)
        return { decision: "accept" }
      }
    }
  })
  const created = trusted.runStreamed("Create new.txt.")
  for await (const event of created) printCommand(event)
  console.log(`   answer: ${(await created.result()).finalResponse}`)

  console.log("leaving a for-await loop early")
  const story = trusted.runStreamed("Tell me a very long story.")
  for await (const event of story) {
    if (event.method === "item/agentMessage/delta") {
      console.log(`   first words: ${JSON.stringify(event.params.delta)} — enough, break`)
      break
    }
  }
  const status = (await trusted.read({ includeTurns: true })).turns.at(-1)?.status
  console.log(`   the turn on the server: ${status}`)
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
