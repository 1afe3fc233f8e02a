import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { nativeCodex, RawClient, rawTurn, repoRoot, tsNodeArgs, summarize } from "../lib.js"
import { Codex } from "@effect-codex/app-server"
const startFake = async () => {
  const server = spawn(process.execPath, tsNodeArgs("fake-model-server.ts"), { stdio: ["pipe", "pipe", "inherit"], cwd: repoRoot })
  const lines = createInterface({ input: server.stdout! })[Symbol.asyncIterator]()
  return JSON.parse((await lines.next()).value as string)
}
const fa = await startFake(), fb = await startFake()
const raw = new RawClient(nativeCodex(), { env: { CODEX_HOME: fa.codexHome }, cwd: fa.workspace })
await raw.initialize()
const { thread: rawThread } = await raw.request("thread/start", {})
const rows = { rawCpu: [] as number[], sdkCpu: [] as number[], diff: [] as number[] }
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000 }
await Effect.runPromise(Effect.gen(function*() {
  const codex = yield* Codex.Codex
  const thread = yield* codex.threadStart()
  for (let i = 0; i < Number(process.env.TURNS ?? 80); i++) {
    let c0 = cpu(), t0 = performance.now()
    yield* Effect.promise(() => rawTurn(raw, rawThread.id, `q${i}`))
    const rc = cpu() - c0, rt = performance.now() - t0
    c0 = cpu(); t0 = performance.now()
    yield* thread.run(`q${i}`)
    const sc = cpu() - c0, st = performance.now() - t0
    if (i >= 3) { rows.rawCpu.push(rc); rows.sdkCpu.push(sc); rows.diff.push(st - rt) }
  }
}).pipe(Effect.scoped, Effect.provide(Codex.layer({ codexHome: fb.codexHome, cwd: fb.workspace }))))
const m = (xs: number[]) => summarize(xs).median.toFixed(3)
console.log("cpu/turn raw", m(rows.rawCpu), "sdk", m(rows.sdkCpu), "| added wall", m(rows.diff))
await raw.close(); process.exit(0)
