import { assert, describe, it } from "@effect/vitest"
import { LineTooLongError } from "../src/CodexError.js"
import * as Transport from "../src/Transport.js"

const enc = new TextEncoder()
const bytes = (s: string) => enc.encode(s)

/** Splits `input` into chunks at the given byte offsets. */
const cut = (input: Uint8Array, ...offsets: Array<number>): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  let prev = 0
  for (const o of [...offsets, input.length]) {
    out.push(input.subarray(prev, o))
    prev = o
  }
  return out
}

describe("Transport framing", () => {
  it("splits lines and joins lines split across chunk boundaries", () => {
    const input = bytes("{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n")
    for (let i = 0; i <= input.length; i++) {
      for (let j = i; j <= input.length; j++) {
        const { lines, tooLong } = Transport.frameLines(cut(input, i, j))
        assert.deepStrictEqual(lines, ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"], `cut at ${i},${j}`)
        assert.strictEqual(tooLong.length, 0)
      }
    }
  })

  it("decodes multi-byte UTF-8 characters split across chunks", () => {
    const text = "{\"t\":\"héllo €uro 𝄞 日本\"}"
    const input = bytes(`${text}\n`)
    // every single cut position, including inside 2-, 3- and 4-byte sequences
    for (let i = 1; i < input.length; i++) {
      assert.deepStrictEqual(Transport.frameLines(cut(input, i)).lines, [text], `cut at ${i}`)
    }
    // one byte per chunk
    const single = Array.from(input, (b) => Uint8Array.of(b))
    assert.deepStrictEqual(Transport.frameLines(single).lines, [text])
  })

  it("does not split on U+2028 / U+2029 inside a line", () => {
    const line = "{\"text\":\"a\u2028b\u2029c\"}"
    const input = bytes(`${line}\n{"n":2}\n`)
    assert.deepStrictEqual(Transport.frameLines([input]).lines, [line, "{\"n\":2}"])
    // and split in the middle of the 3-byte U+2028 sequence
    const at = input.indexOf(0xe2)
    assert.deepStrictEqual(Transport.frameLines(cut(input, at + 1, at + 2)).lines, [line, "{\"n\":2}"])
  })

  it("strips a trailing \\r (CRLF), also when \\r and \\n arrive in different chunks", () => {
    const input = bytes("one\r\ntwo\r\n")
    assert.deepStrictEqual(Transport.frameLines([input]).lines, ["one", "two"])
    assert.deepStrictEqual(Transport.frameLines(cut(input, 4)).lines, ["one", "two"])
    // a \r that is not at the end of a line is kept
    assert.deepStrictEqual(Transport.frameLines([bytes("a\rb\n")]).lines, ["a\rb"])
  })

  it("reports the size of an over-long CRLF line without its \r, wherever the chunks are cut", () => {
    const input = bytes(`${"x".repeat(20)}\r\nok\r\n`)
    for (let i = 1; i < input.length; i++) {
      const { lines, tooLong } = Transport.frameLines(cut(input, i), { maxLineBytes: 10 })
      assert.deepStrictEqual(lines, ["ok"], `cut at ${i}`)
      assert.deepStrictEqual(tooLong.map((e) => e.bytes), [20], `cut at ${i}`)
    }
  })

  it("pushText frames decoded text as push frames bytes, wherever the text is cut", () => {
    const text = "{\"a\":\"é\u2028x\"}\r\n\n{\"b\":2}\n" + "y".repeat(50) + "\n{\"c\":3}"
    const expected = Transport.frameLines([bytes(text)], { maxLineBytes: 40, skipEmptyLines: true })
    for (let i = 0; i <= text.length; i++) {
      const tooLong: Array<number> = []
      const framer = Transport.makeLineFramer({ maxLineBytes: 40, skipEmptyLines: true, onLineTooLong: (n) => void tooLong.push(n) })
      const lines: Array<string> = []
      framer.pushText(text.slice(0, i), lines)
      framer.pushText(text.slice(i), lines)
      framer.end(lines)
      assert.deepStrictEqual(lines, expected.lines, `cut at ${i}`)
      assert.deepStrictEqual(tooLong, expected.tooLong.map((e) => e.bytes), `cut at ${i}`)
    }
  })

  it("delivers the last line without a newline at end of input", () => {
    assert.deepStrictEqual(Transport.frameLines([bytes("first\nlast")]).lines, ["first", "last"])
    assert.deepStrictEqual(Transport.frameLines(cut(bytes("first\nla"), 7)).lines, ["first", "la"])
    assert.deepStrictEqual(Transport.frameLines([bytes("only\n")]).lines, ["only"])
    assert.deepStrictEqual(Transport.frameLines([]).lines, [])
  })

  it("keeps or skips empty lines as configured", () => {
    const input = bytes("a\n\n\r\nb\n")
    assert.deepStrictEqual(Transport.frameLines([input]).lines, ["a", "", "", "b"])
    assert.deepStrictEqual(Transport.frameLines([input], { skipEmptyLines: true }).lines, ["a", "b"])
  })

  it("drops an over-long line, reports it, and delivers the next lines", () => {
    const long = "x".repeat(100)
    const input = bytes(`ok1\n${long}\nok2\n`)
    const whole = Transport.frameLines([input], { maxLineBytes: 10 })
    assert.deepStrictEqual(whole.lines, ["ok1", "ok2"])
    assert.deepStrictEqual(whole.tooLong, [new LineTooLongError({ bytes: 100, limit: 10 })])
    // the long line spread over many chunks: dropped while streaming, reported once at its end
    const chunks = Array.from({ length: 20 }, (_, i) => input.subarray(i * 6, (i + 1) * 6))
    const streamed = Transport.frameLines(chunks, { maxLineBytes: 10 })
    assert.deepStrictEqual(streamed.lines, ["ok1", "ok2"])
    assert.deepStrictEqual(streamed.tooLong.map((e) => [e.bytes, e.limit]), [[100, 10]])
  })

  it("measures the limit in UTF-8 bytes, and accepts a line of exactly the limit", () => {
    // "é" is 2 bytes: 6 characters, 12 bytes
    const { lines, tooLong } = Transport.frameLines([bytes("éééééé\nabcdefghij\nabcdefghij\r\n")], {
      maxLineBytes: 10
    })
    assert.deepStrictEqual(lines, ["abcdefghij", "abcdefghij"])
    assert.deepStrictEqual(tooLong.map((e) => e.bytes), [12])
  })

  it("reports an over-long last line at end of input", () => {
    const { lines, tooLong } = Transport.frameLines([bytes("ok\n"), bytes("y".repeat(50))], { maxLineBytes: 8 })
    assert.deepStrictEqual(lines, ["ok"])
    assert.deepStrictEqual(tooLong.map((e) => e.bytes), [50])
  })

})
