#!/usr/bin/env node
// Summarizes a sampling heap profile (allocations by function, self and by file).
// Usage: node bench/tools/heap-summary.mjs FILE [top] [events]
import * as Fs from "node:fs"
const [file, topArg, eventsArg] = process.argv.slice(2)
const top = Number(topArg ?? 30), events = Number(eventsArg ?? 1)
const { head } = JSON.parse(Fs.readFileSync(file, "utf8"))
const self = new Map(); let total = 0
const walk = (n, stack) => {
  const cf = n.callFrame
  const k = `${cf.functionName || "(anonymous)"} ${cf.url.replace(/^.*\/(node_modules|packages|bench)\//, "$1/")}:${cf.lineNumber + 1}:${cf.columnNumber + 1}`
  self.set(k, (self.get(k) ?? 0) + n.selfSize); total += n.selfSize
  for (const c of n.children) walk(c, stack)
}
walk(head, [])
console.log(`total sampled allocation ${(total / 2 ** 20).toFixed(1)} MiB, ${(total / events).toFixed(0)} B per event`)
for (const [k, b] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(b / 2 ** 20).toFixed(1).padStart(8)} MiB ${(b / events).toFixed(0).padStart(6)} B/ev  ${k}`)
