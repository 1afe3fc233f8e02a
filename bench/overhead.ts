/**
 * Benchmark 3b — per-request and per-turn overhead on the stub app-server (no model, no real
 * binary: what is left is the client). One contender per process:
 *   raw    bench/lib.ts RawClient
 *   sdk    the SDK (Codex.layer({ codexBin: stub }))
 * Measured after a warm-up: REQUESTS sequential `turn/interrupt` round trips (the stub answers
 * `{}` at once), then TURNS sequential turns of 10 deltas each (`thread.run` for the SDK;
 * `turn/start` … `turn/completed` for raw). Median wall time and mean CPU time per operation.
 *
 * Usage: node --conditions=source --import tsx bench/overhead.ts raw|sdk [requests] [turns]
 */
import { emit, RawClient, rawTurn, stubPath, summarize } from "./lib.js"

const contender = process.argv[2] ?? "sdk"
const requests = Number(process.argv[3] ?? 1000)
const turns = Number(process.argv[4] ?? 1000)
const WARMUP = 200
const env = { STUB_DELTAS: "10" }

const measure = async (n: number, op: () => Promise<unknown>) => {
  for (let i = 0; i < WARMUP; i++) await op()
  const times: Array<number> = []
  const cpu0 = process.cpuUsage()
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await op()
    times.push(performance.now() - t0)
  }
  const cpu = process.cpuUsage(cpu0)
  return { ms: summarize(times), cpuMsPerOp: (cpu.user + cpu.system) / 1000 / n }
}

if (contender === "raw") {
  const client = new RawClient(stubPath, { env })
  await client.initialize()
  const { thread } = await client.request("thread/start", {})
  const request = await measure(requests, () => client.request("turn/interrupt", { threadId: thread.id, turnId: "x" }))
  const turn = await measure(turns, async () => {
    const r = await rawTurn(client, thread.id, "go")
    if (r.deltas !== 10 || r.status !== "completed") throw new Error("bad turn")
  })
  await client.close()
  emit({ contender, requests, turns, request, turn })
} else if (contender === "sdk") {
  const Effect = await import("effect/Effect")
  const Runtime = await import("effect/Runtime")
  const { Codex } = await import("@effect-codex/app-server")
  const program = Effect.gen(function*() {
    const codex = yield* Codex.Codex
    const thread = yield* codex.threadStart()
    const runtime = yield* Effect.runtime<never>()
    const run = Runtime.runPromise(runtime)
    const req = codex.connection.request("turn/interrupt", { threadId: thread.id, turnId: "x" })
    const turnEffect = Effect.flatMap(thread.run("go"), (r) =>
      r.turn.status === "completed" && r.items.length > 0 ? Effect.void : Effect.dieMessage("bad turn"))
    // timed with the same Promise-per-operation loop as the raw client
    const request = yield* Effect.promise(() => measure(requests, () => run(req)))
    const turn = yield* Effect.promise(() => measure(turns, () => run(turnEffect)))
    return { request, turn }
  })
  const result = await Effect.runPromise(
    program.pipe(Effect.scoped, Effect.provide(Codex.layer({ codexBin: stubPath, env })))
  )
  emit({ contender, requests, turns, ...result })
} else {
  throw new Error(`unknown contender ${contender}`)
}
