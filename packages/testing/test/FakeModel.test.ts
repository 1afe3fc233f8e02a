import { Codex } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Option from "effect/Option"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Path from "node:path"
import * as Readline from "node:readline"

// -------------------------------------------------------------------------------------------------
// helpers: SSE over fetch
// -------------------------------------------------------------------------------------------------

interface SseFrame {
  readonly event: string
  readonly data: { readonly type: string; readonly [key: string]: unknown }
}

const parseSse = (text: string): ReadonlyArray<SseFrame> =>
  text
    .split("\n\n")
    .filter((frame) => frame.length > 0)
    .map((frame) => {
      const lines = frame.split("\n")
      expect(lines).toHaveLength(2)
      const [eventLine = "", dataLine = ""] = lines
      expect(eventLine.startsWith("event: ")).toBe(true)
      expect(dataLine.startsWith("data: ")).toBe(true)
      return { event: eventLine.slice("event: ".length), data: JSON.parse(dataLine.slice("data: ".length)) }
    })

const post = (fake: FakeModel.FakeModel.Service, body: unknown, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    fetch(`${fake.baseUrl}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body)
    })
  )

// -------------------------------------------------------------------------------------------------
// helpers: raw JSON-RPC client of the real binary
// -------------------------------------------------------------------------------------------------

const require = createRequire(import.meta.url)

/** The native binary of the pinned `@openai/codex`, else its node wrapper. */
const codexCommand = (): { readonly command: string; readonly prefix: ReadonlyArray<string> } => {
  const targets: Record<string, readonly [string, string]> = {
    "linux-x64": ["@openai/codex-linux-x64", "x86_64-unknown-linux-musl"],
    "linux-arm64": ["@openai/codex-linux-arm64", "aarch64-unknown-linux-musl"],
    "darwin-x64": ["@openai/codex-darwin-x64", "x86_64-apple-darwin"],
    "darwin-arm64": ["@openai/codex-darwin-arm64", "aarch64-apple-darwin"]
  }
  const target = targets[`${process.platform}-${process.arch}`]
  if (target !== undefined) {
    try {
      const root = Path.dirname(require.resolve(`${target[0]}/package.json`))
      const bin = Path.join(root, "vendor", target[1], "bin", "codex")
      if (Fs.existsSync(bin)) return { command: bin, prefix: [] }
    } catch {
      // fall through to the wrapper
    }
  }
  const wrapper = Path.join(Path.dirname(require.resolve("@openai/codex/package.json")), "bin", "codex.js")
  return { command: process.execPath, prefix: [wrapper] }
}

interface RpcMessage {
  readonly id?: number | string
  readonly method?: string
  readonly params?: Readonly<Record<string, unknown>>
  readonly result?: Readonly<Record<string, unknown>>
  readonly error?: { readonly code: number; readonly message: string }
}

interface AppServer {
  readonly messages: ReadonlyArray<RpcMessage>
  readonly send: (message: object) => void
  readonly request: (method: string, params: object) => Effect.Effect<RpcMessage>
  readonly waitFor: (predicate: (message: RpcMessage) => boolean, from?: number) => Effect.Effect<RpcMessage>
}

const guard = Duration.seconds(45)

/** Spawns `codex app-server` for `fake`; release closes stdin and waits for the exit. */
const appServer = (fake: FakeModel.FakeModel.Service): Effect.Effect<AppServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { command, prefix } = codexCommand()
    const exited = yield* Deferred.make<number | null>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = ChildProcess.spawn(command, [...prefix, "app-server", "--listen", "stdio://"], {
          cwd: fake.workspace,
          env: { ...process.env, CODEX_HOME: fake.codexHome },
          stdio: ["pipe", "pipe", "pipe"]
        })
        child.on("exit", (code) => Deferred.unsafeDone(exited, Effect.succeed(code)))
        child.stderr.resume()
        return child
      }),
      (child) =>
        Effect.sync(() => child.stdin.end()).pipe(
          Effect.zipRight(Deferred.await(exited)),
          Effect.timeout(Duration.seconds(10)),
          Effect.catchAll(() => Effect.sync(() => child.kill("SIGKILL")))
        )
    )
    const messages: Array<RpcMessage> = []
    const waiters = new Set<() => void>()
    Readline.createInterface({ input: child.stdout }).on("line", (line) => {
      messages.push(JSON.parse(line))
      for (const waiter of [...waiters]) waiter()
    })
    let nextId = 1
    const send = (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`)
    const waitFor = (predicate: (message: RpcMessage) => boolean, from = 0) =>
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
      }).pipe(Effect.timeoutFail({ duration: guard, onTimeout: () => new Error("timed out waiting for a message") }), Effect.orDie)
    const request = (method: string, params: object) =>
      Effect.suspend(() => {
        const id = nextId++
        send({ id, method, params })
        return waitFor((m) => m.id === id && m.method === undefined)
      })
    return { messages, send, request, waitFor }
  })

const startThread = (server: AppServer, threadParams: object = {}) =>
  Effect.gen(function*() {
    const init = yield* server.request("initialize", { clientInfo: { name: "fake_model_test", version: "0.0.0" } })
    expect(init.error).toBeUndefined()
    server.send({ method: "initialized" })
    const started = yield* server.request("thread/start", threadParams)
    expect(started.error).toBeUndefined()
    const thread = started.result?.thread as { readonly id: string }
    return thread.id
  })

const runTurn = (server: AppServer, threadId: string, text: string) =>
  Effect.gen(function*() {
    const from = server.messages.length
    const started = yield* server.request("turn/start", { threadId, input: [{ type: "text", text }] })
    expect(started.error).toBeUndefined()
    const turnId = (started.result?.turn as { readonly id: string }).id
    const completed = yield* server.waitFor(
      (m) => m.method === "turn/completed" && (m.params?.turn as { readonly id: string }).id === turnId,
      from
    )
    const events = server.messages.slice(from)
    return { turnId, turn: completed.params?.turn as TurnShape, events }
  })

interface TurnShape {
  readonly id: string
  readonly status: string
  readonly error: { readonly message: string; readonly codexErrorInfo: unknown } | null
}

// -------------------------------------------------------------------------------------------------
// HTTP-level tests
// -------------------------------------------------------------------------------------------------

describe("FakeModel (HTTP)", () => {
  it.scoped("writes config.toml for the mock provider on loopback", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make({ extraToml: "model_reasoning_summary = \"concise\"" })
      expect(fake.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(fake.config.codexHome).toBe(fake.codexHome)
      expect(fake.config.cwd).toBe(fake.workspace)
      expect(Fs.readdirSync(fake.workspace)).toEqual([])
      const toml = Fs.readFileSync(Path.join(fake.codexHome, "config.toml"), "utf8")
      expect(toml).toBe(
        [
          `model = "mock-model"`,
          `model_provider = "mock"`,
          `approval_policy = "never"`,
          `sandbox_mode = "read-only"`,
          `model_reasoning_summary = "concise"`,
          ``,
          `[model_providers.mock]`,
          `name = "mock"`,
          `base_url = "${fake.baseUrl}/v1"`,
          `wire_api = "responses"`,
          `request_max_retries = 0`,
          `stream_max_retries = 0`,
          ``
        ].join("\n")
      )
    }))

  it.scoped("streams a text reply as SSE frames", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(FakeModel.text("Hello world.", { chunks: ["Hello ", "world", "."], id: "msg-1" }))
      const res = yield* post(fake, { model: "mock-model", input: [] })
      expect(res.status).toBe(200)
      expect(res.headers.get("content-type")).toBe("text/event-stream")
      const frames = parseSse(yield* Effect.promise(() => res.text()))
      for (const frame of frames) expect(frame.event).toBe(frame.data.type)
      expect(frames.map((f) => f.event)).toEqual([
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_item.done",
        "response.completed"
      ])
      expect(frames.filter((f) => f.event === "response.output_text.delta").map((f) => f.data.delta)).toEqual([
        "Hello ",
        "world",
        "."
      ])
      expect(frames[1]?.data.item).toEqual({ type: "message", role: "assistant", id: "msg-1", content: [] })
      expect(frames[5]?.data.item).toEqual({
        type: "message",
        role: "assistant",
        id: "msg-1",
        content: [{ type: "output_text", text: "Hello world." }]
      })
      expect(frames[6]?.data).toEqual({
        type: "response.completed",
        response: {
          id: "resp-1",
          usage: { input_tokens: 10, input_tokens_details: null, output_tokens: 5, output_tokens_details: null, total_tokens: 15 }
        }
      })
    }))

  it.scoped("combines reasoning, a message and an exec_command call in one response", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(
        FakeModel.response(
          [FakeModel.reasoning("Thinking.", ["raw-1 ", "raw-2"]), FakeModel.text("Running it."), FakeModel.execCommand("ls", { callId: "c1", yieldTimeMs: 500 })],
          { usage: { input_tokens: 1, output_tokens: 2, total_tokens: 3 } }
        )
      )
      const res = yield* post(fake, {})
      const frames = parseSse(yield* Effect.promise(() => res.text()))
      expect(frames.map((f) => f.event)).toEqual([
        "response.created",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.output_item.done",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_item.done",
        "response.output_item.done",
        "response.completed"
      ])
      expect(frames[10]?.data.item).toEqual({
        type: "function_call",
        id: "fc-c1",
        call_id: "c1",
        name: "exec_command",
        arguments: JSON.stringify({ cmd: "ls", yield_time_ms: 500 })
      })
      expect(frames[11]?.data.response).toEqual({ id: "resp-1", usage: { input_tokens: 1, output_tokens: 2, total_tokens: 3 } })
    }))

  it.scoped("records request bodies and headers in order", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(FakeModel.text("one"), FakeModel.text("two"))
      const waiting = yield* Effect.fork(fake.awaitRequests(2))
      const first = yield* post(fake, { n: 1, input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }] }, {
        "x-test": "a"
      })
      yield* Effect.promise(() => first.text())
      const second = yield* post(fake, { n: 2 }, { "x-test": "b" })
      const secondFrames = parseSse(yield* Effect.promise(() => second.text()))
      expect(secondFrames[1]?.data.item).toMatchObject({ id: "msg-2-0" })
      const awaited = yield* Fiber.join(waiting)
      expect(awaited.map((r) => r.body)).toEqual([
        { n: 1, input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }] },
        { n: 2 }
      ])
      const requests = yield* fake.requests
      expect(requests.map((r) => [r.index, r.method, r.path, r.headers["x-test"]])).toEqual([
        [1, "POST", "/v1/responses", "a"],
        [2, "POST", "/v1/responses", "b"]
      ])
      expect(requests[0] && FakeModel.lastUserText(requests[0])).toBe("hi")
      expect(yield* fake.remaining).toBe(0)
    }))

  it.scoped("answers an HTTP error status, and 400 with a clear message when the script is empty", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(FakeModel.httpError(429, { error: { message: "slow down" } }))
      const limited = yield* post(fake, {})
      expect(limited.status).toBe(429)
      expect(yield* Effect.promise(() => limited.json())).toEqual({ error: { message: "slow down" } })
      const empty = yield* post(fake, {})
      expect(empty.status).toBe(400)
      const body = (yield* Effect.promise(() => empty.json())) as { readonly error: { readonly message: string } }
      expect(body.error.message).toContain("no scripted reply left for request #2")
    }))

  it.scoped("ends failed and truncated streams as scripted", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(
        FakeModel.failed("context_length_exceeded", "too long"),
        FakeModel.truncated(FakeModel.text("cut"))
      )
      const failedRes = yield* post(fake, {})
      const failedFrames = parseSse(yield* Effect.promise(() => failedRes.text()))
      expect(failedFrames.map((f) => f.data)).toEqual([
        { type: "response.created", response: { id: "resp-1" } },
        { type: "response.failed", response: { id: "resp-1", error: { code: "context_length_exceeded", message: "too long" } } }
      ])
      const truncatedRes = yield* post(fake, {})
      const truncatedFrames = parseSse(yield* Effect.promise(() => truncatedRes.text()))
      expect(truncatedFrames.map((f) => f.event)).toEqual([
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_item.done"
      ])
    }))

  it.effect("layer provides the service with pre-queued replies and a custom model", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.FakeModel
      expect(fake.configToml).toContain(`model = "gpt-5.5"`)
      expect(yield* fake.remaining).toBe(1)
      const res = yield* post(fake, {})
      const frames = parseSse(yield* Effect.promise(() => res.text()))
      expect(frames.map((f) => f.data.delta).filter((d) => d !== undefined)).toEqual(["queued"])
    }).pipe(Effect.provide(FakeModel.layer({ model: "gpt-5.5", replies: [FakeModel.text("queued")] }))))

  it.scoped("keeps a stalled response open until released, then completes it", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(FakeModel.stall(FakeModel.text("partial text", { chunks: ["partial ", "text"] })))
      const res = yield* post(fake, {})
      expect(res.status).toBe(200)
      const body = res.body
      if (body === null) throw new Error("no body")
      const reader = body.getReader()
      const decoder = new TextDecoder()
      let received = ""
      // read until both deltas have arrived: the response stays open after them
      while (!received.includes(`"delta":"text"`)) {
        const chunk = yield* Effect.promise(() => reader.read())
        expect(chunk.done).toBe(false)
        received += decoder.decode(chunk.value, { stream: true })
      }
      expect(yield* fake.stalled).toBe(1)
      expect(parseSse(received).map((f) => f.event)).toEqual([
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_text.delta"
      ])
      expect(yield* fake.releaseStalls).toBe(1)
      for (;;) {
        const chunk = yield* Effect.promise(() => reader.read())
        if (chunk.done) break
        received += decoder.decode(chunk.value, { stream: true })
      }
      expect(parseSse(received).map((f) => f.event).slice(4)).toEqual(["response.output_item.done", "response.completed"])
      expect(yield* fake.stalled).toBe(0)
    }))

  it.effect("release destroys stalled streams and removes its temp dirs", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const fake = yield* FakeModel.make().pipe(Scope.extend(scope))
      yield* fake.enqueue(FakeModel.stall())
      const res = yield* post(fake, {})
      yield* fake.awaitRequests(1)
      const body = res.body
      if (body === null) throw new Error("no body")
      const reading = yield* Effect.fork(Effect.either(Effect.tryPromise(() => new Response(body).text())))
      expect(Fs.existsSync(fake.codexHome)).toBe(true)
      expect(yield* fake.stalled).toBe(1)
      yield* Scope.close(scope, Exit.void)
      expect(Fs.existsSync(fake.codexHome)).toBe(false)
      expect(Fs.existsSync(fake.workspace)).toBe(false)
      // the open body fails (connection destroyed) instead of hanging
      const outcome = yield* Fiber.join(reading)
      expect(outcome._tag).toBe("Left")
    }))
})

// -------------------------------------------------------------------------------------------------
// end-to-end tests against the real binary
// -------------------------------------------------------------------------------------------------

describe("FakeModel (real codex app-server)", () => {
  it.scopedLive("streams the scripted text as agentMessage deltas", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(
        FakeModel.response([
          FakeModel.reasoning("Thinking."),
          FakeModel.text("Hello world.", { chunks: ["Hello ", "world", "."], usage: null })
        ], { usage: FakeModel.usage(100, 20, { cached: 40, reasoning: 7 }) })
      )
      const server = yield* appServer(fake)
      const threadId = yield* startThread(server)
      const { events, turn } = yield* runTurn(server, threadId, "hi")
      expect(turn.status).toBe("completed")
      const deltas = events
        .filter((m) => m.method === "item/agentMessage/delta")
        .map((m) => m.params?.delta)
      expect(deltas).toEqual(["Hello ", "world", "."])
      expect(deltas.join("")).toBe("Hello world.")
      const usage = events.find((m) => m.method === "thread/tokenUsage/updated")?.params?.tokenUsage as {
        readonly last: Record<string, number>
      }
      expect(usage.last).toMatchObject({ inputTokens: 100, cachedInputTokens: 40, outputTokens: 20, reasoningOutputTokens: 7, totalTokens: 120 })
      const [request] = yield* fake.requests
      expect(request?.headers.originator).toBe("fake_model_test")
      expect(request && FakeModel.lastUserText(request)).toBe("hi")
    }))

  it.scopedLive("runs an exec_command after the client accepts the approval request", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(
        FakeModel.execCommand("echo fake-model-output", { callId: "call-echo", yieldTimeMs: 2000 }),
        FakeModel.text("Done.")
      )
      const server = yield* appServer(fake)
      const threadId = yield* startThread(server, { approvalPolicy: "untrusted" })
      const from = server.messages.length
      const turnFiber = yield* Effect.fork(runTurn(server, threadId, "run it"))
      const approval = yield* server.waitFor((m) => m.method === "item/commandExecution/requestApproval", from)
      expect(approval.id).toBe(0)
      expect(approval.params?.itemId).toBe("call-echo")
      server.send({ id: approval.id, result: { decision: "accept" } })
      const { events, turn } = yield* Fiber.join(turnFiber)
      expect(turn.status).toBe("completed")
      const command = events
        .filter((m) => m.method === "item/completed")
        .map((m) => m.params?.item as { readonly type: string; readonly status: string; readonly aggregatedOutput: string | null })
        .find((item) => item.type === "commandExecution")
      expect(command?.status).toBe("completed")
      expect(command?.aggregatedOutput).toContain("fake-model-output")
      const requests = yield* fake.requests
      expect(requests).toHaveLength(2)
      const outputs = requests[1] ? FakeModel.toolOutputs(requests[1]) : []
      expect(outputs.map((o) => o.callId)).toEqual(["call-echo"])
      expect(outputs[0]?.output).toContain("fake-model-output")
    }))

  it.scopedLive("applies a patch (exec heredoc) after the client accepts the file change", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(
        FakeModel.applyPatch("*** Add File: hello.txt\n+hello from patch", { callId: "call-patch" }),
        FakeModel.text("Created hello.txt.")
      )
      const server = yield* appServer(fake)
      const threadId = yield* startThread(server, { approvalPolicy: "untrusted", sandbox: "workspace-write" })
      const from = server.messages.length
      const turnFiber = yield* Effect.fork(runTurn(server, threadId, "add a file"))
      const approval = yield* server.waitFor((m) => m.method === "item/fileChange/requestApproval", from)
      expect(approval.params?.itemId).toBe("call-patch")
      server.send({ id: approval.id, result: { decision: "accept" } })
      const { events, turn } = yield* Fiber.join(turnFiber)
      expect(turn.status).toBe("completed")
      const change = events
        .filter((m) => m.method === "item/completed")
        .map((m) => m.params?.item as { readonly type: string; readonly status: string })
        .find((item) => item.type === "fileChange")
      expect(change?.status).toBe("completed")
      expect(Fs.readFileSync(Path.join(fake.workspace, "hello.txt"), "utf8")).toBe("hello from patch\n")
    }))

  it.scopedLive("maps response.failed context_length_exceeded to a failed turn", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(FakeModel.failed("context_length_exceeded", "Your input exceeds the context window."))
      const server = yield* appServer(fake)
      const threadId = yield* startThread(server)
      const { events, turn } = yield* runTurn(server, threadId, "hi")
      expect(turn.status).toBe("failed")
      expect(turn.error?.codexErrorInfo).toBe("contextWindowExceeded")
      const error = events.find((m) => m.method === "error")
      expect(error?.params?.willRetry).toBe(false)
    }))

  it.scopedLive("an unscripted model request fails the turn with the fake's message", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      const server = yield* appServer(fake)
      const threadId = yield* startThread(server)
      const { turn } = yield* runTurn(server, threadId, "hi")
      expect(turn.status).toBe("failed")
      expect(turn.error?.message).toContain("no scripted reply left for request #1")
    }))

  it.scopedLive("a stalled stream can be interrupted", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      yield* fake.enqueue(FakeModel.stall(FakeModel.text("partial", { chunks: ["par", "tial"] })))
      const server = yield* appServer(fake)
      const threadId = yield* startThread(server)
      const from = server.messages.length
      const started = yield* server.request("turn/start", { threadId, input: [{ type: "text", text: "hi" }] })
      const turnId = (started.result?.turn as { readonly id: string }).id
      yield* server.waitFor((m) => m.method === "item/agentMessage/delta" && m.params?.delta === "tial", from)
      const interrupted = yield* server.request("turn/interrupt", { threadId, turnId })
      expect(interrupted.result).toEqual({})
      const completed = yield* server.waitFor((m) => m.method === "turn/completed", from)
      expect((completed.params?.turn as TurnShape).status).toBe("interrupted")
    }))
})

describe("FakeModel.layerCodex", () => {
  it.live("wires the real codex to a fresh FakeModel", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.FakeModel
      yield* fake.enqueue(FakeModel.text("wired up"))
      const codex = yield* Codex.Codex
      const thread = yield* codex.threadStart()
      const result = yield* thread.run("hello")
      expect(Option.getOrNull(result.finalResponse)).toBe("wired up")
      expect(FakeModel.lastUserText((yield* fake.awaitRequests(1))[0]!)).toBe("hello")
    }).pipe(
      Effect.scoped,
      Effect.provide(FakeModel.layerCodex()),
      Effect.timeout("60 seconds")
    ))
})

describe("FakeModel.respond", () => {
  it.live("answers from the request when the queue is empty (two threads, each gets its own answer)", () =>
    Effect.gen(function*() {
      const codex = yield* Codex.Codex
      const [a, b] = yield* Effect.all([codex.threadStart(), codex.threadStart()])
      const [ra, rb] = yield* Effect.all([a!.run("alpha"), b!.run("beta")], { concurrency: 2 })
      expect(Option.getOrNull(ra!.finalResponse)).toBe("echo: alpha")
      expect(Option.getOrNull(rb!.finalResponse)).toBe("echo: beta")
    }).pipe(
      Effect.scoped,
      Effect.provide(
        FakeModel.layerCodex({ respond: (request) => FakeModel.text(`echo: ${FakeModel.lastUserText(request) ?? ""}`) })
      ),
      Effect.timeout("60 seconds")
    ))
})

describe("FakeModel goal helpers", () => {
  it("goalComplete / goalBlocked / goalUpdate are update_goal calls with the status as arguments", () => {
    const callOf = (reply: FakeModel.StreamReply) => FakeModel.renderEvents(reply, 1).head.find((e) => e.type === "response.output_item.done")?.item
    expect(callOf(FakeModel.goalComplete({ callId: "c1" }))).toEqual({
      type: "function_call",
      id: "fc-c1",
      call_id: "c1",
      name: "update_goal",
      arguments: `{"status":"complete"}`
    })
    expect(callOf(FakeModel.goalBlocked())).toMatchObject({ name: "update_goal", arguments: `{"status":"blocked"}` })
    expect(callOf(FakeModel.goalUpdate("paused"))).toMatchObject({ name: "update_goal", arguments: `{"status":"paused"}` })
  })

  it("isGoalContinuation tells a turn codex started for a goal from the user's", () => {
    const request = (text: string): FakeModel.RecordedRequest => ({
      index: 1,
      method: "POST",
      path: "/v1/responses",
      headers: {},
      rawBody: "",
      body: { input: [{ type: "message", role: "user", content: [{ type: "input_text", text }] }] }
    })
    expect(FakeModel.isGoalContinuation(request("<codex_internal_context source=\"goal\">\nContinue working toward the active thread goal."))).toBe(true)
    expect(FakeModel.isGoalContinuation(request("Continue working toward the active thread goal."))).toBe(false)
  })
})
