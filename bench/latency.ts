/**
 * Benchmark 3 — turn latency: a TURNS-turn conversation in one thread against the real pinned
 * `codex app-server` (native binary) and a FakeModel on 127.0.0.1 in a process of its own
 * (bench/fake-model-server.ts; fresh CODEX_HOME per run, every model request answered with a
 * short streamed text). One contender per process:
 *   sdk        Codex.layer(fake.config) → threadStart → TURNS × thread.run(text)
 *   raw        spawn + JSON-RPC by hand (bench/lib.ts RawClient): initialize, thread/start,
 *              TURNS × (turn/start … turn/completed)
 *   codex-sdk  @openai/codex-sdk 0.163.0 (`codex exec` per turn, resumed by thread id), pointed at
 *              the same native binary (codexPathOverride) and the same CODEX_HOME (env), so it talks
 *              to the same FakeModel through the same config.toml
 * Per turn: from the call (or `turn/start`) to the turn's end. Total: from before the spawn to the
 * end of the last turn (startup included for every contender).
 *   paired     raw and sdk in one process, each with its own app-server and FakeModel, taking
 *              turns in rotation (see below)
 *
 * Usage: node --conditions=source --import tsx bench/latency.ts sdk|raw|codex-sdk|paired [turns]
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { emit, nativeCodex, RawClient, rawTurn, repoRoot, tsNodeArgs } from "./lib.js"

const contender = process.argv[2]
const turns = Number(process.argv[3] ?? 20)
const REPLY = "Hello from the fake model." // bench/fake-model-server.ts

interface Outcome {
  readonly totalMs: number
  readonly turnMs: Array<number>
  readonly completed: number
  readonly modelRequests: number
}

interface Fake {
  readonly codexHome: string
  readonly workspace: string
  readonly config: { readonly codexHome: string; readonly cwd: string }
}

/** Starts bench/fake-model-server.ts (the FakeModel in its own process) and runs the contender against it. */
const run = async (body: (fake: Fake) => Promise<Omit<Outcome, "modelRequests">>): Promise<Outcome> => {
  const server = spawn(process.execPath, tsNodeArgs("fake-model-server.ts"), { stdio: ["pipe", "pipe", "inherit"], cwd: repoRoot })
  const lines = createInterface({ input: server.stdout! })[Symbol.asyncIterator]()
  const first = await lines.next()
  const info = JSON.parse(first.value as string) as { codexHome: string; workspace: string }
  const fake: Fake = { ...info, config: { codexHome: info.codexHome, cwd: info.workspace } }
  try {
    const outcome = await body(fake)
    server.stdin!.end()
    const last = await lines.next()
    const { requests } = JSON.parse(last.value as string) as { requests: number }
    return { ...outcome, modelRequests: requests }
  } finally {
    server.stdin!.end()
  }
}

async function sdkContender(fake: Fake): Promise<Omit<Outcome, "modelRequests">> {
  const { Codex } = await import("@effect-codex/app-server")
  const program = Effect.gen(function*() {
    const codex = yield* Codex.Codex
    const thread = yield* codex.threadStart()
    const turnMs: Array<number> = []
    let completed = 0
    for (let i = 0; i < turns; i++) {
      const s = performance.now()
      const result = yield* thread.run(`question ${i + 1}`)
      turnMs.push(performance.now() - s)
      if (result.turn.status === "completed" && Option.getOrUndefined(result.finalResponse) === REPLY) completed++
    }
    return { turnMs, completed, end: performance.now() }
  })
  const t0 = performance.now()
  const { turnMs, completed, end } = await Effect.runPromise(
    program.pipe(Effect.scoped, Effect.provide(Codex.layer(fake.config)))
  )
  // like raw: from before the spawn to the end of the last turn (the release is not included)
  return { totalMs: end - t0, turnMs, completed }
}

const contenders: Record<string, (fake: Fake) => Promise<Omit<Outcome, "modelRequests">>> = {
  raw: async (fake) => {
    const t0 = performance.now()
    const client = new RawClient(nativeCodex(), { env: { CODEX_HOME: fake.codexHome }, cwd: fake.workspace })
    await client.initialize()
    const { thread } = await client.request("thread/start", {})
    const turnMs: Array<number> = []
    let completed = 0
    for (let i = 0; i < turns; i++) {
      const s = performance.now()
      const r = await rawTurn(client, thread.id, `question ${i + 1}`)
      turnMs.push(performance.now() - s)
      if (r.status === "completed" && r.text === REPLY) completed++
    }
    const totalMs = performance.now() - t0
    await client.close()
    return { totalMs, turnMs, completed }
  },

  sdk: sdkContender,

  "codex-sdk": async (fake) => {
    const { Codex } = await import("@openai/codex-sdk")
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v
    env.CODEX_HOME = fake.codexHome
    const t0 = performance.now()
    const codex = new Codex({ codexPathOverride: nativeCodex(), env })
    const thread = codex.startThread({ workingDirectory: fake.workspace, skipGitRepoCheck: true })
    const turnMs: Array<number> = []
    let completed = 0
    for (let i = 0; i < turns; i++) {
      const s = performance.now()
      const result = await thread.run(`question ${i + 1}`)
      turnMs.push(performance.now() - s)
      if (result.finalResponse === REPLY) completed++
    }
    return { totalMs: performance.now() - t0, turnMs, completed }
  }
}

/**
 * "paired": raw and sdk in one process, each with its own app-server and FakeModel process, taking
 * turns: raw turn i, sdk turn i, raw turn i+1, … so that the machine's noise hits both alike; the
 * figure is the median of the per-turn differences.
 */
if (contender === "paired") {
  const started: Array<{ stop: () => Promise<number> }> = []
  const startFake = async () => {
    const server = spawn(process.execPath, tsNodeArgs("fake-model-server.ts"), { stdio: ["pipe", "pipe", "inherit"], cwd: repoRoot })
    const lines = createInterface({ input: server.stdout! })[Symbol.asyncIterator]()
    const info = JSON.parse((await lines.next()).value as string) as { codexHome: string; workspace: string }
    started.push({
      stop: async () => {
        server.stdin!.end()
        return (JSON.parse((await lines.next()).value as string) as { requests: number }).requests
      }
    })
    return info
  }
  // raw
  const fakeRaw = await startFake()
  const client = new RawClient(nativeCodex(), { env: { CODEX_HOME: fakeRaw.codexHome }, cwd: fakeRaw.workspace })
  await client.initialize()
  const { thread: rawThread } = await client.request("thread/start", {})
  // sdk: an Effect program, as an Effect user writes one, that also drives the raw client's turns
  // (each timed inside its own Promise chain, so awaiting it from Effect is not counted)
  const { Codex } = await import("@effect-codex/app-server")
  const fakeSdk = await startFake()
  const times: Record<"raw" | "sdk", Array<number>> = { raw: [], sdk: [] }
  // this process's CPU time during each turn (user + system, helper threads included): the other
  // client is idle meanwhile, so it is the CPU of the client whose turn it is
  const cpuMs: Record<"raw" | "sdk", Array<number>> = { raw: [], sdk: [] }
  const cpuSince = (start: NodeJS.CpuUsage) => {
    const d = process.cpuUsage(start)
    return (d.user + d.system) / 1000
  }
  let completed = 0
  const timedRawTurn = async (text: string) => {
    const t = performance.now()
    const cpu = process.cpuUsage()
    const r = await rawTurn(client, rawThread.id, text)
    times.raw.push(performance.now() - t)
    cpuMs.raw.push(cpuSince(cpu))
    if (r.status === "completed" && r.text === REPLY) completed++
  }
  await Effect.runPromise(
    Effect.gen(function*() {
      const codex = yield* Codex.Codex
      const thread = yield* codex.threadStart()
      const sdkTurn = (text: string) =>
        Effect.gen(function*() {
          const t = performance.now()
          const cpu = process.cpuUsage()
          const result = yield* thread.run(text)
          times.sdk.push(performance.now() - t)
          cpuMs.sdk.push(cpuSince(cpu))
          if (result.turn.status === "completed" && Option.getOrUndefined(result.finalResponse) === REPLY) completed++
        })
      // The order within a rotation alternates: a turn that follows the other client's turn can
      // meet that codex's trailing work (it persists the turn after answering), and alternating
      // puts each client in that position half of the time.
      for (let i = 0; i < turns; i++) {
        const text = `question ${i + 1}`
        if (i % 2 === 0) {
          yield* Effect.promise(() => timedRawTurn(text))
          yield* sdkTurn(text)
        } else {
          yield* sdkTurn(text)
          yield* Effect.promise(() => timedRawTurn(text))
        }
      }
    }).pipe(Effect.scoped, Effect.provide(Codex.layer({ codexHome: fakeSdk.codexHome, cwd: fakeSdk.workspace })))
  )
  await client.close()
  let modelRequests = 0
  for (const s of started) modelRequests += await s.stop()
  if (completed !== 2 * turns) throw new Error(`paired: only ${completed} of ${2 * turns} turns completed with the expected reply`)
  emit({ contender, turns, turnMs: times, cpuMs, completed, modelRequests })
  process.exit(0)
}

const body = contenders[contender ?? ""]
if (body === undefined) throw new Error(`unknown contender ${contender}`)
const outcome = await run(body)
if (outcome.completed !== turns) throw new Error(`${contender}: only ${outcome.completed} of ${turns} turns completed with the expected reply`)
emit({ contender, turns, ...outcome })
