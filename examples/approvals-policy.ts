/**
 * An approval policy: the agent may run read-only commands (`ls`, `cat`, `grep`, … — what codex
 * parses as list/read/search actions) and nothing else; file changes are declined. One thread
 * gets a more permissive policy of its own.
 *
 * Without any policy the SDK fails closed: every command and file change is declined.
 *
 *   npx tsx --conditions=source examples/approvals-policy.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Approvals, Codex, type Turn } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

type CommandParams = Parameters<NonNullable<Approvals.Handlers["commandExecution"]>>[0]

const shown = (params: CommandParams) => params.commandActions?.map((a) => a.command).join(" && ") ?? params.command ?? "?"

/** Read-only when codex understood every part of the command as a list, read or search. */
const isReadOnly = (params: CommandParams) =>
  (params.commandActions ?? []).length > 0 &&
  (params.commandActions ?? []).every((a) => a.type === "listFiles" || a.type === "read" || a.type === "search")

const ReadOnlyPolicy = Approvals.layer({
  commandExecution: (params) => {
    const decision = isReadOnly(params) ? "accept" as const : "decline" as const
    return Effect.as(Console.log(`   policy: ${shown(params)} → ${decision}`), { decision })
  },
  fileChange: () => Effect.succeed({ decision: "decline" as const })
})

const commandsOf = (result: Turn.RunResult) =>
  result.items.flatMap((item) => (item.type === "commandExecution" ? [`${item.commandActions[0]?.command ?? item.command}: ${item.status}`] : []))

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  Fs.writeFileSync(Path.join(backend.workspace, "notes.md"), "remember the milk\n")
  yield* backend.script(
    // thread 1: three commands, then an answer
    FakeModel.execCommand("ls", { login: false }),
    FakeModel.execCommand("cat notes.md", { login: false }),
    FakeModel.execCommand("touch new.txt", { login: false }),
    FakeModel.text("I listed and read the files; creating new.txt was not allowed."),
    // thread 2 (its own policy): the same write, then an answer
    FakeModel.execCommand("touch new.txt", { login: false }),
    FakeModel.text("Created new.txt.")
  )
  const codex = yield* Codex.Codex
  const settings = { approvalPolicy: "untrusted", sandbox: "workspace-write" } as const
  const task = "List the files, show notes.md, then create an empty file new.txt with touch."

  yield* Console.log("thread 1 — the connection's policy (read-only commands only)")
  const thread = yield* codex.threadStart(settings)
  const first = yield* thread.run(task)
  for (const line of commandsOf(first)) yield* Console.log(`   ${line}`)
  yield* Console.log(`   new.txt exists: ${Fs.existsSync(Path.join(backend.workspace, "new.txt"))}`)

  yield* Console.log("thread 2 — a per-thread policy: anything inside the workspace")
  const trusted = yield* codex.threadStart(settings, {
    approvals: {
      commandExecution: (params) => {
        const decision = params.cwd === backend.workspace ? "accept" as const : "decline" as const
        return Effect.as(Console.log(`   thread policy: ${shown(params)} in the workspace → ${decision}`), { decision })
      }
    }
  })
  const second = yield* trusted.run("Create an empty file new.txt with touch.")
  for (const line of commandsOf(second)) yield* Console.log(`   ${line}`)
  yield* Console.log(`   new.txt exists: ${Fs.existsSync(Path.join(backend.workspace, "new.txt"))}`)
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex({ approvals: ReadOnlyPolicy })), NodeRuntime.runMain)
