/**
 * Tool — JSON-RPC request round trips over the unix socket, the daemon proxy and `ws://` TCP,
 * with raw `ws` clients (no SDK), paired round by round: the check that the unix socket's
 * per-turn cost in bench/transports.ts was not the client's (docs/PROTOCOL.md "Transports").
 *
 * Usage: node --conditions=source --import tsx bench/tools/ws-roundtrip.ts [rounds] [method]
 */
import { Effect, Redacted } from "effect"
import * as Net from "node:net"
import { spawn } from "node:child_process"
import { Duplex } from "node:stream"
import WebSocket from "ws"
import { FakeModel } from "@effect-codex/testing"
import { CodexBinary } from "@effect-codex/app-server"
import * as LocalServer from "../../examples/local-server.js"

const N = Number(process.argv[2] ?? 300)
const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

const client = (ws: WebSocket) => {
  let id = 0
  const pending = new Map<number, () => void>()
  ws.on("message", (d) => {
    const m = JSON.parse(d.toString())
    if (m.id !== undefined && m.method === undefined) pending.get(m.id)?.()
  })
  return (method: string, params: unknown) => new Promise<void>((resolve) => {
    const i = ++id
    pending.set(i, resolve)
    ws.send(JSON.stringify({ id: i, method, params }))
  })
}
const open = (ws: WebSocket) => new Promise<WebSocket>((r, j) => { ws.once("open", () => r(ws)); ws.once("error", j) })

const program = Effect.gen(function*() {
  const fake = yield* FakeModel.make({ respond: () => FakeModel.text("ok") })
  const unix = yield* LocalServer.startUnix(fake.config)
  const ws = yield* LocalServer.startWebSocket(fake.config)
  const bin = yield* Effect.orDie(CodexBinary.resolve(fake.config))
  const conns: Record<string, WebSocket> = {}
  conns.unix = yield* Effect.promise(() => open(new WebSocket("ws://localhost/", { perMessageDeflate: false, createConnection: (() => Net.createConnection({ path: unix.socket })) as never })))
  const child = spawn(bin.path, ["app-server", "proxy", "--sock", unix.socket], { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, CODEX_HOME: fake.codexHome } })
  const duplex = Duplex.from({ readable: child.stdout!, writable: child.stdin! })
  conns.proxy = yield* Effect.promise(() => open(new WebSocket("ws://localhost/", { perMessageDeflate: false, createConnection: (() => duplex) as never })))
  conns.tcp = yield* Effect.promise(() => open(new WebSocket(ws.url, { perMessageDeflate: false, headers: { authorization: `Bearer ${Redacted.value(ws.token)}` } })))
  const calls = Object.fromEntries(Object.entries(conns).map(([k, w]) => [k, client(w)]))
  for (const call of Object.values(calls)) {
    yield* Effect.promise(() => call("initialize", { clientInfo: { name: "probe", title: "p", version: "0" }, capabilities: { experimentalApi: false } }))
  }
  const times: Record<string, Array<number>> = Object.fromEntries(Object.keys(calls).map((k) => [k, []]))
  const method = process.argv[3] ?? "model/list"
  for (let r = 0; r < N; r++) {
    for (const [k, call] of Object.entries(calls)) {
      const t = performance.now()
      yield* Effect.promise(() => call(method, {}))
      times[k]!.push(performance.now() - t)
    }
  }
  // the first 20 rounds are warm-up
  for (const [k, xs] of Object.entries(times)) console.log(`${k}: median ${median(xs.slice(20)).toFixed(3)} ms`)
  child.kill()
}).pipe(Effect.scoped)
Effect.runPromise(program).then(() => process.exit(0))
