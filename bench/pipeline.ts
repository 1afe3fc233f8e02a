/**
 * Benchmark 2 — event pipeline: one turn of DELTAS `item/agentMessage/delta` notifications written
 * by the stub app-server (bench/stub-app-server.mjs) as fast as the pipe allows, consumed to the
 * end. One contender per process (so the RSS figures do not share a heap):
 *   sdk   Codex.layer({ codexBin: stub }) → threadStart → thread.turn → Stream.runFold (count deltas)
 *   raw   child_process.spawn, split on "\n", JSON.parse, count deltas (bench/lib.ts RawClient)
 * Timed from just before `turn/start` is sent until `turn/completed` is consumed.
 *
 * Usage: node --conditions=source --import tsx bench/pipeline.ts sdk|raw [deltas]
 */
import { PerformanceObserver } from "node:perf_hooks"
import { emit, MiB, RawClient, rawTurn, stubPath } from "./lib.js"

// GC pauses during the measured turn (main-thread pause time of every GC)
let gcMs = 0
let gcCount = 0
let measuring = false
new PerformanceObserver((list) => {
  if (!measuring) return
  for (const entry of list.getEntries()) {
    gcMs += entry.duration
    gcCount++
  }
}).observe({ entryTypes: ["gc"] })
let chunks = 0

// BENCH_PROFILE=file.cpuprofile: a CPU profile of the measured turn only (node:inspector)
const profileFile = process.env.BENCH_PROFILE
const { Session } = await import("node:inspector/promises")
const session = profileFile === undefined ? undefined : new Session()
const heapProfile = process.env.BENCH_HEAP === "1"
const startProfile = async () => {
  if (session === undefined) return
  session.connect()
  if (heapProfile) {
    await session.post("HeapProfiler.enable")
    await session.post("HeapProfiler.startSampling", { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as any)
    return
  }
  await session.post("Profiler.enable")
  await session.post("Profiler.setSamplingInterval", { interval: 100 })
  await session.post("Profiler.start")
}
const stopProfile = async () => {
  if (session === undefined) return
  const { profile } = heapProfile ? await session.post("HeapProfiler.stopSampling") as any : await session.post("Profiler.stop")
  const Fs = await import("node:fs")
  Fs.writeFileSync(profileFile!, JSON.stringify(profile))
  session.disconnect()
}

const contender = process.argv[2]
const deltas = Number(process.argv[3] ?? 200_000)
const env = { STUB_DELTAS: String(deltas) }

const cpuMs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since)
  return (d.user + d.system) / 1000
}

const report = (counted: number, ms: number, rssBefore: number, cpu: number) => {
  if (counted !== deltas) throw new Error(`${contender}: counted ${counted} of ${deltas} deltas`)
  emit({
    contender,
    deltas,
    ms,
    eventsPerSecond: deltas / (ms / 1000),
    cpuMs: cpu,
    gcMs,
    gcCount,
    ...(chunks > 0 ? { chunks } : {}),
    cpuMicrosPerEvent: (cpu * 1000) / deltas,
    rssBeforeTurnMiB: rssBefore / MiB,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    rssAfterMiB: process.memoryUsage().rss / MiB
  })
}

if (contender === "raw") {
  const client = new RawClient(stubPath, { env })
  await client.initialize()
  const { thread } = await client.request("thread/start", {})
  const rssBefore = process.memoryUsage().rss
  await startProfile()
  const cpu0 = process.cpuUsage()
  measuring = true
  const t0 = performance.now()
  const result = await rawTurn(client, thread.id, "go")
  const ms = performance.now() - t0
  await new Promise((r) => setImmediate(r))
  measuring = false
  await stopProfile()
  const cpu = cpuMs(cpu0)
  await client.close()
  report(result.deltas, ms, rssBefore, cpu)
} else if (contender === "sdk") {
  const Effect = await import("effect/Effect")
  const Stream = await import("effect/Stream")
  const { Codex } = await import("@effect-codex/app-server")
  const program = Effect.gen(function*() {
    const codex = yield* Codex.Codex
    const thread = yield* codex.threadStart()
    const rssBefore = process.memoryUsage().rss
    yield* Effect.promise(startProfile)
    const cpu0 = process.cpuUsage()
    measuring = true
    const t0 = performance.now()
    const turn = yield* thread.turn("go")
    const stream = process.env.BENCH_CHUNKS === "1" ? Stream.mapChunks(turn.stream, (c) => (chunks++, c)) : turn.stream
    const consumer = process.env.BENCH_CONSUMER ?? "fold"
    let counted = 0
    if (consumer === "fold") {
      counted = yield* Stream.runFold(stream, 0, (n, e) => (e.method === "item/agentMessage/delta" ? n + 1 : n))
    } else if (consumer === "chunks") {
      yield* Stream.runForEachChunk(stream, (chunk) =>
        Effect.sync(() => {
          for (const e of chunk) if (e.method === "item/agentMessage/delta") counted++
        }))
    } else if (consumer === "drain") {
      yield* Stream.runDrain(stream)
      counted = deltas
    } else {
      yield* Stream.runForEach(stream, (e) => Effect.sync(() => {
        if (e.method === "item/agentMessage/delta") counted++
      }))
    }
    const ms = performance.now() - t0
    yield* Effect.promise(() => new Promise((r) => setImmediate(r)))
    measuring = false
    yield* Effect.promise(stopProfile)
    return { counted, ms, rssBefore, cpu: cpuMs(cpu0) }
  }).pipe(
    Effect.scoped,
    Effect.provide(Codex.layer({ codexBin: stubPath, env }))
  )
  const { counted, ms, rssBefore, cpu } = await Effect.runPromise(program)
  report(counted, ms, rssBefore, cpu)
} else {
  throw new Error(`unknown contender ${contender}`)
}
