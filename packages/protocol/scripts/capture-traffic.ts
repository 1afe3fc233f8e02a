/**
 * Records real `codex app-server` JSON-RPC traffic into `test/fixtures/traffic-<version>.jsonl`.
 *
 * Drives the pinned native binary (stdio transport) through one scripted session against the
 * loopback FakeModel and writes every line that crossed the wire, in both directions, verbatim:
 * one `{"direction":"client"|"server","line":"<raw line>"}` object per line, in the order the
 * lines were written / read. Nothing in the lines is replaced (ids, timestamps, temp paths stay).
 *
 * Session: initialize (experimentalApi) → initialized → model/list → thread/start (untrusted,
 * workspace-write) → a streamed turn (reasoning, text deltas, token usage) → exec_command approval
 * accepted → exec_command approval declined → apply_patch file-change approval accepted → request
 * errors (turn/start on an unknown thread, an unknown method) → thread/list → thread/read →
 * a stalled turn interrupted with turn/interrupt → stdin closed, exit awaited.
 *
 * Run: `npx tsx --conditions=source packages/protocol/scripts/capture-traffic.ts`
 * (`CAPTURE_DEBUG=1` also echoes the server lines to stderr).
 *
 * @since 0.1.0
 */
import { FakeModel } from "@effect-codex/testing"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { StringDecoder } from "node:string_decoder"
import { fileURLToPath } from "node:url"
import { codexBinaryPath, codexPackageVersion } from "./binary.js"

const VERSION = codexPackageVersion()
const here = Path.dirname(fileURLToPath(import.meta.url))
const fixturePath = Path.join(here, "..", "test", "fixtures", `traffic-${VERSION}.jsonl`)
const stepTimeout = Duration.seconds(60)

interface Captured {
  readonly direction: "client" | "server"
  readonly line: string
}

interface RpcMessage {
  readonly id?: number | string
  readonly method?: string
  readonly params?: Readonly<Record<string, unknown>>
  readonly result?: Readonly<Record<string, unknown>>
  readonly error?: { readonly code: number; readonly message: string }
}

class CaptureError extends Data.TaggedError("CaptureError")<{ readonly message: string }> {}

/** A raw JSON-RPC peer over the child's stdio that records every line. */
const connect = (fake: FakeModel.FakeModel.Service) =>
  Effect.gen(function*() {
    const captured: Array<Captured> = []
    const messages: Array<RpcMessage> = []
    const waiters = new Set<() => void>()
    const exited = yield* Deferred.make<number | null>()
    const stdoutEnded = yield* Deferred.make<void>()

    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn(codexBinaryPath(), ["app-server", "--listen", "stdio://"], {
          cwd: fake.workspace,
          env: { ...process.env, CODEX_HOME: fake.codexHome },
          stdio: ["pipe", "pipe", "pipe"]
        })
      ),
      (child) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
    )
    child.on("exit", (code) => Deferred.unsafeDone(exited, Effect.succeed(code)))
    child.stderr.resume()

    // split on "\n" only, keep each line exactly as received
    const decoder = new StringDecoder("utf8")
    let buffer = ""
    const onLine = (line: string) => {
      captured.push({ direction: "server", line })
      if (process.env.CAPTURE_DEBUG) process.stderr.write(`< ${line.slice(0, 400)}\n`)
      messages.push(JSON.parse(line))
      for (const waiter of [...waiters]) waiter()
    }
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += decoder.write(chunk)
      let newline = buffer.indexOf("\n")
      while (newline >= 0) {
        onLine(buffer.slice(0, newline))
        buffer = buffer.slice(newline + 1)
        newline = buffer.indexOf("\n")
      }
    })
    child.stdout.on("end", () => {
      buffer += decoder.end()
      if (buffer.length > 0) onLine(buffer)
      buffer = ""
      Deferred.unsafeDone(stdoutEnded, Effect.void)
    })

    let nextId = 1
    const sendLine = (message: object) =>
      Effect.sync(() => {
        const line = JSON.stringify(message)
        captured.push({ direction: "client", line })
        child.stdin.write(`${line}\n`)
      })

    const waitFor = (what: string, predicate: (message: RpcMessage) => boolean, from = 0) =>
      Effect.async<RpcMessage>((resume) => {
        const check = () => {
          const found = messages.slice(from).find(predicate)
          if (found !== undefined) {
            waiters.delete(check)
            resume(Effect.succeed(found))
          }
        }
        waiters.add(check)
        check()
        return Effect.sync(() => waiters.delete(check))
      }).pipe(
        Effect.timeoutFail({ duration: stepTimeout, onTimeout: () => new CaptureError({ message: `timed out waiting for ${what}` }) })
      )

    /** Sends a request and waits for its response (result or error). */
    const request = (method: string, params: object) =>
      Effect.gen(function*() {
        const id = nextId++
        yield* sendLine({ jsonrpc: "2.0", id, method, params })
        return yield* waitFor(`response to ${method} #${id}`, (m) => m.id === id && m.method === undefined)
      })

    const expectResult = (method: string, params: object) =>
      Effect.flatMap(request(method, params), (response) =>
        response.error === undefined
          ? Effect.succeed(response.result ?? {})
          : Effect.fail(new CaptureError({ message: `${method} failed: ${response.error.message}` })))

    /** Closes stdin, then waits for the process to exit and stdout to drain. */
    const shutdown = Effect.gen(function*() {
      yield* Effect.sync(() => child.stdin.end())
      const code = yield* Deferred.await(exited)
      yield* Deferred.await(stdoutEnded)
      return code
    }).pipe(Effect.timeoutFail({ duration: stepTimeout, onTimeout: () => new CaptureError({ message: "app-server did not exit" }) }))

    return { captured, messages, sendLine, waitFor, request, expectResult, shutdown }
  })

type Peer = Effect.Effect.Success<ReturnType<typeof connect>>

/** Starts a turn and waits for its `turn/completed`; `during` runs once the turn has started. */
const turn = <A>(
  peer: Peer,
  threadId: string,
  text: string,
  during: (turnId: string, from: number) => Effect.Effect<A, CaptureError>
) =>
  Effect.gen(function*() {
    const from = peer.messages.length
    const result = yield* peer.expectResult("turn/start", { threadId, input: [{ type: "text", text }] })
    const turnId = (result.turn as { readonly id: string }).id
    yield* during(turnId, from)
    const completed = yield* peer.waitFor(
      `turn/completed of ${turnId}`,
      (m) => m.method === "turn/completed" && (m.params?.turn as { readonly id: string }).id === turnId,
      from
    )
    return (completed.params?.turn as { readonly status: string }).status
  })

/** Answers the next server request `method` (after message `from`) with `decision`. */
const answerApproval = (peer: Peer, method: string, decision: string, from: number) =>
  Effect.gen(function*() {
    const req = yield* peer.waitFor(method, (m) => m.method === method && m.id !== undefined, from)
    yield* peer.sendLine({ jsonrpc: "2.0", id: req.id, result: { decision } })
    yield* peer.waitFor(
      `serverRequest/resolved for ${String(req.id)}`,
      (m) => m.method === "serverRequest/resolved" && m.params?.requestId === req.id,
      from
    )
  })

const expectStatus = (step: string, status: string, expected: string) =>
  status === expected ? Effect.void : Effect.fail(new CaptureError({ message: `${step}: turn ${status}, expected ${expected}` }))

const session: Effect.Effect<ReadonlyArray<Captured>, CaptureError | FakeModel.FakeModelError, Scope.Scope> = Effect.gen(
  function*() {
    const fake = yield* FakeModel.make()
    const peer = yield* connect(fake)

    // handshake
    const init = yield* peer.expectResult("initialize", {
      clientInfo: { name: "effect_codex_capture", title: "effect-codex traffic capture", version: "0.1.0" },
      capabilities: { experimentalApi: true }
    })
    if (typeof init.userAgent !== "string" || !init.userAgent.includes(`/${VERSION} `)) {
      return yield* new CaptureError({ message: `expected codex ${VERSION}, got userAgent ${String(init.userAgent)}` })
    }
    yield* peer.sendLine({ jsonrpc: "2.0", method: "initialized" })

    yield* peer.expectResult("model/list", {})

    const started = yield* peer.expectResult("thread/start", { approvalPolicy: "untrusted", sandbox: "workspace-write" })
    const threadId = (started.thread as { readonly id: string }).id

    // 1. streamed turn: reasoning (summary + raw), several text deltas, token usage
    yield* fake.enqueue(
      FakeModel.response(
        [
          FakeModel.reasoning(["Thinking about ", "the greeting."], ["raw-reasoning-1 ", "raw-reasoning-2"], { id: "rs-1" }),
          FakeModel.text("Hello from the fake model.", { chunks: ["Hello ", "from ", "the ", "fake ", "model."], id: "msg-1" })
        ],
        {
          responseId: "resp-stream",
          usage: FakeModel.usage(100, 20, { cached: 40, reasoning: 7 })
        }
      )
    )
    yield* expectStatus("streamed turn", yield* turn(peer, threadId, "Say hello.", () => Effect.void), "completed")

    // 2. exec_command approval, accepted
    yield* fake.enqueue(
      FakeModel.execCommand("echo captured-output", { callId: "call-accept", yieldTimeMs: 2000, login: false }),
      FakeModel.text("The command printed captured-output.", { id: "msg-accept" })
    )
    yield* expectStatus(
      "accepted command",
      yield* turn(peer, threadId, "Run echo.", (_, from) =>
        answerApproval(peer, "item/commandExecution/requestApproval", "accept", from)),
      "completed"
    )

    // 3. exec_command approval, declined
    yield* fake.enqueue(
      FakeModel.execCommand("touch declined.txt", { callId: "call-decline", login: false }),
      FakeModel.text("Understood, I did not create the file.", { id: "msg-decline" })
    )
    yield* expectStatus(
      "declined command",
      yield* turn(peer, threadId, "Create a marker file.", (_, from) =>
        answerApproval(peer, "item/commandExecution/requestApproval", "decline", from)),
      "completed"
    )

    // 4. apply_patch file-change approval, accepted
    yield* fake.enqueue(
      FakeModel.applyPatch("*** Add File: hello.txt\n+hello from patch", { callId: "call-patch" }),
      FakeModel.text("Created hello.txt.", { id: "msg-patch" })
    )
    yield* expectStatus(
      "file change",
      yield* turn(peer, threadId, "Add hello.txt.", (_, from) =>
        answerApproval(peer, "item/fileChange/requestApproval", "accept", from)),
      "completed"
    )

    // 5. request errors
    const unknownThread = yield* peer.request("turn/start", {
      threadId: "00000000-0000-7000-8000-000000000000",
      input: [{ type: "text", text: "hi" }]
    })
    const unknownMethod = yield* peer.request("effectCodex/unknownMethod", {})
    if (unknownThread.error === undefined || unknownMethod.error === undefined) {
      return yield* new CaptureError({ message: "expected error responses" })
    }

    // 6. listings
    yield* peer.expectResult("thread/list", {})
    yield* peer.expectResult("thread/read", { threadId, includeTurns: true })

    // 7. a stalled turn, interrupted
    yield* fake.enqueue(
      FakeModel.stall(FakeModel.text("Partial answer", { chunks: ["Partial ", "answer"], id: "msg-stall" }), {
        onRelease: "truncate"
      })
    )
    yield* expectStatus(
      "interrupted turn",
      yield* turn(peer, threadId, "Take your time.", (turnId, from) =>
        Effect.gen(function*() {
          yield* peer.waitFor(
            "second delta of the stalled turn",
            (m) => m.method === "item/agentMessage/delta" && m.params?.delta === "answer",
            from
          )
          yield* peer.expectResult("turn/interrupt", { threadId, turnId })
        })),
      "interrupted"
    )

    const code = yield* peer.shutdown
    if (code !== 0) return yield* new CaptureError({ message: `app-server exited with ${String(code)}` })
    const remaining = yield* fake.remaining
    if (remaining !== 0) return yield* new CaptureError({ message: `${remaining} scripted replies were not consumed` })
    return peer.captured.slice()
  }
)

const main = Effect.gen(function*() {
  const captured = yield* Effect.scoped(session)
  const text = captured.map((entry) => JSON.stringify(entry)).join("\n") + "\n"
  yield* Effect.sync(() => {
    Fs.mkdirSync(Path.dirname(fixturePath), { recursive: true })
    Fs.writeFileSync(fixturePath, text)
  })
  yield* Effect.log(`wrote ${captured.length} lines (${text.length} bytes) to ${fixturePath}`)
})

Effect.runPromiseExit(main).then((exit) => {
  if (exit._tag === "Failure") {
    process.stderr.write(`capture failed: ${String(exit.cause)}\n`)
    process.exitCode = 1
  }
})
