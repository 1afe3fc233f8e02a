/**
 * Testing your own program that uses the SDK, two ways:
 *
 * - `MockAppServer` (no binary, in memory): your test plays the server — it sees exactly what your
 *   program sent and answers with the messages it wants. Fast and deterministic; good for the
 *   logic around the SDK (error mapping, what you send).
 * - `FakeModel` (the real `codex app-server` binary, a scripted model on 127.0.0.1): the real agent
 *   loop runs — commands, approvals, sandbox — with the model's replies scripted.
 *
 * Run as a script it prints one PASS/FAIL line per test (and exits 1 on a failure). In your project
 * the same test bodies go into `@effect/vitest`:
 *
 * ```ts
 * import { it } from "@effect/vitest"
 * it.scoped("answers from the mock", () => answersFromTheMock.pipe(Effect.provide(MockCodex)))
 * ```
 *
 *   npx tsx --conditions=source examples/testing-your-program.ts
 */
import { Cause, Console, Data, Effect, Exit, Fiber, Layer, Option } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Approvals, Codex } from "@effect-codex/app-server"
import { FakeModel, Fixtures, MockAppServer } from "@effect-codex/testing"

// ---------------------------------------------------------------------------------------------
// The program under test (your code)
// ---------------------------------------------------------------------------------------------

export class AskError extends Data.TaggedError("AskError")<{ readonly reason: string; readonly retryable: boolean }> {}

/** Asks Codex one question on a fresh thread and returns the answer. */
export const ask = (question: string) =>
  Effect.gen(function*() {
    const codex = yield* Codex.Codex
    const thread = yield* codex.threadStart({ approvalPolicy: "untrusted", sandbox: "workspace-write" })
    const result = yield* thread.run(question)
    return Option.getOrElse(result.finalResponse, () => "")
  }).pipe(
    Effect.scoped,
    Effect.catchTag("TurnFailedError", (error) => new AskError({ reason: error.message, retryable: error.info.retryable }))
  )

/** Your approval policy: the agent may run commands, but never `rm`. */
export const NoDeletes = Approvals.layer({
  commandExecution: (params) =>
    Effect.succeed({ decision: /(^|[\s'"])rm\s/.test(params.command ?? "") ? ("decline" as const) : ("accept" as const) })
})

// ---------------------------------------------------------------------------------------------
// Tests with MockAppServer: the test plays codex app-server (wire JSON, as the server sends it)
// ---------------------------------------------------------------------------------------------

const MockCodex = Codex.layerTransport().pipe(Layer.provideMerge(MockAppServer.layer()))

/** Answers `thread/start` with a thread, then plays the server's side of `turn/start` up to the
 * answer; `Fixtures` has the wire payloads. Returns both requests. */
const serveThreadAndTurn = (peer: MockAppServer.Peer) =>
  Effect.gen(function*() {
    const start = yield* Fixtures.serveThreadStart(peer, "thread-1", { approvalPolicy: "untrusted", sandbox: { type: "workspaceWrite" } })
    const turn = yield* peer.expectRequest("turn/start")
    yield* peer.respond(turn.id, { turn: Fixtures.turn("turn-1", "inProgress") })
    return { start, turn }
  })

class TestFailure extends Data.TaggedError("TestFailure")<{ readonly message: string }> {}
const check = (ok: boolean, message: string) => (ok ? Effect.void : Effect.fail(new TestFailure({ message })))

const answersFromTheMock = Effect.gen(function*() {
  const peer = yield* MockAppServer.MockAppServer
  const asking = yield* Effect.fork(ask("What is 6 × 7?"))
  const { start, turn } = yield* serveThreadAndTurn(peer)
  yield* peer.notify("item/completed", { threadId: "thread-1", turnId: "turn-1", completedAtMs: 0, item: Fixtures.agentMessage("msg-1", "42") })
  yield* peer.notify("turn/completed", { threadId: "thread-1", turn: Fixtures.turn("turn-1", "completed") })
  const answer = yield* Fiber.join(asking)

  yield* check(answer === "42", `expected the answer "42", got ${JSON.stringify(answer)}`)
  const startParams = start.params as { readonly approvalPolicy?: string; readonly sandbox?: string }
  yield* check(startParams.approvalPolicy === "untrusted" && startParams.sandbox === "workspace-write", "thread/start settings")
  const input = (turn.params as { readonly input: ReadonlyArray<{ readonly type: string; readonly text?: string }> }).input
  yield* check(input[0]?.text === "What is 6 × 7?", `turn/start input: ${JSON.stringify(input)}`)
})

const mapsAFailedTurn = Effect.gen(function*() {
  const peer = yield* MockAppServer.MockAppServer
  const asking = yield* Effect.fork(Effect.either(ask("Anything?")))
  yield* serveThreadAndTurn(peer)
  yield* peer.notify("turn/completed", {
    threadId: "thread-1",
    turn: Fixtures.turn("turn-1", "failed", { error: { message: "You've hit your usage limit.", codexErrorInfo: "usageLimitExceeded" } })
  })
  const outcome = yield* Fiber.join(asking)
  if (outcome._tag === "Right") return yield* new TestFailure({ message: "ask should fail" })
  const error = outcome.left
  if (error._tag !== "AskError") return yield* new TestFailure({ message: `expected an AskError, got ${error._tag}` })
  yield* check(!error.retryable, "a usage limit is not retryable")
  yield* check(error.reason === "You've hit your usage limit.", `reason: ${error.reason}`)
})

// ---------------------------------------------------------------------------------------------
// Tests with FakeModel: the real codex binary, a scripted model
// ---------------------------------------------------------------------------------------------

/** Runs `body` with a fresh FakeModel and a real codex app-server pointed at it. */
const withFakeModel = <A, E>(
  body: (fake: FakeModel.FakeModel.Service) => Effect.Effect<A, E, Codex.Codex>,
  approvals: Layer.Layer<Approvals.Approvals> = Approvals.declineAll
) =>
  Effect.gen(function*() {
    const fake = yield* FakeModel.make()
    return yield* body(fake).pipe(
      Effect.provide(Codex.layer(fake.config).pipe(Layer.provide(approvals)))
    )
  }).pipe(Effect.scoped)

const answersFromTheFakeModel = withFakeModel((fake) =>
  Effect.gen(function*() {
    yield* fake.enqueue(FakeModel.text("42"))
    const answer = yield* ask("What is 6 × 7?")
    yield* check(answer === "42", `expected "42", got ${JSON.stringify(answer)}`)
    const [request] = yield* fake.requests
    yield* check(request !== undefined && FakeModel.lastUserText(request) === "What is 6 × 7?", "the model got the question")
  })
)

const policyKeepsFiles = withFakeModel(
  (fake) =>
    Effect.gen(function*() {
      const file = Path.join(fake.workspace, "important.txt")
      Fs.writeFileSync(file, "keep me\n")
      yield* fake.enqueue(FakeModel.execCommand("rm -f important.txt", { login: false }), FakeModel.text("I was not allowed to delete it."))
      const answer = yield* ask("Delete important.txt.")
      yield* check(Fs.existsSync(file), "important.txt was deleted")
      yield* check(answer === "I was not allowed to delete it.", `answer: ${answer}`)
      const [, second] = yield* fake.awaitRequests(2)
      const output = second === undefined ? "" : FakeModel.toolOutputs(second)[0]?.output ?? ""
      yield* check(output.includes("rejected"), `the model should be told the command was rejected, got ${JSON.stringify(output)}`)
    }),
  NoDeletes
)

const readsAreAllowed = withFakeModel(
  (fake) =>
    Effect.gen(function*() {
      Fs.writeFileSync(Path.join(fake.workspace, "notes.md"), "buy milk\n")
      yield* fake.enqueue(FakeModel.execCommand("cat notes.md", { login: false }), FakeModel.text("It says: buy milk."))
      yield* ask("What does notes.md say?")
      const [, second] = yield* fake.awaitRequests(2)
      const output = second === undefined ? "" : FakeModel.toolOutputs(second)[0]?.output ?? ""
      yield* check(output.includes("buy milk"), `the command output should reach the model, got ${JSON.stringify(output)}`)
    }),
  NoDeletes
)

// ---------------------------------------------------------------------------------------------
// A tiny runner, so that this file runs as a script
// ---------------------------------------------------------------------------------------------

const tests: ReadonlyArray<readonly [string, Effect.Effect<void, unknown>]> = [
  ["MockAppServer: ask returns the agent's answer and sends the right settings", Effect.scoped(Effect.provide(answersFromTheMock, MockCodex))],
  ["MockAppServer: a failed turn becomes a non-retryable AskError", Effect.scoped(Effect.provide(mapsAFailedTurn, MockCodex))],
  ["FakeModel: ask returns the model's answer", answersFromTheFakeModel],
  ["FakeModel: the NoDeletes policy stops `rm`", policyKeepsFiles],
  ["FakeModel: the NoDeletes policy lets `cat` run", readsAreAllowed]
]

const main = Effect.gen(function*() {
  let failed = 0
  for (const [name, test] of tests) {
    const started = Date.now()
    const exit = yield* Effect.exit(Effect.timeout(test, "60 seconds"))
    const ms = Date.now() - started
    if (Exit.isSuccess(exit)) {
      yield* Console.log(`PASS ${name} (${ms} ms)`)
    } else {
      failed++
      yield* Console.log(`FAIL ${name} (${ms} ms)\n${Cause.pretty(exit.cause)}`)
    }
  }
  yield* Console.log(`${tests.length - failed} passed, ${failed} failed`)
  if (failed > 0) process.exitCode = 1
})

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
