/**
 * Benchmark — CodexPool: THREADS threads × TURNS turns, all threads at once, against the real
 * pinned `codex app-server` and a FakeModel on 127.0.0.1 that answers each model request after
 * DELAY ms (a delaying proxy in front of it: the proxy holds each request DELAY ms, then forwards
 * it). One contender per process:
 *   single   Codex.layer(config): one app-server process
 *   pool-N   CodexPool.layer({ size: N, config }): N processes sharing the CODEX_HOME
 *   per-thread  CodexPool.layer({ size: threads, maxThreadsPerProcess: 1, config }): one process
 *            per thread (started lazily, one by one, as the threads are started)
 * Reported: turns/s over the whole run (from the first threadStart to the last turn's end, the
 * processes' startup included), and the memory at the end of the run of this node process + every
 * app-server process (from /proc/<pid>/smaps_rollup): the total RSS (counts the pages the
 * app-servers share, such as the binary's text, once per process) and the total PSS (shared pages
 * divided among their sharers: what the processes cost together).
 *
 * The FakeModel and the proxy share this process's event loop with the SDK (like the other
 * in-process benchmarks, unlike bench/latency.ts).
 *
 * Usage: node --conditions=source --import tsx bench/pool.ts single|pool-N|per-thread [threads] [turns] [delayMs]
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Approvals, Codex, CodexConfig, CodexPool, StdioTransport } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import { emit } from "./lib.js"
import { delayingProxy } from "./proxy.js"

const contender = process.argv[2] ?? "single"
const threads = Number(process.argv[3] ?? 200)
const turns = Number(process.argv[4] ?? 2)
const delayMs = Number(process.argv[5] ?? 50)

/** RSS and PSS of a process in bytes (`/proc/<pid>/smaps_rollup`; 0 when it is gone). */
const memoryOf = (pid: number): { readonly rss: number; readonly pss: number } => {
  try {
    const rollup = Fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8")
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? 0) * 1024
    return { rss: kb("Rss"), pss: kb("Pss") }
  } catch {
    return { rss: 0, pss: 0 }
  }
}


const poolOptions = (config: CodexConfig.CodexConfig): CodexPool.Options =>
  contender === "per-thread"
    ? { size: threads, maxThreadsPerProcess: 1, config }
    : { size: Number(contender.slice("pool-".length)), config }

const program = Effect.gen(function*() {
  const fake = yield* FakeModel.make({ onEmpty: FakeModel.text("Hello from the fake model.", { chunks: ["Hello ", "from ", "the fake model."] }) })
  const proxy = yield* delayingProxy(new URL(fake.baseUrl), delayMs)
  // point codex at the proxy instead of the fake
  const toml = fake.configToml.split(fake.baseUrl).join(`http://127.0.0.1:${proxy.port}`)
  Fs.writeFileSync(Path.join(fake.codexHome, "config.toml"), toml)

  const started = performance.now()
  // the context holds Codex, and StdioTransport (single) or CodexPool (pool-N)
  const context = (yield* (contender === "single"
    ? Layer.build(Layer.provide(Codex.layer(fake.config), Approvals.declineAll))
    : Layer.build(Layer.provide(CodexPool.layer(poolOptions(fake.config)), Approvals.declineAll))
  )) as Context.Context<Codex.Codex | StdioTransport.StdioTransport | CodexPool.CodexPool>
  const codex = Context.get(context, Codex.Codex)
  const pids = (): Effect.Effect<ReadonlyArray<number>> =>
    contender === "single"
      ? Effect.succeed([Context.get(context, StdioTransport.StdioTransport).pid])
      : Effect.map(Context.get(context, CodexPool.CodexPool).stats, (s) => s.processes.map((p) => p.pid ?? 0))

  let completed = 0
  yield* Effect.forEach(
    Array.from({ length: threads }, (_, i) => i),
    (i) =>
      Effect.gen(function*() {
        const thread = yield* codex.threadStart()
        for (let t = 0; t < turns; t++) {
          yield* thread.run(`thread ${i} turn ${t}`)
          completed++
        }
      }),
    { concurrency: "unbounded", discard: true }
  )
  const seconds = (performance.now() - started) / 1000
  const processes = yield* pids()
  const memory = [process.pid, ...processes].map(memoryOf)
  const rss = memory.reduce((sum, m) => sum + m.rss, 0)
  const pss = memory.reduce((sum, m) => sum + m.pss, 0)
  const requests = (yield* fake.requests).filter((r) => r.path.endsWith("/responses")).length
  return {
    contender,
    threads,
    turns,
    delayMs,
    completed,
    modelRequests: requests,
    processes: processes.length,
    seconds,
    turnsPerSecond: completed / seconds,
    rssMiB: rss / 1024 / 1024,
    pssMiB: pss / 1024 / 1024
  }
})

const result = await Effect.runPromise(Effect.scoped(program))
emit(result)
