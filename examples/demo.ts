/**
 * `npm start`: one real agent turn with the pinned `codex app-server`.
 *
 * The assistant's text streams live; when the agent wants to run a shell command you are asked
 * to approve it (y/n on a terminal; approved automatically with `--yes`, or when stdin is not a
 * TTY); then the command's output, the final answer and the token usage.
 *
 * Offline by default: a FakeModel on 127.0.0.1 plays the model (reasoning, a sentence, an `ls`,
 * then an answer about what `ls` printed). With `OPENAI_API_KEY` set or a Codex login it is the
 * real model (`--offline` forces the fake).
 *
 *   npm start                 # interactive approval on a TTY
 *   npm start -- --yes        # approve without asking
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Exit, Option, Stream } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Readline from "node:readline/promises"
import { Codex, type Thread, Turn } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

const argv = process.argv.slice(2)
const autoYes = argv.includes("--yes") || argv.includes("-y")
const interactive = process.stdin.isTTY === true && !autoYes

// A few colours, only on a terminal.
const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined
const paint = (code: string) => (text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text)
const bold = paint("1")
const dim = paint("2")
const cyan = paint("36")
const green = paint("32")
const yellow = paint("33")
const red = paint("31")
const write = (text: string) => Effect.sync(() => void process.stdout.write(text))

const PROMPT = "What is in this workspace? Look with a shell command, then answer in one sentence."

/** The offline scene: files in the workspace and what the fake model answers. */
const seedWorkspace = (dir: string) =>
  Effect.sync(() => {
    Fs.writeFileSync(Path.join(dir, "hello.py"), "print('hello from the workspace')\n")
    Fs.writeFileSync(Path.join(dir, "notes.md"), "# Notes\n\nThe demo of effect-codex.\n")
    Fs.writeFileSync(Path.join(dir, "todo.txt"), "- try the examples\n")
  })

const script = [
  FakeModel.response(
    [
      FakeModel.reasoning("The user wants to know what is in the workspace; listing the files is the quickest way."),
      FakeModel.text("Let me look at the files in the workspace.", {
        chunks: ["Let me ", "look at ", "the files ", "in the ", "workspace."],
        phase: "commentary"
      }),
      FakeModel.execCommand("ls", { login: false })
    ],
    {
      usage: FakeModel.usage(1840, 62, { reasoning: 24 })
    }
  ),
  FakeModel.text("The workspace holds three files: hello.py (a one-line Python script), notes.md and todo.txt.", {
    chunks: ["The workspace ", "holds three files: ", "hello.py ", "(a one-line Python script), ", "notes.md ", "and todo.txt."],
    phase: "final_answer",
    usage: FakeModel.usage(1968, 41, { cached: 1792 })
  })
]

/** Asks y/n on the terminal (only called when stdin is a TTY). */
const ask = (question: string) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const rl = Readline.createInterface({ input: process.stdin, output: process.stdout })
      // Ctrl-C while asking: hand the signal to the runtime, which interrupts the program.
      rl.on("SIGINT", () => {
        rl.close()
        process.kill(process.pid, "SIGINT")
      })
      return rl
    }),
    (rl) => Effect.promise((signal) => rl.question(question, { signal })),
    (rl) => Effect.sync(() => rl.close())
  )

/** The approval handler of the thread: shows the command, asks (or approves automatically). */
const approveCommand = (params: { readonly command?: string | null; readonly cwd?: string | null; readonly commandActions?: ReadonlyArray<{ readonly command: string }> | null }) =>
  Effect.gen(function*() {
    const command = params.commandActions?.[0]?.command ?? params.command ?? "(unknown command)"
    yield* Console.log(`\n${yellow("?")} ${bold("codex wants to run")} ${cyan(command)} ${dim(`in ${params.cwd ?? "?"}`)}`)
    if (!interactive) {
      const why = autoYes ? "--yes" : "stdin is not a TTY"
      yield* Console.log(`  ${green("✔")} approved automatically (${why})`)
      return { decision: "accept" as const }
    }
    const answer = yield* ask(`  allow? [y/n] `)
    const accepted = /^y(es)?$/i.test(answer.trim())
    yield* Console.log(accepted ? `  ${green("✔")} approved` : `  ${red("✘")} declined`)
    return { decision: accepted ? ("accept" as const) : ("decline" as const) }
  })

const formatNumber = (n: number) => n.toLocaleString("en-US")

const usageLine = (usage: Turn.Usage) => {
  const { total } = usage
  return `tokens: ${formatNumber(total.inputTokens)} in (${formatNumber(total.cachedInputTokens)} cached) · ` +
    `${formatNumber(total.outputTokens)} out (${formatNumber(total.reasoningOutputTokens)} reasoning) · ` +
    `${formatNumber(total.totalTokens)} total`
}

/**
 * Prints a turn's events as they arrive and returns its `RunResult` (the turn's `Collector` folds the
 * events it sees; its `result` fails with `TurnFailedError` if the turn failed).
 */
const render = (turn: Turn.TurnHandle) =>
  Effect.gen(function*() {
    const collector = turn.collector()
    let thinking = false
    yield* Stream.runForEach(turn.stream, (event) => {
      collector.add(event)
      switch (event.method) {
        case "item/reasoning/summaryTextDelta":
          if (thinking) return write(dim(event.params.delta))
          thinking = true
          return write(`${dim("thinking ·")} ${dim(event.params.delta)}`)
        case "item/agentMessage/delta":
          return write(event.params.delta)
        case "item/completed": {
          const item = event.params.item
          if (item.type === "reasoning" && thinking) {
            thinking = false
            return write("\n")
          }
          if (item.type === "agentMessage") return write("\n")
          if (item.type === "commandExecution") {
            const output = (item.aggregatedOutput ?? "").replace(/\n$/, "")
            const lines = output === "" ? [] : output.split("\n").map((line) => `  ${line}`)
            const status = item.status === "completed"
              ? dim(`  ↳ exit ${item.exitCode ?? "?"} · ${item.durationMs ?? 0} ms`)
              : yellow(`  ↳ ${item.status}`)
            return Console.log([`${dim("$")} ${item.commandActions[0]?.command ?? item.command}`, ...lines, status, ""].join("\n"))
          }
          return Effect.void
        }
        case "error":
          // Transient ones, e.g. "Reconnecting... 2/5" while codex retries the model; a final
          // failure ends the turn and fails `collector.result`.
          return event.params.willRetry ? Console.log(yellow(`⚠ ${event.params.error.message}`)) : Effect.void
        default:
          return Effect.void
      }
    })
    return yield* collector.result
  })

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  const codex = yield* Codex.Codex
  yield* Console.log(dim(`codex app-server ${codex.connection.serverVersion ?? "?"} · workspace ${backend.workspace}`))
  yield* Console.log(
    dim(interactive ? "approvals: you will be asked (y/n)" : `approvals: automatic (${autoYes ? "--yes" : "stdin is not a TTY"})`)
  )
  if (backend.mode === "offline") {
    yield* Console.log(dim("the model is a scripted fake: it asks to run `ls`, then answers about the files it saw"))
  }
  yield* seedWorkspace(backend.workspace)
  yield* backend.script(...script)

  const thread: Thread.Thread = yield* codex.threadStart(
    { approvalPolicy: "untrusted", sandbox: "read-only" },
    { approvals: { commandExecution: approveCommand } }
  )
  yield* Console.log(`\n${bold("›")} ${PROMPT}\n`)

  const startedAt = Date.now()
  const turn = yield* thread.turn(PROMPT)
  const result = yield* render(turn)

  yield* Console.log(`\n${bold(green("final answer"))}  ${Option.getOrElse(result.finalResponse, () => "(none)")}`)
  yield* Console.log(Option.match(result.usage, { onNone: () => "tokens: (not reported)", onSome: usageLine }))
  yield* Console.log(dim(`turn ${result.turn.status} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`))
}).pipe(Effect.scoped)

console.log(bold("effect-codex demo") + dim(" — a Codex agent turn driven from Effect"))

/** One red line for a failure (runMain would print the whole cause). */
const reportFailure = (cause: Cause.Cause<unknown>) => {
  if (Cause.isInterruptedOnly(cause)) return Effect.void
  const error = Cause.squash(cause)
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return Console.error(red(`\n✘ the demo failed — ${message}`))
}

program.pipe(
  Effect.provide(Backend.layerCodex()),
  Effect.tapErrorCause(reportFailure),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    // Ctrl-C (the program is interrupted) exits with 130 like other command-line tools; failures with 1.
    teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? 0 : Cause.isInterruptedOnly(exit.cause) ? 130 : 1)
  })
)
