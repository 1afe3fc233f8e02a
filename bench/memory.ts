/**
 * Benchmark 5 — memory over long runs, on the stub app-server (bench/stub-app-server.mjs). Run
 * with `--expose-gc`: every sample is taken after a full GC, so it shows what is retained.
 *   deltas  sdk: one turn of N deltas (default 1,000,000) consumed with Stream.runForEachChunk;
 *           RSS / heap sampled every N/20 deltas.
 *   turns   sdk: N sequential turns (default 2,000) of 10 deltas each on one connection and one
 *           thread with `thread.run`; sampled every N/20 turns. Also reports the time per turn.
 *   turns-raw  the raw client doing the same turns (time per turn only: the SDK's added latency
 *           per turn without the real binary's noise).
 * The bound checked: RSS of the last sample − RSS of the first sample after warm-up ≤ 20 MiB.
 *
 * Usage: node --expose-gc --conditions=source --import tsx bench/memory.ts deltas|turns|turns-raw [n]
 */
import { emit, MiB, RawClient, rawTurn, stubPath, summarize } from "./lib.js"

const mode = process.argv[2]
const n = Number(process.argv[3] ?? (mode === "deltas" ? 1_000_000 : 2000))
const every = Math.max(1, Math.floor(n / 20))
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with --expose-gc")

interface Sample {
  readonly at: number
  readonly rssMiB: number
  readonly heapUsedMiB: number
}
const samples: Array<Sample> = []
const sample = (at: number) => {
  gc()
  const m = process.memoryUsage()
  samples.push({ at, rssMiB: m.rss / MiB, heapUsedMiB: m.heapUsed / MiB })
}

const finish = (extra: Record<string, unknown>) => {
  // the first sample is taken after the first `every` units (warm-up: JIT, buffers at size)
  const first = samples[0]!
  const last = samples[samples.length - 1]!
  const growth = last.rssMiB - first.rssMiB
  emit({
    mode,
    n,
    every,
    samples,
    rssGrowthMiB: growth,
    heapGrowthMiB: last.heapUsedMiB - first.heapUsedMiB,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    boundMiB: 20,
    withinBound: growth <= 20,
    ...extra
  })
}

if (mode === "turns-raw") {
  const client = new RawClient(stubPath, { env: { STUB_DELTAS: "10" } })
  await client.initialize()
  const { thread } = await client.request("thread/start", {})
  const turnMs: Array<number> = []
  for (let i = 1; i <= n; i++) {
    const t0 = performance.now()
    const r = await rawTurn(client, thread.id, "go")
    turnMs.push(performance.now() - t0)
    if (r.deltas !== 10) throw new Error(`turn ${i}: ${r.deltas} deltas`)
    if (i % every === 0) sample(i)
  }
  await client.close()
  finish({ turnMs: summarize(turnMs.slice(every)) })
} else if (mode === "deltas" || mode === "turns") {
  const Effect = await import("effect/Effect")
  const Stream = await import("effect/Stream")
  const { Codex } = await import("@effect-codex/app-server")
  const env = { STUB_DELTAS: mode === "deltas" ? String(n) : "10" }
  const program = Effect.gen(function*() {
    const codex = yield* Codex.Codex
    const thread = yield* codex.threadStart()
    if (mode === "deltas") {
      const turn = yield* thread.turn("go")
      let count = 0
      let next = every
      const t0 = performance.now()
      yield* Stream.runForEachChunk(turn.stream, (chunk) =>
        Effect.sync(() => {
          for (const e of chunk) {
            if (e.method === "item/agentMessage/delta") count++
          }
          while (count >= next) {
            sample(next)
            next += every
          }
        }))
      if (count !== n) throw new Error(`counted ${count} of ${n} deltas`)
      return { ms: performance.now() - t0 }
    }
    const turnMs: Array<number> = []
    for (let i = 1; i <= n; i++) {
      const t0 = performance.now()
      const result = yield* thread.run("go")
      turnMs.push(performance.now() - t0)
      if (result.turn.status !== "completed") throw new Error(`turn ${i}: ${result.turn.status}`)
      if (i % every === 0) sample(i)
    }
    return { turnMs: summarize(turnMs.slice(every)) }
  })
  const extra = await Effect.runPromise(
    program.pipe(Effect.scoped, Effect.provide(Codex.layer({ codexBin: stubPath, env })))
  )
  finish(extra)
} else {
  throw new Error(`unknown mode ${mode}`)
}
