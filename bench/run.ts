/**
 * `npm run bench`: runs every benchmark (each contender in its own `node` process, contenders
 * interleaved round by round: A B C A B C …), then writes bench/results.json and BENCHMARKS.md.
 *
 *   npm run bench                 full run (a few minutes on 2 cores)
 *   npm run bench -- --quick      fewer rounds (a smoke test of the harness, ~1 minute)
 *   npm run bench -- --only=pool,transports  a subset: those steps are measured again and replace
 *                                            theirs in bench/results.json; the other steps keep the
 *                                            results of the run that measured them (each result
 *                                            carries its own `measured` date and load)
 *
 * Steps: codec, pipeline, latency, paired, phases, overhead, startup, memory, footprint, pool,
 * transports, cluster.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { codexVersion, commandLine, machine, repoRoot, round, runChild, summarize, type Summary } from "./lib.js"

const argv = process.argv.slice(2)
const quick = argv.includes("--quick")
const only = argv.find((a) => a.startsWith("--only="))?.slice("--only=".length).split(",")
const enabled = (name: string) => only === undefined || only.includes(name)

const R = {
  codec: quick ? 3 : 7,
  pipeline: quick ? 2 : 5,
  latency: quick ? 2 : 5,
  paired: quick ? 2 : 12,
  overhead: quick ? 1 : 3,
  startup: quick ? 4 : 10,
  transports: quick ? 20 : 150,
  clusterPaired: quick ? 20 : 150,
  clusterThroughput: quick ? 1 : 3
}
/** The pool benchmark: THREADS threads × TURNS turns at once, the model answering after DELAY ms. */
const POOL = { threads: quick ? 40 : 200, turns: 2, delayMs: 50 }
/** The cluster throughput benchmark: CONVERSATIONS × TURNS turns at once, model time DELAY ms. */
const CLUSTER = { conversations: quick ? 20 : 40, turns: 3, delayMs: 50 }
const PIPELINE_DELTAS = 200_000
const TURNS = 20

const log = (...a: Array<unknown>) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a)
const t0 = Date.now()
const loadBefore = Os.loadavg()

interface Step<A> {
  readonly module: string
  readonly args?: ReadonlyArray<string>
  readonly env?: Record<string, string>
  readonly flags?: ReadonlyArray<string>
  readonly timeoutMs?: number
}
const run = async <A>(step: Step<A>): Promise<A> => {
  const started = Date.now()
  const result = await runChild<A>(step.module, step.args ?? [], {
    ...(step.env === undefined ? {} : { env: step.env }),
    ...(step.flags === undefined ? {} : { flags: step.flags }),
    timeoutMs: step.timeoutMs ?? 240_000
  })
  log(`${step.module} ${(step.args ?? []).join(" ")} ${step.env ? JSON.stringify(step.env) : ""} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  return result
}
const cmd = <A>(step: Step<A>) => commandLine(step.module, step.args ?? [], { ...(step.env ? { env: step.env } : {}), ...(step.flags ? { flags: step.flags } : {}) })

const results: Record<string, unknown> = {}
const errors: Record<string, string> = {}
const attempt = async (name: string, body: () => Promise<unknown>) => {
  if (!enabled(name)) return
  log(`=== ${name}`)
  const load = Os.loadavg()
  try {
    const result = await body()
    results[name] = {
      ...(result as object),
      measured: { date: new Date().toISOString(), loadAverage: { before: load.map((x) => round(x, 2)), after: Os.loadavg().map((x) => round(x, 2)) } }
    }
  } catch (e) {
    errors[name] = e instanceof Error ? e.message : String(e)
    log(`!!! ${name} failed: ${errors[name]}`)
  }
}

const ratio = (a: number, b: number) => round(a / b, 3)
const pick = <T, K extends keyof T>(xs: ReadonlyArray<T>, k: K) => xs.map((x) => x[k])

// ---------------------------------------------------------------------------------------------
// 1. codec
// ---------------------------------------------------------------------------------------------
interface CodecResult {
  lines: number
  bytes: number
  deltaShare: number
  distinctLines: { deltas: number; others: number }
  fixtureDecodeFailures: number
  rounds: number
  linesPerSecond: Record<string, Summary>
}
await attempt("codec", async () => {
  const step: Step<CodecResult> = { module: "codec.ts", args: [String(R.codec), String(PIPELINE_DELTAS)] }
  const r = await run(step)
  const lps = r.linesPerSecond
  return {
    command: cmd(step),
    ...r,
    ratios: {
      sdkOverJson: ratio(lps.sdk!.median, lps.json!.median),
      classifyOverJson: ratio(lps.classify!.median, lps.json!.median)
    }
  }
})

// ---------------------------------------------------------------------------------------------
// 2. pipeline
// ---------------------------------------------------------------------------------------------
interface PipelineRun {
  contender: string
  deltas: number
  ms: number
  eventsPerSecond: number
  cpuMs: number
  cpuMicrosPerEvent: number
  gcMs: number
  gcCount: number
  rssBeforeTurnMiB: number
  maxRssMiB: number
  rssAfterMiB: number
}
const pipelineSummary = (runs: ReadonlyArray<PipelineRun>) => ({
  eventsPerSecond: summarize(pick(runs, "eventsPerSecond")),
  ms: summarize(pick(runs, "ms")),
  cpuMicrosPerEvent: summarize(pick(runs, "cpuMicrosPerEvent")),
  gcMs: summarize(pick(runs, "gcMs")),
  maxRssMiB: summarize(pick(runs, "maxRssMiB")),
  rssBeforeTurnMiB: summarize(pick(runs, "rssBeforeTurnMiB")),
  turnRssGrowthMiB: summarize(runs.map((r) => r.maxRssMiB - r.rssBeforeTurnMiB))
})
await attempt("pipeline", async () => {
  const contenders = ["raw", "sdk"] as const
  const steps = Object.fromEntries(contenders.map((c) => [c, { module: "pipeline.ts", args: [c, String(PIPELINE_DELTAS)] } as Step<PipelineRun>]))
  const runs: Record<string, Array<PipelineRun>> = { raw: [], sdk: [] }
  for (let r = 0; r < R.pipeline; r++) for (const c of contenders) runs[c]!.push(await run(steps[c]!))
  const perRound = (c: string) => runs[c]!.map((x, i) => x.eventsPerSecond / runs.raw![i]!.eventsPerSecond)
  return {
    deltas: PIPELINE_DELTAS,
    rounds: R.pipeline,
    commands: Object.fromEntries(contenders.map((c) => [c, cmd(steps[c]!)])),
    summary: Object.fromEntries(contenders.map((c) => [c, pipelineSummary(runs[c]!)])),
    ratios: {
      sdkOverRaw: ratio(summarize(pick(runs.sdk!, "eventsPerSecond")).median, summarize(pick(runs.raw!, "eventsPerSecond")).median),
      sdkOverRawPerRound: summarize(perRound("sdk"))
    },
    runs
  }
})

// ---------------------------------------------------------------------------------------------
// 3. turn latency (real binary + FakeModel) and per-turn overhead (stub)
// ---------------------------------------------------------------------------------------------
interface LatencyRun {
  contender: string
  turns: number
  totalMs: number
  turnMs: Array<number>
  completed: number
  modelRequests: number
}
await attempt("latency", async () => {
  const contenders = ["raw", "sdk", "codex-sdk"] as const
  const steps = Object.fromEntries(contenders.map((c) => [c, { module: "latency.ts", args: [c, String(TURNS)] } as Step<LatencyRun>]))
  const runs: Record<string, Array<LatencyRun>> = Object.fromEntries(contenders.map((c) => [c, []]))
  for (let r = 0; r < R.latency; r++) for (const c of contenders) runs[c]!.push(await run(steps[c]!))
  const turns = (c: string) => runs[c]!.flatMap((x) => x.turnMs)
  const roundMedian = (c: string, i: number) => summarize(runs[c]![i]!.turnMs).median
  const added = (c: string) => runs[c]!.map((_, i) => roundMedian(c, i) - roundMedian("raw", i))
  const summary = Object.fromEntries(contenders.map((c) => [c, {
    turnMs: summarize(turns(c)),
    turnMsAfterFirst: summarize(runs[c]!.flatMap((x) => x.turnMs.slice(1))),
    totalMs: summarize(pick(runs[c]!, "totalMs")),
    completed: runs[c]!.reduce((n, x) => n + x.completed, 0),
    modelRequests: runs[c]!.reduce((n, x) => n + x.modelRequests, 0)
  }]))
  const med = (c: string) => summary[c]!.turnMs.median
  const tot = (c: string) => summary[c]!.totalMs.median
  return {
    turns: TURNS,
    rounds: R.latency,
    commands: Object.fromEntries(contenders.map((c) => [c, cmd(steps[c]!)])),
    summary,
    addedMsPerTurn: {
      sdk: round(med("sdk") - med("raw"), 3),
      sdkPerRound: summarize(added("sdk"))
    },
    ratios: {
      codexSdkOverSdkTotal: ratio(tot("codex-sdk"), tot("sdk")),
      codexSdkOverSdkPerTurn: ratio(med("codex-sdk"), med("sdk")),
      codexSdkOverRawTotal: ratio(tot("codex-sdk"), tot("raw"))
    },
    runs
  }
})

interface PairedRun {
  contender: "paired"
  turns: number
  turnMs: Record<"raw" | "sdk", Array<number>>
  cpuMs: Record<"raw" | "sdk", Array<number>>
  completed: number
  modelRequests: number
}
await attempt("paired", async () => {
  const step: Step<PairedRun> = { module: "latency.ts", args: ["paired", String(TURNS)] }
  const runs: Array<PairedRun> = []
  for (let r = 0; r < R.paired; r++) runs.push(await run(step))
  const diffs = runs.flatMap((x) => x.turnMs.sdk.map((t, i) => t - x.turnMs.raw[i]!))
  const roundDiffs = runs.map((x) => summarize(x.turnMs.sdk.map((t, i) => t - x.turnMs.raw[i]!)).median)
  return {
    turns: TURNS,
    rounds: R.paired,
    command: cmd(step),
    turnMs: {
      raw: summarize(runs.flatMap((x) => x.turnMs.raw)),
      sdk: summarize(runs.flatMap((x) => x.turnMs.sdk))
    },
    cpuMs: {
      raw: summarize(runs.flatMap((x) => x.cpuMs.raw)),
      sdk: summarize(runs.flatMap((x) => x.cpuMs.sdk))
    },
    addedMs: { sdk: summarize(diffs) },
    addedMsPerRound: { sdk: summarize(roundDiffs) },
    completed: runs.reduce((n, x) => n + x.completed, 0),
    modelRequests: runs.reduce((n, x) => n + x.modelRequests, 0),
    runs
  }
})

await attempt("phases", async () => {
  const step: Step<Record<string, unknown>> = { module: "phases.ts", args: ["30"] }
  return { command: cmd(step), ...(await run(step)) }
})

interface OverheadRun {
  contender: string
  request: { ms: Summary; cpuMsPerOp: number }
  turn: { ms: Summary; cpuMsPerOp: number }
}
await attempt("overhead", async () => {
  const variants: Array<{ name: string; step: Step<OverheadRun> }> = [
    { name: "raw", step: { module: "overhead.ts", args: ["raw", "1000", "1000"] } },
    { name: "sdk", step: { module: "overhead.ts", args: ["sdk", "1000", "1000"] } }
  ]
  const runs: Record<string, Array<OverheadRun>> = Object.fromEntries(variants.map((v) => [v.name, []]))
  for (let r = 0; r < R.overhead; r++) for (const v of variants) runs[v.name]!.push(await run(v.step))
  const summary = Object.fromEntries(variants.map((v) => [v.name, {
    requestMedianMs: summarize(runs[v.name]!.map((x) => x.request.ms.median)),
    requestCpuMs: summarize(runs[v.name]!.map((x) => x.request.cpuMsPerOp)),
    turnMedianMs: summarize(runs[v.name]!.map((x) => x.turn.ms.median)),
    turnCpuMs: summarize(runs[v.name]!.map((x) => x.turn.cpuMsPerOp))
  }]))
  return { rounds: R.overhead, commands: Object.fromEntries(variants.map((v) => [v.name, cmd(v.step)])), summary, runs }
})

// ---------------------------------------------------------------------------------------------
// 4. startup
// ---------------------------------------------------------------------------------------------
await attempt("startup", async () => {
  const step: Step<Record<string, unknown>> = { module: "startup.ts", args: [String(R.startup)] }
  const r = await run(step)
  const s = r.startMs as Record<string, Summary>
  return { command: cmd(step), ...r, addedMs: round(s.sdk!.median - s.raw!.median, 2), ratio: ratio(s.sdk!.median, s.raw!.median) }
})

// ---------------------------------------------------------------------------------------------
// 5. memory (+ import footprint)
// ---------------------------------------------------------------------------------------------
await attempt("memory", async () => {
  const steps = {
    deltas: { module: "memory.ts", args: ["deltas", "1000000"], flags: ["--expose-gc"] },
    turns: { module: "memory.ts", args: ["turns", "2000"], flags: ["--expose-gc"] }
  } satisfies Record<string, Step<unknown>>
  const deltas = await run(steps.deltas)
  const turns = await run(steps.turns)
  return { commands: { deltas: cmd(steps.deltas), turns: cmd(steps.turns) }, deltas, turns }
})

await attempt("footprint", async () => {
  const steps = {
    raw: { module: "footprint.ts", args: ["raw"], flags: ["--expose-gc"] },
    sdk: { module: "footprint.ts", args: ["sdk"], flags: ["--expose-gc"] }
  } satisfies Record<string, Step<unknown>>
  return { commands: { raw: cmd(steps.raw), sdk: cmd(steps.sdk) }, raw: await run(steps.raw), sdk: await run(steps.sdk) }
})

// ---------------------------------------------------------------------------------------------
// 6. many processes: CodexPool, and the transports
// ---------------------------------------------------------------------------------------------
interface PoolRun {
  contender: string
  threads: number
  turns: number
  delayMs: number
  completed: number
  modelRequests: number
  processes: number
  seconds: number
  turnsPerSecond: number
  rssMiB: number
  pssMiB: number
}
await attempt("pool", async () => {
  const contenders = ["single", "pool-2", "pool-4", "per-thread"] as const
  const steps = Object.fromEntries(contenders.map((c) => [c, {
    module: "pool.ts",
    args: [c, String(POOL.threads), String(POOL.turns), String(POOL.delayMs)],
    timeoutMs: 600_000
  } as Step<PoolRun>]))
  const runs: Record<string, PoolRun> = {}
  for (const c of contenders) runs[c] = await run(steps[c]!)
  return { ...POOL, commands: Object.fromEntries(contenders.map((c) => [c, cmd(steps[c]!)])), runs }
})

interface TransportsRun {
  rounds: number
  warmup: number
  rows: Array<{ transport: string; medianMs: number; pairedVsStdioMs: number }>
  times: Record<string, Array<number>>
}
await attempt("transports", async () => {
  const step: Step<TransportsRun> = { module: "transports.ts", args: [String(R.transports)] }
  const r = await run(step)
  const stdio = r.times.stdio!
  const rows = r.rows.map((row) => {
    const own = r.times[row.transport]!
    return { ...row, turnMs: summarize(own), pairedVsStdioMs: summarize(own.map((t, i) => t - stdio[i]!)) }
  })
  return { command: cmd(step), rounds: r.rounds, warmup: r.warmup, rows }
})

// ---------------------------------------------------------------------------------------------
// 7. the cluster: a turn through CodexCluster against the pool directly; one and two runners
// ---------------------------------------------------------------------------------------------
interface ClusterPairedRun {
  rounds: number
  warmup: number
  storage: string
  wrongReplies: number
  times: Record<"cluster" | "pool", Array<number>>
}
interface ClusterThroughputRun {
  contender: string
  conversations: number
  turns: number
  delayMs: number
  processes: number
  completed: number
  wrongReplies: number
  seconds: number
  turnsPerSecond: number
  settleMs: number
  turnsByRunner: Record<string, number>
}
await attempt("cluster", async () => {
  const pairedStep: Step<ClusterPairedRun> = { module: "cluster.ts", args: ["paired", String(R.clusterPaired)] }
  const p = await run(pairedStep)
  const added = p.times.cluster.map((t, i) => t - p.times.pool[i]!)
  const contenders = ["pool-2", "runners-1", "runners-2"] as const
  const steps = Object.fromEntries(contenders.map((c) => [c, {
    module: "cluster.ts",
    args: ["throughput", c, String(CLUSTER.conversations), String(CLUSTER.turns), String(CLUSTER.delayMs)],
    timeoutMs: 600_000
  } as Step<ClusterThroughputRun>]))
  const runs: Record<string, Array<ClusterThroughputRun>> = Object.fromEntries(contenders.map((c) => [c, []]))
  for (let r = 0; r < R.clusterThroughput; r++) for (const c of contenders) runs[c]!.push(await run(steps[c]!))
  const cluster = summarize(p.times.cluster)
  const pool = summarize(p.times.pool)
  return {
    paired: {
      command: cmd(pairedStep),
      rounds: p.rounds,
      warmup: p.warmup,
      storage: p.storage,
      wrongReplies: p.wrongReplies,
      turnMs: { cluster, pool },
      addedMs: summarize(added),
      ratio: ratio(cluster.median, pool.median),
      ratioPerRound: summarize(p.times.cluster.map((t, i) => t / p.times.pool[i]!))
    },
    throughput: {
      ...CLUSTER,
      rounds: R.clusterThroughput,
      commands: Object.fromEntries(contenders.map((c) => [c, cmd(steps[c]!)])),
      summary: Object.fromEntries(contenders.map((c) => [c, {
        processes: runs[c]![0]!.processes,
        turnsPerSecond: summarize(pick(runs[c]!, "turnsPerSecond")),
        seconds: summarize(pick(runs[c]!, "seconds")),
        completed: runs[c]!.reduce((n, x) => n + x.completed, 0),
        expected: runs[c]!.length * CLUSTER.conversations * CLUSTER.turns,
        wrongReplies: runs[c]!.reduce((n, x) => n + x.wrongReplies, 0)
      }])),
      runs
    }
  }
})

// ---------------------------------------------------------------------------------------------
// output
// ---------------------------------------------------------------------------------------------
const elapsedS = (Date.now() - t0) / 1000
const meta = {
  date: new Date().toISOString(),
  command: `npm run bench${argv.length > 0 ? " -- " + argv.join(" ") : ""}`,
  quick,
  codexVersion,
  elapsedSeconds: round(elapsedS, 1),
  machine: machine(),
  loadAverage: { before: loadBefore.map((x) => round(x, 2)), after: Os.loadavg().map((x) => round(x, 2)) }
}
// a subset keeps the other steps' results of the run that measured them
const previous = only === undefined || !Fs.existsSync(Path.join(repoRoot, "bench/results.json"))
  ? undefined
  : JSON.parse(Fs.readFileSync(Path.join(repoRoot, "bench/results.json"), "utf8"))
const output = previous === undefined
  ? { meta, results, errors }
  : {
    meta: { ...meta, subset: only, previous: previous.meta.previous ?? previous.meta },
    results: { ...Object.fromEntries(Object.entries(previous.results).filter(([name]) => !enabled(name))), ...results },
    errors: { ...Object.fromEntries(Object.entries(previous.errors ?? {}).filter(([name]) => !enabled(name))), ...errors }
  }
Fs.writeFileSync(Path.join(repoRoot, "bench/results.json"), JSON.stringify(output, null, 2) + "\n")
const { renderMarkdown } = await import("./report.js")
Fs.writeFileSync(Path.join(repoRoot, "BENCHMARKS.md"), renderMarkdown(output))
log(`wrote bench/results.json and BENCHMARKS.md in ${elapsedS.toFixed(0)} s`)
if (Object.keys(errors).length > 0) {
  log(`failed: ${Object.keys(errors).join(", ")}`)
  process.exitCode = 1
}
