/**
 * Benchmark — `@effect-codex/cluster`: what a conversation turn costs through the cluster, and
 * turns per second with one and two runner processes. Two modes, one per process:
 *
 *   paired [rounds]
 *     One process, one FakeModel on 127.0.0.1 answering every request at once. Contender
 *     "cluster": `CodexCluster.layerSingle` (runner and client in one process, SQLite in a temp
 *     file, `CodexPool` size 1), one conversation; contender "pool": a `CodexPool` size 1 (same
 *     config) and one thread on it directly (`Codex.threadStart` + `thread.run`). Each round runs
 *     one turn on each, in an order shuffled per round (seeded), after warm-up rounds (the
 *     conversation's first turn, which starts its thread, is a warm-up turn). Reported: the
 *     per-turn times and the per-round differences cluster − pool.
 *
 *   throughput <contender> [conversations] [turns] [delayMs]
 *     CONVERSATIONS conversations × TURNS turns, all conversations at once, each running its turns
 *     in sequence, against the real binary and a FakeModel behind a proxy that holds every model
 *     request DELAY ms (model time, like bench/pool.ts). Contenders:
 *       runners-N  N runner processes (examples/cluster/runner.ts: each a `CodexPool` of 2
 *                  app-servers, one shared SQLite file and CODEX_HOME), this process a
 *                  `CodexCluster.layerClient`
 *       pool-2     the same work on a `CodexPool` size 2 in this process (no cluster): the
 *                  reference for what one runner's pool does without the cluster around it
 *     turns/s: completed turns from the first request to the last turn's end (thread starts
 *     included, runner startup not). The FakeModel and the proxy run in this process.
 *
 * The last line of the output is the result for bench/run.ts.
 *
 * Usage: node --conditions=source --import tsx bench/cluster.ts paired [rounds]
 *        node --conditions=source --import tsx bench/cluster.ts throughput runners-1|runners-2|pool-2 [conversations] [turns] [delayMs]
 *        (npm run bench:cluster)
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Approvals, Codex, CodexPool } from "@effect-codex/app-server"
import { CodexCluster } from "@effect-codex/cluster"
import { FakeModel } from "@effect-codex/testing"
import * as Runners from "../examples/cluster/runners.js"
import { emit, median, prng, shuffle } from "./lib.js"
import { delayingProxy } from "./proxy.js"

const mode = process.argv[2] ?? "paired"


const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-bench-cluster-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

// ---------------------------------------------------------------------------------------------
// paired: a turn through the cluster against a turn on the pool directly
// ---------------------------------------------------------------------------------------------
const paired = Effect.gen(function*() {
  const rounds = Number(process.argv[3] ?? 100)
  const warmup = 5
  const fake = yield* FakeModel.make({ respond: () => FakeModel.text("ok") })
  const dir = yield* tempDir
  const clusterContext = yield* Layer.build(
    CodexCluster.layerSingle({ pool: { size: 1, config: fake.config }, storage: CodexCluster.sqlite(Path.join(dir, "cluster.db")) })
      .pipe(Layer.provide(Approvals.declineAll))
  )
  const conversation = Context.get(clusterContext, CodexCluster.CodexCluster).conversation("bench:paired")
  const poolContext = yield* Layer.build(CodexPool.layer({ size: 1, config: fake.config }).pipe(Layer.provide(Approvals.declineAll)))
  const thread = yield* Context.get(poolContext, Codex.Codex).threadStart()

  const contenders: ReadonlyArray<readonly [string, Effect.Effect<string | null, unknown>]> = [
    ["cluster", Effect.map(conversation.run("ping"), (r) => Option.getOrNull(r.finalResponse))],
    ["pool", Effect.map(thread.run("ping"), (r) => Option.getOrNull(r.finalResponse))]
  ]
  const times = new Map<string, Array<number>>(contenders.map(([name]) => [name, []]))
  let wrong = 0
  const random = prng(14)
  for (let round = 0; round < warmup + rounds; round++) {
    for (const [name, turn] of shuffle(contenders, random)) {
      const started = performance.now()
      const text = yield* turn
      const ms = performance.now() - started
      if (text !== "ok") wrong++
      if (round >= warmup) times.get(name)!.push(ms)
    }
  }
  const cluster = times.get("cluster")!
  const pool = times.get("pool")!
  const added = cluster.map((t, i) => t - pool[i]!)
  console.log(
    `${rounds} paired rounds (after ${warmup} warm-up): cluster ${median(cluster).toFixed(2)} ms, pool ${median(pool).toFixed(2)} ms, ` +
      `added ${median(added).toFixed(2)} ms (ratio ${(median(cluster) / median(pool)).toFixed(2)})`
  )
  return { mode: "paired", rounds, warmup, storage: "sqlite", wrongReplies: wrong, times: Object.fromEntries(times) }
})

// ---------------------------------------------------------------------------------------------
// throughput: K conversations × T turns through 1 or 2 runner processes
// ---------------------------------------------------------------------------------------------


const throughput = Effect.gen(function*() {
  const contender = process.argv[3] ?? "runners-1"
  const conversations = Number(process.argv[4] ?? 40)
  const turns = Number(process.argv[5] ?? 3)
  const delayMs = Number(process.argv[6] ?? 50)
  const fake = yield* FakeModel.make({ respond: (request) => FakeModel.text(`re: ${FakeModel.lastUserText(request) ?? ""}`) })
  const proxy = yield* delayingProxy(new URL(fake.baseUrl), delayMs)
  Fs.writeFileSync(Path.join(fake.codexHome, "config.toml"), fake.configToml.split(fake.baseUrl).join(`http://127.0.0.1:${proxy.port}`))
  const ids = Array.from({ length: conversations }, (_, i) => `bench:${i}`)
  const ranOn = new Map<string, number>()
  let completed = 0
  let wrong = 0
  let seconds: number
  let settleMs = 0
  let processes: number

  if (contender === "pool-2") {
    const context = yield* Layer.build(CodexPool.layer({ size: 2, config: fake.config }).pipe(Layer.provide(Approvals.declineAll)))
    const codex = Context.get(context, Codex.Codex)
    processes = 2
    const started = performance.now()
    yield* Effect.forEach(ids, (id) =>
      Effect.gen(function*() {
        const thread = yield* codex.threadStart()
        for (let t = 0; t < turns; t++) {
          const r = yield* thread.run(`${id} turn ${t}`)
          if (Option.getOrNull(r.finalResponse) !== `re: ${id} turn ${t}`) wrong++
          completed++
        }
      }), { concurrency: "unbounded", discard: true })
    seconds = (performance.now() - started) / 1000
    ranOn.set("in-process", conversations)
  } else {
    const n = Number(contender.slice("runners-".length))
    const dir = yield* tempDir
    const filename = Path.join(dir, "cluster.db")
    // one by one: the first creates the cluster's tables
    const runners: Array<Runners.Runner> = []
    for (let i = 0; i < n; i++) runners.push(yield* Runners.start(`runner-${i}`, { sqlite: filename }, fake.config))
    processes = n * 2
    const cluster = Context.get(yield* Layer.build(CodexCluster.layerClient({ storage: CodexCluster.sqlite(filename) })), CodexCluster.CodexCluster)
    // the shards settle over the runners before the clock starts (no conversation moves meanwhile)
    const settleStart = performance.now()
    yield* Runners.settled(runners)
    settleMs = performance.now() - settleStart
    const started = performance.now()
    yield* Effect.forEach(ids, (id) =>
      Effect.gen(function*() {
        const conversation = cluster.conversation(id)
        for (let t = 0; t < turns; t++) {
          const r = yield* conversation.run(`${id} turn ${t}`)
          if (Option.getOrNull(r.finalResponse) !== `re: ${id} turn ${t}`) wrong++
          ranOn.set(r.runner, (ranOn.get(r.runner) ?? 0) + 1)
          completed++
        }
      }), { concurrency: "unbounded", discard: true })
    seconds = (performance.now() - started) / 1000
  }
  const result = {
    mode: "throughput",
    contender,
    conversations,
    turns,
    delayMs,
    processes,
    completed,
    wrongReplies: wrong,
    seconds,
    turnsPerSecond: completed / seconds,
    settleMs,
    turnsByRunner: Object.fromEntries(ranOn)
  }
  console.log(`${contender}: ${completed} turns in ${seconds.toFixed(1)} s = ${result.turnsPerSecond.toFixed(2)} turns/s, by runner ${JSON.stringify(result.turnsByRunner)}`)
  return result
})

const body: Effect.Effect<object, unknown, Scope.Scope> = mode === "throughput" ? throughput : paired
const program = Effect.scoped(body)
Effect.runPromise(program).then(
  (result) => {
    emit(result)
    // the cluster client keeps timers (shard refresh): exit once the scope is closed
    process.exit(0)
  },
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
