/**
 * Import footprint: RSS and heap after loading the client code (and a full GC), in a fresh process
 * started like every benchmark process (node --conditions=source --import tsx, i.e. the SDK from
 * its TypeScript sources).
 *   raw   bench/lib.ts only (the raw client)
 *   sdk   @effect-codex/app-server (all it needs: no platform layer)
 *
 * Usage: node --expose-gc --conditions=source --import tsx bench/footprint.ts raw|sdk
 */
import { emit, MiB } from "./lib.js"

const contender = process.argv[2]
const t0 = performance.now()
if (contender === "sdk") {
  await import("@effect-codex/app-server")
}
const importMs = performance.now() - t0
;(globalThis as { gc?: () => void }).gc?.()
const m = process.memoryUsage()
emit({ contender, importMs, rssMiB: m.rss / MiB, heapUsedMiB: m.heapUsed / MiB })
