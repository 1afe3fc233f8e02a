// Runs every example as a child process, offline (no OPENAI_API_KEY, HOME and CODEX_HOME pointing
// at an empty temp dir, so no Codex login is found), and checks what it printed. Several run at once
// (`maxConcurrency` in vitest.config.ts); each waits only for its own process to exit.
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { detectCredentials } from "../backend.js"
import { codexVersion as CODEX_VERSION } from "@effect-codex/protocol/generated/Version"

const examples = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const root = Path.dirname(examples)

let home: string
beforeAll(() => {
  home = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-examples-home-"))
})
afterAll(() => Fs.rmSync(home, { recursive: true, force: true }))

interface Run {
  readonly code: number | null
  readonly signal: string | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

/**
 * `node --conditions=source --import tsx examples/<file>` from the repository root — what
 * `npx tsx --conditions=source examples/<file>` does, without the extra `tsx` CLI process.
 */
const run = (file: string, options: { readonly args?: ReadonlyArray<string>; readonly stdin?: string } = {}) =>
  new Promise<Run>((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, HOME: home, CODEX_HOME: home, NO_COLOR: "1" }
    delete env.OPENAI_API_KEY
    delete env.FORCE_COLOR
    const started = Date.now()
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", Path.join(examples, file), ...(options.args ?? [])], {
      cwd: root,
      env,
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    // A guard, not a wait: an example that hangs is killed and the test fails on its exit signal.
    const guard = setTimeout(() => child.kill("SIGKILL"), 50_000)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(guard)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
    child.stdin.end(options.stdin ?? "")
  })

/** Runs an example and expects exit code 0 and nothing on stderr (showing its output otherwise). */
const ok = async (file: string, options?: Parameters<typeof run>[1]) => {
  const result = await run(file, options)
  expect({ code: result.code, signal: result.signal, stderr: result.stderr }, result.stdout).toEqual({ code: 0, signal: null, stderr: "" })
  expect(result.stdout).toMatch(/^mode: offline — FakeModel on http:\/\/127\.0\.0\.1:\d+ /m)
  return result.stdout
}

/** Asserts that the pieces appear in this order. */
const inOrder = (text: string, pieces: ReadonlyArray<string>) => {
  let from = 0
  for (const piece of pieces) {
    const at = text.indexOf(piece, from)
    expect(at, `"${piece}" after position ${from} in:\n${text}`).toBeGreaterThanOrEqual(0)
    from = at + piece.length
  }
}

describe.concurrent("examples (offline)", () => {
  it("demo: streamed text, approval (no TTY), command output, final answer, usage", async () => {
    const out = await ok("demo.ts")
    expect(out.split("\n")[0]).toBe("effect-codex demo — a Codex agent turn driven from Effect")
    inOrder(out, [
      "mode: offline — FakeModel",
      `codex app-server ${CODEX_VERSION} · workspace `,
      "approvals: automatic (stdin is not a TTY)",
      "› What is in this workspace?",
      "thinking · The user wants to know what is in the workspace",
      "Let me look at the files in the workspace.\n",
      "? codex wants to run ls in ",
      "✔ approved automatically (stdin is not a TTY)",
      "$ ls\n  hello.py\n  notes.md\n  todo.txt\n  ↳ exit 0 · ",
      "The workspace holds three files: hello.py (a one-line Python script), notes.md and todo.txt.\n",
      "final answer  The workspace holds three files: hello.py",
      "tokens: 3,808 in (1,792 cached) · 103 out (24 reasoning) · 3,911 total",
      "turn completed in "
    ])
    expect(out).not.toContain("\x1b[") // no colours without a TTY
  })

  it("demo --yes: approved because of the flag", async () => {
    const out = await ok("demo.ts", { args: ["--yes"] })
    inOrder(out, ["approvals: automatic (--yes)", "✔ approved automatically (--yes)", "$ ls\n  hello.py", "final answer  The workspace holds"])
  })

  it("quickstart", async () => {
    const out = await ok("quickstart.ts")
    inOrder(out, ["thread ", " started", "answer: Effect is a TypeScript library for typed, composable, concurrent programs."])
  })

  it("remote-websocket: a refused token, a turn over the WebSocket, the server's death as ConnectionLostError", async () => {
    const out = await ok("remote-websocket.ts")
    inOrder(out, [
      "server listening on ws://127.0.0.1:",
      "wrong token: ConnectionFailedError (unauthorized)",
      "thread ",
      " started over the WebSocket",
      "answer: Hello from a remote app-server.",
      "server killed: the turn failed with ConnectionLostError"
    ])
    expect(out).not.toContain("not-the-token")
  })

  it("attach-daemon: a missing socket is a typed error; a turn through codex app-server proxy", async () => {
    const out = await ok("attach-daemon.ts")
    inOrder(out, [
      "missing socket: ConnectionFailedError (notFound)",
      "started a server on a unix socket",
      `connected: codex app-server ${CODEX_VERSION}`,
      " started through the proxy",
      "answer: Attached to the daemon."
    ])
  })

  it("run-turn: final answer, items, usage, history", async () => {
    const out = await ok("run-turn.ts")
    inOrder(out, [
      "turn 1 (",
      "): status completed",
      "final answer: Two primes: 3 and 7. Their product is 21.",
      "items: userMessage, reasoning, agentMessage",
      "usage: this turn 150 tokens, last call 120 in / 30 out; thread total 150 tokens",
      "turn 2 (",
      "final answer: Their sum is 10.",
      "usage: this turn 15 tokens, last call 10 in / 5 out; thread total 165 tokens",
      "the 2nd model request carries turn 1: true"
    ])
  })

  it("stream-events: typed events in order, text live", async () => {
    const out = await ok("stream-events.ts")
    inOrder(out, [
      "· turn started (",
      "· item started: reasoning",
      "· reasoning: A haiku has 5, 7 and 5 syllables.",
      "· item started: agentMessage",
      "text: Fibers wake and yield,\n      errors typed in every branch,\n      scope closes, all clean.\n",
      "· item completed: agentMessage \"Fibers wake and yield,\\nerrors typed in every branch,\\nscope closes, all clean.\"",
      "· token usage: 15 tokens so far",
      "· turn completed: completed",
      "item/agentMessage/delta ×6"
    ])
  })

  it("plain-node-runpromise: one-shot, ManagedRuntime, typed errors", async () => {
    const out = await ok("plain-node-runpromise.ts")
    inOrder(out, [
      "1. one-shot Effect.runPromise",
      "answer: Paris.",
      "2. ManagedRuntime",
      "turn 1: Noted: 7.",
      "turn 2: You said 7.",
      "3. typed errors from plain code",
      "TurnFailedError: ",
      "(kind internalServerError, retryable true)",
      "done"
    ])
  })

  it("plain-node-promise: run, for await, instanceof errors, AbortSignal", async () => {
    const out = await ok("plain-node-promise.ts")
    inOrder(out, [
      `codex app-server ${CODEX_VERSION} (pid `,
      "1. run",
      "answer: Promises resolve once; streams keep going.",
      "usage: 15 tokens, turn completed",
      "2. runStreamed",
      "streamed: [Async ][iterators ][pull values ][one at a time.]",
      "result after the loop: Async iterators pull values one at a time. (2 items)",
      "3. errors",
      "TurnFailedError: ",
      "kind internalServerError, retryable true",
      "4. AbortSignal",
      "AbortError: The operation was aborted by its signal; the turn was interrupted on the server",
      "the thread is free again: Still here."
    ])
  })

  it("plain-node-promise-approvals: async callbacks, timeout fails closed, per-thread, break", async () => {
    const out = await ok("plain-node-promise-approvals.ts")
    inOrder(out, [
      "thread 1",
      "policy: \"ls\" is on the list → accept",
      "$ ls → completed: allowed-commands.txt | notes.md",
      "policy: \"cat\" is on the list → accept",
      "$ cat notes.md → completed: buy milk",
      "policy: \"rm notes.md\" is not on the list; asking a human…",
      "no answer in time; the SDK refused the command (its signal was aborted)",
      "$ rm notes.md → declined",
      "answer: Listed and read; removing was not allowed.",
      "notes.md still exists: true",
      "thread 2",
      "thread policy: accept \"touch new.txt\"",
      "$ touch new.txt → completed",
      "answer: Created new.txt.",
      "first words: \"A very \" — enough, break",
      "the turn on the server: interrupted"
    ])
  })

  it("plain-node-tools: a Schema tool and a JSON Schema tool, a refusal by throwing, toolCalls", async () => {
    const out = await ok("plain-node-tools.ts")
    inOrder(out, [
      "tool: lookup_order(A-17)",
      "tool: lookup_order(Z-99)",
      "tool: shipping_quote(1.2 kg → FR)",
      "answer: A-17 (a mechanical keyboard, packed) ships to France",
      "tool calls:",
      "✓ lookup_order {\"orderId\":\"A-17\"} → {\"orderId\":\"A-17\",\"item\":\"mechanical keyboard\",\"weightKg\":1.2,\"status\":\"packed\"}",
      "✗ lookup_order {\"orderId\":\"Z-99\"} → no order Z-99",
      "✓ shipping_quote {\"weightKg\":1.2,\"country\":\"FR\"} → 7.30 EUR, 2 days"
    ])
  })

  it("resume-thread: the same thread from a second process", async () => {
    const out = await ok("resume-thread.ts")
    const first = /process 1: thread (\S+): Got it: the codeword is PELICAN\./.exec(out)
    expect(first, out).not.toBeNull()
    inOrder(out, [
      "process 1 stopped",
      `process 2: resumed thread ${first![1]} (same id: true)`,
      "process 2: The codeword was PELICAN.",
      "the model request after the resume carries the first turn: true"
    ])
    const pids = [...out.matchAll(/process \d \(pid (\d+)\) started/g)].map((m) => m[1])
    expect(pids.length).toBe(2)
    expect(pids[0]).not.toBe(pids[1])
  })

  it("thread-lifecycle", async () => {
    const out = await ok("thread-lifecycle.ts")
    inOrder(out, [
      "started and ran a turn on ",
      "setName + read: name \"Lisbon trip\", 1 turn(s)",
      "fork: ",
      "list: 2 thread(s); has the thread: true, has the fork: true",
      "archive fork: still listed: false",
      "listed with archived: true: true",
      " is back: true",
      "compact: done",
      "the model was asked to compact: true"
    ])
  })

  it("image-input: a data: URL and text reach the model", async () => {
    const out = await ok("image-input.ts")
    inOrder(out, [
      "sending a 16×16 PNG as a data: URL",
      "answer: The image is a solid red square.",
      "model received: input_image data:image/png;base64,iVBORw0K… (the same data URL: true)",
      "model received: input_text \"What colour is this image? One sentence.\""
    ])
  })

  it("local-image: codex reads the file and sends its bytes", async () => {
    const out = await ok("local-image.ts")
    inOrder(out, [
      "/square.png (",
      "answer: It is a solid blue square.",
      "the thread records the input as: text + localImage",
      "model received:",
      "input_text \"Describe this image in one sentence.\"",
      "input_image image/png, ",
      "same bytes as the file: true"
    ])
  })

  it("structured-output: JSON Schema on the wire, decoded output, mismatch", async () => {
    const out = await ok("structured-output.ts")
    inOrder(out, [
      "decoded output: Lisbon, Portugal — population 545,000",
      "landmarks: Belém Tower; Jerónimos Monastery; São Jorge Castle",
      "model received text.format \"codex_output_schema\": {\"type\":\"object\",\"required\":[\"city\",\"country\",\"population\",\"landmarks\"]",
      "\"additionalProperties\":false}",
      "StructuredOutputError: the answer does not match the Schema; raw text: {\"city\":\"Porto\",\"population\":\"about 230k\"}"
    ])
  })

  it("ai-toolkit: an @effect/ai Toolkit served to Codex, its handlers run, a failure reaches the model", async () => {
    const out = await ok("ai-toolkit.ts")
    inOrder(out, [
      `tools: get_order {"type":"object","required":["orderId"],"properties":{"orderId":{"type":"string"}},"additionalProperties":false}; refund_order `,
      `handler get_order("A-1001")`,
      `handler refund_order("A-1001", "arrived broken")`,
      `call get_order: ok → {"orderId":"A-1001","item":"kettle","total":39.9,"status":"shipped"}`,
      "call refund_order: failed → order A-1001 is shipped: only delivered orders can be refunded",
      "answer: Order A-1001 (a kettle, 39.90) has shipped",
      `model received call-get: {"orderId":"A-1001","item":"kettle","total":39.9,"status":"shipped"}`,
      "model received call-refund: order A-1001 is shipped: only delivered orders can be refunded"
    ])
  })

  it("error-handling: failed turns, timeouts, retries", async () => {
    const out = await ok("error-handling.ts")
    inOrder(out, [
      "1. a failed turn, retried while retryable",
      "attempt 1: TurnFailedError ",
      "codexErrorInfo=\"internalServerError\" → kind internalServerError, retryable true",
      "attempt 2: Recovered on the second attempt.",
      "2. a failure that a retry cannot fix",
      "TurnFailedError: kind contextWindowExceeded, retryable false",
      "3. a request deadline",
      "RequestTimeoutError: Request \"command/exec\" got no response within 200ms",
      "the command was still running; terminated it",
      "4. a stalled turn under a deadline",
      "no answer within 500 ms: the turn was interrupted on the server",
      "the thread is free again: Back again.",
      "5. retryOnOverload",
      "succeeded after 3 calls (1 thread listed)",
      "a RequestTimeoutError is not retried: 1 call, failed with RequestTimeoutError"
    ])
  })

  it("cli-repl: two prompts from piped stdin, then /exit", async () => {
    const out = await ok("cli-repl.ts", { stdin: "hello there\nwhat did I say?\n/exit\nignored\n" })
    inOrder(out, [
      "/exit quits",
      "you › hello there",
      "codex › You said: \"hello there\" (turn 1).",
      "tokens: this turn 111 in (0 cached) / 6 out · thread total 117",
      "you › what did I say?",
      "codex › You said: \"what did I say?\" (turn 2).",
      "tokens: this turn 215 in (100 cached) / 8 out · thread total 340",
      "bye (2 turns)"
    ])
    expect(out).not.toContain("ignored")
  })

  it("cli-repl: end of input also quits", async () => {
    const out = await ok("cli-repl.ts", { stdin: "just one\n" })
    inOrder(out, ["codex › You said: \"just one\" (turn 1).", "bye (1 turn)"])
  })

  it("turn-parameters: every option reaches the model", async () => {
    const out = await ok("turn-parameters.ts")
    inOrder(out, [
      "turn options: {\"model\":\"gpt-5.5\",\"effort\":\"high\",\"summary\":\"concise\",\"personality\":\"pragmatic\"",
      "output: verdict=ship, reason=All checks are green.",
      "model: gpt-5.5",
      "reasoning: {\"effort\":\"high\",\"summary\":\"concise\"}",
      "service_tier: priority",
      "text.format: codex_output_schema (strict: true)",
      "environment cwd: /",
      "/service",
      "sandbox: writable root ",
      ": true, network restricted: true",
      "approval policy on-request: instructions explain escalation requests: true"
    ])
  })

  it("model-selection", async () => {
    const out = await ok("model-selection.ts")
    inOrder(out, [" models:", "  * gpt-6.2-sol", "gpt-5.5", "chosen: gpt-5.5 (", "started with model gpt-5.5", "answer: Hello from the chosen model.", "the model request names: gpt-5.5"])
  })

  it("steer-and-interrupt", async () => {
    const out = await ok("steer-and-interrupt.ts")
    inOrder(out, [
      "1. steer",
      "turn 1 text: \"Counting: \"",
      "steered: \"Also say it in French.\"",
      "turn 1 text: \"…three. And in French: un, deux, trois.\"",
      "turn 1 completed",
      "the model's next request ends with: \"Also say it in French.\"",
      "2. interrupt",
      "turn 2 text: \"Here is \"",
      "turn 2 interrupted",
      "3. interrupt the consuming fiber",
      "turn 3 text: \"Another \"",
      "the server reports turn 3 interrupted",
      "the thread is free again: Short answer."
    ])
  })

  it("tools: the agent calls a tool that needs a service and one that refuses", async () => {
    const out = await ok("tools.ts")
    inOrder(out, [
      `lookup_order({"orderId":"A-1001"}) -> ok: {"orderId":"A-1001","item":"mechanical keyboard","total":129}`,
      `issue_refund({"orderId":"A-1001","amount":129}) -> refused: refunds over 100 need a human (asked for 129)`,
      "answer: Order A-1001 is a mechanical keyboard (129)."
    ])
  })

  it("goal: continued turns to complete, a token budget, pause and resume, interruption", async () => {
    const out = await ok("goal.ts")
    inOrder(out, [
      "1. a goal of three turns",
      "a turn of mine meanwhile: GoalActiveError",
      "turn 1 started by the server",
      "turn 1: Listed the files: a.txt, b.txt.",
      "turn 2 started by the server",
      "turn 2: Counted the lines: 3 and 5.",
      "turn 3 started by the server",
      "goal complete",
      "turn 3: Goal complete: 2 files, 8 lines in all.",
      "complete after 3 turn(s), 60 tokens",
      "final answer: Goal complete: 2 files, 8 lines in all.",
      "2. a token budget",
      "budgetLimited after 3 turn(s), 45 tokens (the server counted 45) of a budget of 40",
      "3. pause and resume",
      "turn 2 started by the server",
      "pausing: paused (the running turn finishes)",
      "turn 2: Part two drafted.",
      "paused after 2 turn(s)",
      "resuming: active",
      "turn 3 started by the server",
      "goal complete",
      "complete after 3 turn(s), 60 tokens",
      "final answer: All parts drafted.",
      "4. interrupt the fiber that follows the goal",
      "turn 1 started by the server",
      "the goal is paused",
      "its last turn: interrupted",
      "the thread is free again: Back to you."
    ])
  })

  it("approvals-policy: read-only commands accepted, others declined, per-thread override", async () => {
    const out = await ok("approvals-policy.ts")
    inOrder(out, [
      "thread 1",
      "policy: ls → accept",
      "policy: cat notes.md → accept",
      "policy: touch new.txt → decline",
      "ls: completed",
      "cat notes.md: completed",
      "touch new.txt: declined",
      "new.txt exists: false",
      "thread 2",
      "thread policy: touch new.txt in the workspace → accept",
      "touch new.txt: completed",
      "new.txt exists: true"
    ])
  })

  it("concurrent-threads: three model requests in flight at once", async () => {
    const out = await ok("concurrent-threads.ts")
    expect(out).toContain("[fake] 3 model requests in flight at once")
    for (const name of ["alpha", "beta", "gamma"]) {
      expect(out).toContain(`[${name}] turn completed`)
      expect(out).toMatch(new RegExp(`${name} \\(\\S+\\): one, two, three\\.`))
    }
    expect(out).toContain("3 threads, 3 answers")
  })

  it("cluster/jobs: 10 reviews as a CodexJobs batch, 3 at a time, the flaky one retried, progress to 10/10, outcomes in order", async () => {
    const out = await ok("cluster/jobs.ts")
    const running = Array.from(out.matchAll(/^progress: \d+\/10 done, (\d+) running/gm), (m) => Number(m[1]))
    expect(Math.max(...running)).toBe(3)
    expect(out).toContain("progress: 10/10 done, 0 running, 0 pending, 0 failed")
    inOrder(out, [
      ...Array.from({ length: 10 }, (_, i) => i === 4 ? "src/flaky.ts (attempts 2): src/flaky.ts looks fine." : `src/module-${i}.ts (attempts 1): src/module-${i}.ts looks fine.`),
      "10 of 10 tasks done"
    ])
  })

  it("pool: 12 threads 4/4/4 over 3 processes, one killed mid-turn, its threads resumed elsewhere", async () => {
    const out = await ok("pool.ts")
    expect(out).toMatch(/12 threads on 3 processes: pid \d+ has 4, pid \d+ has 4, pid \d+ has 4/)
    const killed = out.match(/12 turns in flight; killing pid (\d+) \(4 threads\)/)
    expect(killed).not.toBeNull()
    const pid = killed![1]!
    expect(out).toContain(`[pool] process 2 (pid ${pid}) exited: SIGKILL, 4 threads orphaned`)
    expect(out.match(/: ProcessExitedError$/gm)?.length).toBe(4)
    expect(out).toContain("8 turns completed, 4 failed with the process")
    expect(out).toMatch(/\[pool\] process 4 started \(pid \d+\), a replacement/)
    expect(out.match(new RegExp(`moved from pid ${pid} to pid \\d+`, "g"))?.length).toBe(4)
    expect(out.match(/^resumed: done again\.$/gm)?.length).toBe(4)
    expect(out).toMatch(/after: 3 processes \(1 exited, 1 restarted\)/)
    expect(out).toContain("12 answers")
  })

  it("cluster/demo: 20 conversations over 2 runners, one SIGKILLed mid-turn, its conversations go on on the other with their history", async () => {
    const out = await ok("cluster/demo.ts")
    const spread = out.match(/spread: (\d+) on runner A, (\d+) on runner B/)
    expect(spread, out).not.toBeNull()
    const onA = Number(spread![1])
    expect(onA).toBeGreaterThan(0)
    expect(onA + Number(spread![2])).toBe(20)
    expect(out).toContain("runner A killed (SIGKILL)")
    const lines = out.split("\n").filter((l) => l.startsWith("  conversation-"))
    expect(lines.length).toBe(20)
    for (const line of lines) {
      expect(line, line).toMatch(/turn 2 on B/)
      expect(line, line).toContain("(same thread): 2 completed turns")
      expect(line, line).toMatch(/last answer "done: second turn of conversation-\d\d"$/)
    }
    expect(lines.filter((l) => l.includes("(moved)")).length).toBe(onA)
    expect(out).toContain(`${onA} conversations moved from A to B`)
  })

  it("testing-your-program: every test passes", async () => {
    const result = await run("testing-your-program.ts")
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout.match(/^PASS /gm)?.length).toBe(5)
    expect(result.stdout).not.toMatch(/^FAIL /m)
    expect(result.stdout).toContain("5 passed, 0 failed")
  })

  it("login: an API key login into a temp CODEX_HOME, the account read back, rate limits refused, logout; the key never printed", async () => {
    const result = await run("login.ts")
    expect({ code: result.code, signal: result.signal, stderr: result.stderr }, result.stdout).toEqual({ code: 0, signal: null, stderr: "" })
    inOrder(result.stdout, [
      "mode: offline — no model needed; a temporary CODEX_HOME",
      "account before: none (requires OpenAI auth: true)",
      "logging in with the key <redacted>",
      "account after: apiKey",
      "rate limits: InvalidRequestError: chatgpt authentication required to read rate limits",
      "account after logout: none"
    ])
    expect(result.stdout).not.toContain("sk-example-0000-not-a-real-key")
    expect(result.stdout).not.toContain("device-code")
    // the user's home (the test's temp HOME / CODEX_HOME) was not logged into
    expect(Fs.existsSync(Path.join(home, "auth.json"))).toBe(false)
  })
})

describe("backend: real model or FakeModel", () => {
  const dirs: Array<string> = []
  afterAll(() => dirs.forEach((dir) => Fs.rmSync(dir, { recursive: true, force: true })))
  const empty = () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-examples-detect-"))
    dirs.push(dir)
    return dir
  }

  it("offline without a key or a login", () => {
    const dir = empty()
    const found = detectCredentials([], { HOME: dir })
    expect(found).toEqual({ _tag: "None", reason: `no OPENAI_API_KEY and no Codex login at ${Path.join(dir, ".codex", "auth.json")}` })
  })

  it("OPENAI_API_KEY selects the real model, the key kept Redacted", () => {
    const found = detectCredentials([], { HOME: empty(), OPENAI_API_KEY: "sk-test" })
    expect(found._tag).toBe("ApiKey")
    if (found._tag === "ApiKey") {
      expect(Redacted.value(found.apiKey)).toBe("sk-test")
      expect(String(found.apiKey)).not.toContain("sk-test")
    }
  })

  it("a Codex login in CODEX_HOME or ~/.codex selects the real model", () => {
    const codexHome = empty()
    Fs.writeFileSync(Path.join(codexHome, "auth.json"), "{}")
    expect(detectCredentials([], { HOME: empty(), CODEX_HOME: codexHome })).toEqual({ _tag: "Login", path: Path.join(codexHome, "auth.json") })
    const home = empty()
    Fs.mkdirSync(Path.join(home, ".codex"))
    Fs.writeFileSync(Path.join(home, ".codex", "auth.json"), "{}")
    expect(detectCredentials([], { HOME: home, CODEX_HOME: "" })).toEqual({ _tag: "Login", path: Path.join(home, ".codex", "auth.json") })
  })

  it("--offline wins over credentials", () => {
    expect(detectCredentials(["--offline"], { HOME: empty(), OPENAI_API_KEY: "sk-test" })).toEqual({ _tag: "None", reason: "--offline" })
  })
})
