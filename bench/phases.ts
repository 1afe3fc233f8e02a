/**
 * Benchmark 3c — where a real turn's added time goes. One process drives raw and the SDK at once,
 * each with its own real app-server and FakeModel process, alternating turns (raw turn i, sdk turn
 * i, …). For each turn it records:
 *   - the time to the `turn/start` answer, and from there to the consumed `turn/completed`;
 *   - the turn's `durationMs` as the server reports it in `turn/completed` (codex's own time);
 *   - the client process's CPU time during the turn, by thread (/proc/self/task: the main thread
 *     vs V8's helper threads), attributed to whichever client ran the turn;
 *   - the number of stdout reads (chunks) of the turn, for the raw client.
 *
 * Usage: node --conditions=source --import tsx bench/phases.ts [turns]
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import { createInterface } from "node:readline"
import { emit, nativeCodex, RawClient, repoRoot, summarize, tsNodeArgs } from "./lib.js"

const turns = Number(process.argv[2] ?? 30)
const WARMUP = 3
const mod = await import("@effect-codex/app-server")

const stops: Array<() => void> = []
const startFake = async () => {
  const server = spawn(process.execPath, tsNodeArgs("fake-model-server.ts"), { stdio: ["pipe", "pipe", "inherit"], cwd: repoRoot })
  const lines = createInterface({ input: server.stdout! })[Symbol.asyncIterator]()
  stops.push(() => server.stdin!.end())
  return JSON.parse((await lines.next()).value as string) as { codexHome: string; workspace: string }
}

/** CPU ms of this process's threads: the main thread and the sum of the others (10 ms ticks). */
const threadCpu = () => {
  let main = 0
  let helpers = 0
  for (const tid of Fs.readdirSync("/proc/self/task")) {
    try {
      const fields = Fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ")
      const ms = (Number(fields[11]) + Number(fields[12])) * 10
      if (tid === String(process.pid)) main += ms
      else helpers += ms
    } catch {
      // thread gone
    }
  }
  return { main, helpers }
}

const fa = await startFake()
const fb = await startFake()
const raw = new RawClient(nativeCodex(), { env: { CODEX_HOME: fa.codexHome }, cwd: fa.workspace })
let rawChunks = 0
raw.child.stdout!.on("data", () => rawChunks++)
await raw.initialize()
const { thread: rawThread } = await raw.request("thread/start", {})

const scope = Effect.runSync(Scope.make())
const context = await Effect.runPromise(
  Layer.buildWithScope(mod.Codex.layer({ codexHome: fb.codexHome, cwd: fb.workspace }), scope)
)
const run = Runtime.runPromise(Runtime.defaultRuntime.pipe(Runtime.provideService(mod.Codex.Codex, (context as any).unsafeMap.get(mod.Codex.Codex.key))))
const codex = await run(mod.Codex.Codex)
const thread = await run(Effect.scoped(codex.threadStart()))

interface Row {
  startMs: number
  restMs: number
  serverMs: number
  cpuMainMs: number
  cpuHelpersMs: number
  chunks: number
}
const rows: Record<"raw" | "sdk", Array<Row>> = { raw: [], sdk: [] }
let cpu = threadCpu()
const cpuSince = () => {
  const now = threadCpu()
  const d = { cpuMainMs: now.main - cpu.main, cpuHelpersMs: now.helpers - cpu.helpers }
  cpu = now
  return d
}

const rawTurnRow = async (i: number): Promise<Row> => {
  cpuSince()
  rawChunks = 0
  const t0 = performance.now()
  let answered = 0
  let serverMs = 0
  await new Promise<void>((resolve, reject) => {
    let turnId: string | undefined
    raw.onNotification = (m) => {
      if (m.method === "turn/completed" && m.params.turn.id === turnId) {
        serverMs = m.params.turn.durationMs
        resolve()
      }
    }
    raw.request("turn/start", { threadId: rawThread.id, input: [{ type: "text", text: `q${i}`, text_elements: [] }] }).then((r) => {
      turnId = r.turn.id
      answered = performance.now()
    }, reject)
  })
  return { startMs: answered - t0, restMs: performance.now() - answered, serverMs, ...cpuSince(), chunks: rawChunks }
}
const sdkTurnRow = async (i: number): Promise<Row> => {
  cpuSince()
  const t0 = performance.now()
  let answered = 0
  let serverMs = 0
  await run(Effect.scoped(Effect.gen(function*() {
    const turn = yield* thread.turn(`q${i}`)
    answered = performance.now()
    yield* Stream.runForEach(turn.stream, (e) =>
      Effect.sync(() => {
        if (e.method === "turn/completed") serverMs = e.params.turn.durationMs ?? 0
      }))
  })))
  return { startMs: answered - t0, restMs: performance.now() - answered, serverMs, ...cpuSince(), chunks: 0 }
}

// the order alternates, as in the paired latency benchmark (the second turn of a rotation is slower)
for (let i = 0; i < WARMUP + turns; i++) {
  const rawRow = i % 2 === 0 ? await rawTurnRow(i) : undefined
  const sdkRow = await sdkTurnRow(i)
  const row = rawRow ?? await rawTurnRow(i)
  if (i >= WARMUP) {
    rows.raw.push(row)
    rows.sdk.push(sdkRow)
  }
}
await raw.close()
await Effect.runPromise(Scope.close(scope, Exit.void))
for (const stop of stops) stop()

const col = (c: "raw" | "sdk", k: keyof Row) => summarize(rows[c].map((r) => r[k]))
const mean = (c: "raw" | "sdk", k: keyof Row) => rows[c].reduce((n, r) => n + r[k], 0) / rows[c].length
emit({
  turns,
  raw: { startMs: col("raw", "startMs"), restMs: col("raw", "restMs"), serverMs: col("raw", "serverMs"), cpuMainMs: mean("raw", "cpuMainMs"), cpuHelpersMs: mean("raw", "cpuHelpersMs"), chunks: mean("raw", "chunks") },
  sdk: { startMs: col("sdk", "startMs"), restMs: col("sdk", "restMs"), serverMs: col("sdk", "serverMs"), cpuMainMs: mean("sdk", "cpuMainMs"), cpuHelpersMs: mean("sdk", "cpuHelpersMs") }
})
process.exit(0)
