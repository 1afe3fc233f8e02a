#!/usr/bin/env node
// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by file, and
// inclusive ("total") time of the top functions.  Usage: node bench/tools/profile-summary.mjs FILE [top]
import * as Fs from "node:fs"
const [file, topArg] = process.argv.slice(2)
const top = Number(topArg ?? 30)
const prof = JSON.parse(Fs.readFileSync(file, "utf8"))
const byId = new Map(prof.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const self = new Map()
const dt = prof.timeDeltas
for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (dt[i] ?? 0))
const totalUs = dt.reduce((a, b) => a + b, 0)
const key = (n) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/^.*\/(node_modules|packages)\//, "$1/")}:${n.callFrame.lineNumber + 1}`
const fileKey = (n) => n.callFrame.url.replace(/^.*\/(node_modules|packages)\//, "$1/") || n.callFrame.functionName
const selfBy = new Map(), fileBy = new Map(), incl = new Map()
for (const [id, us] of self) {
  const n = byId.get(id)
  selfBy.set(key(n), (selfBy.get(key(n)) ?? 0) + us)
  fileBy.set(fileKey(n), (fileBy.get(fileKey(n)) ?? 0) + us)
  const seen = new Set()
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const k = key(byId.get(cur))
    if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + us) }
  }
}
const show = (title, m) => {
  console.log(`\n== ${title} (total ${(totalUs / 1000).toFixed(0)} ms)`)
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(us / 1000).toFixed(1).padStart(9)} ms ${(100 * us / totalUs).toFixed(1).padStart(5)}%  ${k}`)
}
show("self time by function", selfBy)
show("self time by file", fileBy)
show("inclusive time", incl)
