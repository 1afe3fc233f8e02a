import * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import * as Methods from "../src/generated/Methods.js"
import * as FastDecode from "../src/internal/FastDecode.js"

// The fast path must be invisible: for every Schema it accepts, it returns exactly what the
// Schema decoder returns, and it accepts nothing the Schema decoder rejects.

type AnySchema = Schema.Schema<unknown, unknown>
const schemas: Array<readonly [string, AnySchema]> = [
  ...Object.entries(Methods.ServerNotifications).map(([m, e]) => [`notification ${m}`, e.params as AnySchema] as const),
  ...Object.entries(Methods.ServerRequests).map(([m, e]) => [`server request ${m}`, e.params as AnySchema] as const),
  ...Object.entries(Methods.ClientRequests).map(([m, e]) => [`result of ${m}`, e.result as AnySchema] as const)
]
const fast = schemas.filter(([, s]) => FastDecode.isFast(s))
const encoded: Array<readonly [string, AnySchema]> = [
  ...Object.entries(Methods.ClientRequests).map(([m, e]) => [`params of ${m}`, e.params as AnySchema] as const),
  ...Object.entries(Methods.ServerRequests).map(([m, e]) => [`answer to ${m}`, e.result as AnySchema] as const)
]
const fastEncoded = encoded.filter(([, s]) => FastDecode.isFastEncoder(s))

/**
 * Breaks a wire value, at the top and in nested objects (two levels down): drops a key, puts a
 * value of the wrong type in, or adds an unknown key (which strict union members refuse).
 */
const mutations = (wire: unknown, depth = 0): Array<unknown> => {
  if (Array.isArray(wire)) {
    if (depth >= 2 || wire.length === 0) return [42, null]
    return mutations(wire[0], depth + 1).map((broken) => [broken, ...wire.slice(1)])
  }
  if (typeof wire !== "object" || wire === null) return [42, null, "x"]
  const out: Array<unknown> = [{ ...wire, unexpectedKey: 1 }]
  for (const key of Object.keys(wire)) {
    const { [key]: _, ...rest } = wire as Record<string, unknown>
    out.push(rest, { ...wire, [key]: 12345 }, { ...wire, [key]: "not-what-you-expect" }, { ...wire, [key]: null })
    const inner = (wire as Record<string, unknown>)[key]
    if (depth < 2 && typeof inner === "object" && inner !== null) {
      for (const broken of mutations(inner, depth + 1)) out.push({ ...wire, [key]: broken })
    }
  }
  return out
}

/** The keys of a value and of everything inside it, in order (toStrictEqual ignores key order). */
const keyOrder = (u: unknown): unknown =>
  Array.isArray(u)
    ? u.map(keyOrder)
    : typeof u === "object" && u !== null
    ? Object.entries(u).map(([k, v]) => [k, keyOrder(v)])
    : null

type Codec = (u: unknown) => Either.Either<unknown, unknown>

/** Lets the worker's event loop turn, so that Vitest's own messages are not starved by a long synchronous test. */
const loopTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** The fast codec accepts exactly what the Schema one accepts, and returns the same value, key order included. */
const sameAs = async (slow: Codec, fast: Codec, value: unknown) => {
  for (const input of [value, ...mutations(value)]) {
    await loopTurn()
    const expected = slow(input)
    const actual = fast(input)
    expect(Either.isRight(actual)).toBe(Either.isRight(expected))
    if (Either.isRight(actual) && Either.isRight(expected)) {
      expect(actual.right).toStrictEqual(expected.right)
      expect(keyOrder(actual.right)).toEqual(keyOrder(expected.right))
    }
  }
}

describe("FastDecode", () => {
  it("covers every client request's params and every answer to a server request", () => {
    expect(fastEncoded.map(([name]) => name)).toEqual(encoded.map(([name]) => name))
  })

  it.each(fastEncoded.map(([name, schema]) => ({ name, schema })))("$name: same wire value as the Schema encoder", async ({ schema }) => {
    const slow = Schema.encodeUnknownEither(schema)
    const encode = FastDecode.encoder(schema)
    for (const value of FastCheck.sample(Arbitrary.make(schema), 8)) await sameAs(slow, encode, value)
  })

  it("covers every notification and server request", () => {
    const covered = new Set(fast.map(([name]) => name))
    for (const m of Object.keys(Methods.ServerNotifications)) expect(covered).toContain(`notification ${m}`)
    for (const m of Object.keys(Methods.ServerRequests)) expect(covered).toContain(`server request ${m}`)
  })

  it.each(fast.map(([name, schema]) => ({ name, schema })))("$name: same result as the Schema decoder", async ({ schema }) => {
    const slow = Schema.decodeUnknownEither(schema, { onExcessProperty: "ignore" })
    const decode = FastDecode.decoder(schema)
    for (const value of FastCheck.sample(Arbitrary.make(schema), 8)) {
      await sameAs(slow, decode, JSON.parse(JSON.stringify(Schema.encodeSync(schema)(value))))
    }
  })
})
