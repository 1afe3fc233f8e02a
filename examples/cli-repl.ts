/**
 * An interactive multi-turn chat in the terminal: each line you type is a turn on one thread,
 * the answer streams live, and the token usage follows each turn. `/new` starts a new thread,
 * `/exit` (or end of input) quits. Works with piped stdin too:
 *
 *   npx tsx --conditions=source examples/cli-repl.ts
 *   printf 'hello\nwhat did I say?\n/exit\n' | npx tsx --conditions=source examples/cli-repl.ts
 *
 * Offline the FakeModel is a parrot: it repeats what you said.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Exit, Option, Ref, Stream } from "effect"
import * as Readline from "node:readline"
import { Codex, type Thread, type Turn } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

const tty = process.stdin.isTTY === true
const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined
const dim = (text: string) => (color ? `\x1b[2m${text}\x1b[0m` : text)
const bold = (text: string) => (color ? `\x1b[1m${text}\x1b[0m` : text)
const write = (text: string) => Effect.sync(() => void process.stdout.write(text))

/** Lines of stdin; the interface is closed with the scope. */
const stdinLines = Effect.acquireRelease(
  Effect.sync(() => {
    const rl = Readline.createInterface({ input: process.stdin, output: process.stdout, terminal: tty, prompt: bold("you › ") })
    // Ctrl-C: hand the signal to the runtime, which interrupts the program (and closes codex).
    rl.on("SIGINT", () => {
      rl.close()
      process.kill(process.pid, "SIGINT")
    })
    return rl
  }),
  (rl) => Effect.sync(() => rl.close())
)

const usageLine = (usage: Option.Option<Turn.Usage>) =>
  Option.match(usage, {
    onNone: () => "tokens: (not reported)",
    onSome: ({ total, turn }) =>
      `tokens: this turn ${turn.inputTokens} in (${turn.cachedInputTokens} cached) / ${turn.outputTokens} out · thread total ${total.totalTokens}`
  })

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  const codex = yield* Codex.Codex
  const thread = yield* Ref.make<Thread.Thread>(yield* codex.threadStart())
  yield* Console.log(dim(`thread ${(yield* Ref.get(thread)).id} · /new starts a new thread, /exit quits`))

  const turnOf = (line: string, n: number) =>
    Effect.gen(function*() {
      // Offline: the parrot's answer for this line, usage growing with the conversation.
      const words = `You said: "${line}" (turn ${n}).`.split(/(?<= )/)
      const input = 100 * n + line.length
      yield* backend.script(FakeModel.text(words.join(""), {
        chunks: words,
        usage: { input_tokens: input, input_tokens_details: { cached_tokens: 100 * (n - 1) }, output_tokens: words.length, output_tokens_details: null, total_tokens: input + words.length }
      }))

      const turn = yield* (yield* Ref.get(thread)).turn(line)
      yield* write(bold("codex › "))
      // the collector folds the events into the turn's result (its usage: what this turn used)
      const collector = turn.collector()
      let status = "?"
      let error: string | undefined
      yield* turn.stream.pipe(
        Stream.runForEach((event) => {
          collector.add(event)
          switch (event.method) {
            case "item/agentMessage/delta":
              return write(event.params.delta)
            case "item/completed":
              return event.params.item.type === "agentMessage" ? write("\n") : Effect.void
            case "turn/completed":
              status = event.params.turn.status
              error = event.params.turn.error?.message
              return Effect.void
            default:
              return Effect.void
          }
        })
      )
      if (status === "failed") yield* Console.log(`(the turn failed: ${error ?? "unknown error"})`)
      yield* Console.log(dim(`  ${usageLine(collector.usage)}`))
    }).pipe(Effect.scoped)

  const rl = yield* stdinLines
  let turns = 0
  if (tty) rl.prompt()
  yield* Stream.fromAsyncIterable(rl, (cause) => new Cause.UnknownException(cause)).pipe(
    Stream.map((line) => line.trim()),
    Stream.takeWhile((line) => line !== "/exit"),
    Stream.runForEach((line) =>
      Effect.gen(function*() {
        if (!tty) yield* Console.log(`${bold("you › ")}${line}`)
        if (line === "/new") {
          const fresh = yield* codex.threadStart()
          yield* Ref.set(thread, fresh)
          yield* Console.log(dim(`new thread ${fresh.id}`))
        } else if (line !== "") {
          turns++
          yield* turnOf(line, turns)
        }
        if (tty) rl.prompt()
      })
    )
  )
  yield* Console.log(dim(`bye (${turns} turn${turns === 1 ? "" : "s"})`))
}).pipe(Effect.scoped)

program.pipe(
  Effect.provide(Backend.layerCodex()),
  NodeRuntime.runMain({
    teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? 0 : Cause.isInterruptedOnly(exit.cause) ? 130 : 1)
  })
)
