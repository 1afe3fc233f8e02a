import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Exit from "effect/Exit"
import { Socket } from "node:net"
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { nativeCodex, RawClient, rawTurn, repoRoot, tsNodeArgs, summarize } from "../lib.js"
const mod = await import("@effect-codex/app-server")
let wroteAt = 0, dataAt = 0
const marks: Array<[string, number]> = []
;(globalThis as any).__mark = (l: string) => marks.push([l, performance.now()])
const acc = new Map<string, number[]>()
const marks2: Array<[string, number]> = []
;(globalThis as any).__mark2 = (l: string) => marks2.push([l, performance.now()])
const acc2 = new Map<string, number[]>()
const origWrite = Socket.prototype.write
Socket.prototype.write = function (this: Socket, chunk: any, ...rest: any[]) {
  if (typeof chunk === "string" && chunk.includes("turn/start")) wroteAt = performance.now()
  return (origWrite as any).call(this, chunk, ...rest)
} as any
const origEmit = Socket.prototype.emit
Socket.prototype.emit = function (this: Socket, ev: any, ...args: any[]) {
  if (ev === "data" && args[0] && args[0].toString().includes("turn/completed")) dataAt = performance.now()
  return (origEmit as any).call(this, ev, ...args)
} as any
const startFake = async () => {
  const server = spawn(process.execPath, tsNodeArgs("fake-model-server.ts"), { stdio: ["pipe", "pipe", "inherit"], cwd: repoRoot })
  const lines = createInterface({ input: server.stdout! })[Symbol.asyncIterator]()
  return JSON.parse((await lines.next()).value as string)
}
const fa = await startFake(), fb = await startFake()
const raw = new RawClient(nativeCodex(), { env: { CODEX_HOME: fa.codexHome }, cwd: fa.workspace })
await raw.initialize()
const { thread: rawThread } = await raw.request("thread/start", {})
const scope = Effect.runSync(Scope.make())
const context = await Effect.runPromise(Layer.buildWithScope(mod.Codex.layer({ codexHome: fb.codexHome, cwd: fb.workspace }), scope))
const runtime = await Effect.runPromise(Effect.provide(Effect.runtime<never>(), context as any) as any) as any
const run = Runtime.runPromise(runtime)
const codex: any = await run(mod.Codex.Codex as any)
const thread: any = await run(Effect.scoped(codex.threadStart()) as any)
const rows: any = { raw: { pre: [], post: [] }, sdk: { pre: [], post: [] } }
const N = Number(process.argv[2] ?? 40)
for (let i = 0; i < N; i++) {
  let t0 = performance.now()
  await rawTurn(raw, rawThread.id, `q${i}`)
  let t1 = performance.now()
  if (i >= 3) { rows.raw.pre.push(wroteAt - t0); rows.raw.post.push(t1 - dataAt) }
  t0 = performance.now()
  marks.length = 0
  marks.push(["call", t0])
  if (process.env.PRE) await run(Effect.sync(() => marks.push(["pre", performance.now()])))
  if (process.env.PRE2) { const x = performance.now(); for (let k = 0; k < 1e5; k++) Math.sqrt(k); marks.push(["spin", performance.now()]) }
  const p = run(thread.run(`q${i}`))
  await new Promise((r) => setImmediate(r))
  if (i >= 3) { let prev = t0; for (const [l, t] of [...marks, ["write", wroteAt] as [string, number]]) { const a = acc.get(l) ?? []; a.push(t - prev); acc.set(l, a); prev = t } }
  await p
  const tEnd = performance.now()
  if (i >= 3) { const from = marks2.findIndex(([l]) => l === "markCompleted"); const seq = [["data", dataAt], ...marks2.slice(Math.max(0, from - 2)), ["resolved", tEnd]] as Array<[string, number]>; let prev = dataAt; for (const [l, t] of seq) { const a = acc2.get(l) ?? []; a.push(t - prev); acc2.set(l, a); prev = t } }
  marks2.length = 0
  t1 = performance.now()
  if (i >= 3) { rows.sdk.pre.push(wroteAt - t0); rows.sdk.post.push(t1 - dataAt) }
}
const time = async (label: string, f: () => Promise<unknown>) => {
  const xs: number[] = []
  for (let i = 0; i < 200; i++) { const t = performance.now(); await f(); xs.push(performance.now() - t) }
  console.log(label, summarize(xs.slice(50)).median.toFixed(3))
}
await time("run(Effect.void)", () => run(Effect.void))
await time("run(scoped void)", () => run(Effect.scoped(Effect.void)))
await time("run(scoped gen)", () => run(Effect.scoped(Effect.gen(function*() { yield* Effect.void }))))
await time("run(scoped addFinalizer)", () => run(Effect.scoped(Effect.addFinalizer(() => Effect.void))))
await time("run(scoped subscribeThread)", () => run(Effect.scoped(codex.connection.subscribeThread(thread.id))))
let w = 0
await time("request turn/interrupt call→write", async () => { const t = performance.now(); await run(Effect.ignore(codex.connection.request("turn/interrupt", { threadId: thread.id, turnId: "x" }))); w += wroteAt })
const Registry = await import("@effect-codex/protocol/Registry")
await time("encode turn/start params", async () => Registry.encodeRequestParams("turn/start", { threadId: thread.id, input: [{ type: "text", text: "q", textElements: [] }] } as any))
for (const [l, xs] of acc) console.log("  ", l.padEnd(12), summarize(xs).median.toFixed(3))
for (const [l, xs] of acc2) console.log("  <", l.padEnd(12), summarize(xs).median.toFixed(3))
for (const c of ["raw", "sdk"]) console.log(c, "call→write", summarize(rows[c].pre).median.toFixed(3), "data(turn/completed)→resolved", summarize(rows[c].post).median.toFixed(3))
await raw.close(); await Effect.runPromise(Scope.close(scope, Exit.void)); process.exit(0)
