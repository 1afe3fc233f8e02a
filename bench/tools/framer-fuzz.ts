/**
 * Checks the SDK's line framer (`frameLines` of @effect-codex/app-server/Transport: one-shot UTF-8
 * decode between newlines, streaming decoder only around chunk edges) against a trivial reference
 * on random inputs cut at random places: multi-byte characters split across chunks, U+2028/U+2029,
 * BOMs, invalid and truncated byte sequences, CRLF (also split between chunks), empty lines,
 * over-long lines.
 *
 * The reference decodes the whole input at once (`new TextDecoder().decode(all)`: a BOM is stripped
 * at the start of the stream only), splits it on "\n", strips one trailing "\r" per line, drops the
 * empty piece after a final "\n", drops empty lines when `skipEmptyLines`, and reports every line of
 * more than `maxLineBytes` UTF-8 bytes (of the decoded text) as too long instead of delivering it.
 *
 * Usage: node --conditions=source --import tsx bench/tools/framer-fuzz.ts [cases] [seed]
 */
import * as Transport from "@effect-codex/app-server/Transport"
import { isDeepStrictEqual } from "node:util"

const cases = Number(process.argv[2] ?? 20000)
let seed = Number(process.argv[3] ?? 12345)
const rnd = (n: number) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed % n
}
const pieces = [
  "a", "{\"x\":1}", "\n", "\r\n", "\r", "é", "€", "😀", "\u2028", "\u2029", "\uFEFF", " ", "\n\n", "ab\ncd", "\"", "\\n"
]
const enc = new TextEncoder()

const reference = (all: Uint8Array, options: { maxLineBytes: number; skipEmptyLines: boolean }) => {
  const pieces = new TextDecoder("utf-8").decode(all).split("\n")
  if (pieces[pieces.length - 1] === "") pieces.pop()
  const lines: Array<string> = []
  const tooLong: Array<number> = []
  for (const piece of pieces) {
    const line = piece.endsWith("\r") ? piece.slice(0, -1) : piece
    const bytes = Buffer.byteLength(line, "utf8")
    if (bytes > options.maxLineBytes) tooLong.push(bytes)
    else if (line.length > 0 || !options.skipEmptyLines) lines.push(line)
  }
  return { lines, tooLong }
}

let failures = 0
let lineFailures = 0
for (let c = 0; c < cases; c++) {
  const parts: Array<Uint8Array> = []
  const count = rnd(40)
  for (let i = 0; i < count; i++) {
    const k = rnd(pieces.length + 3)
    if (k < pieces.length) parts.push(enc.encode(pieces[k]!))
    else if (k === pieces.length) parts.push(Uint8Array.of(0xff)) // invalid byte
    else if (k === pieces.length + 1) parts.push(Uint8Array.of(0xe2, 0x82)) // truncated €
    else parts.push(Uint8Array.of(0xef, 0xbb, 0xbf)) // BOM bytes
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    all.set(p, o)
    o += p.length
  }
  // random cuts
  const chunks: Array<Uint8Array> = []
  let i = 0
  while (i < all.length) {
    const n = 1 + rnd(Math.max(1, Math.min(12, all.length - i)))
    chunks.push(all.subarray(i, i + n))
    i += n
  }
  const options = { maxLineBytes: 1 + rnd(30), skipEmptyLines: rnd(2) === 0 }
  const sdk = Transport.frameLines(chunks, options)
  const got = { lines: sdk.lines, tooLong: sdk.tooLong.map((e) => e.bytes) }
  const want = reference(all, options)
  if (!isDeepStrictEqual(got.lines, want.lines) || !isDeepStrictEqual(got.tooLong, want.tooLong)) {
    failures++
    // delivered lines (or the number of dropped ones) differ, not just a reported size
    if (!isDeepStrictEqual(got.lines, want.lines) || got.tooLong.length !== want.tooLong.length) lineFailures++
    if (failures < 4) {
      console.error(
        `mismatch (case ${c}, ${JSON.stringify(options)})\n  bytes  ${JSON.stringify(Array.from(all))}\n  chunks ${JSON.stringify(chunks.map((x) => x.length))}\n` +
          `  sdk ${JSON.stringify(got)}\n  ref ${JSON.stringify(want)}`
      )
    }
  }
}
console.log(
  `framer fuzz: ${cases} cases, ${failures} mismatches against the reference ` +
    `(${lineFailures} in the delivered lines or the number of too-long lines, ${failures - lineFailures} only in a too-long line's reported size)`
)
process.exitCode = failures === 0 ? 0 : 1
