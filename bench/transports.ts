/**
 * Benchmark — the per-turn cost of each transport against stdio, paired: one thread on each of
 * stdio (`Codex.layer`), WebSocket (`--listen ws://127.0.0.1`, capability token), unix socket
 * (`--listen unix://`) and the daemon proxy (`codex app-server proxy --sock`, over a unix server
 * of its own), all against one FakeModel on 127.0.0.1 that answers every request at once. Each
 * round runs one turn on every transport, in an order shuffled per round (seeded), so drift and
 * the turn before hit them alike; reported: the median turn time per transport and its
 * difference from stdio's in the same round (median of the paired differences).
 *
 * Every transport has an app-server process of its own, and the order is shuffled rather than
 * rotated: with the unix socket and the proxy on one server and a rotating order (each transport
 * then always follows the same one), the unix socket measured +1.6–2.1 ms that were not its own
 * (BENCHMARKS.md, "The per-turn cost of each transport").
 *
 * The last line of the output is the result for bench/run.ts.
 *
 * Usage: node --conditions=source --import tsx bench/transports.ts [rounds]   (npm run bench:transports)
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Approvals, Codex } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as LocalServer from "../examples/local-server.js"
import { emit, median, prng, shuffle } from "./lib.js"

const rounds = Number(process.argv[2] ?? 60)
const warmup = 5


const program = Effect.gen(function*() {
  const fake = yield* FakeModel.make({ respond: () => FakeModel.text("ok") })
  const config = fake.config
  const ws = yield* LocalServer.startWebSocket(config)
  const unix = yield* LocalServer.startUnix(config)
  const daemon = yield* LocalServer.startUnix(config)
  const contenders: ReadonlyArray<readonly [string, Layer.Layer<Codex.Codex, unknown>]> = [
    ["stdio", Codex.layer(config)],
    ["websocket", Codex.layerWebSocket({ ...config, url: ws.url, token: ws.token })],
    ["unix socket", Codex.layerUnixSocket({ ...config, path: unix.socket })],
    ["daemon proxy", Codex.layerProxy({ ...config, socket: daemon.socket })]
  ]
  const threads = yield* Effect.forEach(contenders, ([name, layer]) =>
    Effect.gen(function*() {
      const context = yield* Layer.build(layer.pipe(Layer.provide(Approvals.declineAll)))
      const thread = yield* Context.get(context, Codex.Codex).threadStart()
      return { name, thread }
    }))
  const times = new Map<string, Array<number>>(threads.map((t) => [t.name, []]))
  const random = prng(13)
  for (let round = 0; round < warmup + rounds; round++) {
    for (const { name, thread } of shuffle(threads, random)) {
      const started = performance.now()
      yield* thread.run("ping")
      if (round >= warmup) times.get(name)!.push(performance.now() - started)
    }
  }
  const stdio = times.get("stdio")!
  const rows = threads.map(({ name }) => {
    const own = times.get(name)!
    return {
      transport: name,
      medianMs: Number(median(own).toFixed(3)),
      pairedVsStdioMs: Number(median(own.map((t, i) => t - stdio[i]!)).toFixed(3))
    }
  })
  console.log(`${rounds} paired rounds (after ${warmup} warm-up rounds), one turn per transport per round, shuffled order`)
  console.table(rows)
  emit({ benchmark: "transports", rounds, warmup, rows, times: Object.fromEntries(times) })
}).pipe(Effect.scoped)

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
