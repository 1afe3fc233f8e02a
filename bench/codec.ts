/**
 * Benchmark 1 — codec: decode throughput of a realistic notification mix.
 *
 * Corpus: the server notifications of the captured real traffic
 * (packages/protocol/test/fixtures/traffic-<pinned version>.jsonl), replicated to LINES lines with a 90%
 * share of `item/agentMessage/delta` (every 10th line is one of the other notifications, in
 * fixture order). Contenders, interleaved per round (A B C A B C …), each over the whole corpus:
 *   sdk        JsonRpc.parseLine + Registry.decodeNotification (every event fully decoded)
 *   json       JSON.parse alone (the floor)
 *   classify   JsonRpc.parseLine alone (JSON.parse + envelope classification; no params Schema)
 *
 * Usage: node --conditions=source --import tsx bench/codec.ts [rounds] [lines]
 */
import * as Either from "effect/Either"
import * as JsonRpc from "@effect-codex/protocol/JsonRpc"
import * as Registry from "@effect-codex/protocol/Registry"
import { emit, fixtureNotificationLines, summarize } from "./lib.js"

const rounds = Number(process.argv[2] ?? 7)
const total = Number(process.argv[3] ?? 200_000)

const all = fixtureNotificationLines()
const deltas = all.filter((l) => l.includes(`"method":"item/agentMessage/delta"`))
const others = all.filter((l) => !l.includes(`"method":"item/agentMessage/delta"`))

const corpus: Array<string> = []
for (let i = 0, d = 0, o = 0; i < total; i++) {
  corpus.push(i % 10 === 9 ? others[o++ % others.length]! : deltas[d++ % deltas.length]!)
}
const bytes = corpus.reduce((n, l) => n + Buffer.byteLength(l), 0)

// sanity: every line of the corpus decodes with the SDK codec
let failures = 0
for (const line of [...deltas, ...others]) {
  const m = JsonRpc.parseLine(line)
  if (m._tag !== "Notification" || Either.isLeft(Registry.decodeNotification(m.method, m.params, m.emittedAtMs))) failures++
}

type Contender = (lines: ReadonlyArray<string>) => number

const contenders: Record<string, Contender> = {
  sdk: (lines) => {
    let ok = 0
    for (let i = 0; i < lines.length; i++) {
      const m = JsonRpc.parseLine(lines[i]!)
      if (m._tag === "Notification") {
        const decoded = Registry.decodeNotification(m.method, m.params, m.emittedAtMs)
        if (Either.isRight(decoded)) ok++
      }
    }
    return ok
  },
  json: (lines) => {
    let ok = 0
    for (let i = 0; i < lines.length; i++) {
      const v = JSON.parse(lines[i]!) as { method?: unknown }
      if (typeof v.method === "string") ok++
    }
    return ok
  },
  classify: (lines) => {
    let ok = 0
    for (let i = 0; i < lines.length; i++) {
      if (JsonRpc.parseLine(lines[i]!)._tag === "Notification") ok++
    }
    return ok
  }
}

const order = ["sdk", "json", "classify"] as const
const samples: Record<string, Array<number>> = { sdk: [], json: [], classify: [] }

// one warm-up round (JIT, decoder caches), then the measured rounds
for (let r = -1; r < rounds; r++) {
  for (const name of order) {
    const t0 = performance.now()
    const ok = contenders[name]!(corpus)
    const ms = performance.now() - t0
    if (ok !== corpus.length) throw new Error(`${name}: ${ok} of ${corpus.length} lines decoded`)
    if (r >= 0) samples[name]!.push(corpus.length / (ms / 1000))
  }
}

emit({
  lines: corpus.length,
  bytes,
  deltaShare: corpus.filter((l) => l.includes(`"method":"item/agentMessage/delta"`)).length / corpus.length,
  distinctLines: { deltas: deltas.length, others: others.length },
  fixtureDecodeFailures: failures,
  rounds,
  linesPerSecond: Object.fromEntries(order.map((n) => [n, summarize(samples[n]!)])),
  samples
})
