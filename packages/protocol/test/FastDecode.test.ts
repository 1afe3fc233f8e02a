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

/** Breaks a wire value: drops a key, or puts a value of the wrong type in. */
const mutations = (wire: unknown): Array<unknown> => {
  if (typeof wire !== "object" || wire === null || Array.isArray(wire)) return [42, null, "x"]
  const out: Array<unknown> = []
  for (const key of Object.keys(wire)) {
    const { [key]: _, ...rest } = wire as Record<string, unknown>
    out.push(rest, { ...wire, [key]: 12345 }, { ...wire, [key]: "not-what-you-expect" }, { ...wire, [key]: null })
  }
  return out
}

describe("FastDecode", () => {
  it("covers the hot notifications", () => {
    const covered = new Set(fast.map(([name]) => name))
    for (const m of ["item/agentMessage/delta", "item/reasoning/textDelta", "item/commandExecution/outputDelta", "thread/tokenUsage/updated"]) {
      expect(covered).toContain(`notification ${m}`)
    }
  })

  it.each(fast.map(([name, schema]) => ({ name, schema })))("$name: same result as the Schema decoder", ({ schema }) => {
    const slow = Schema.decodeUnknownEither(schema, { onExcessProperty: "ignore" })
    const decode = FastDecode.decoder(schema)
    for (const value of FastCheck.sample(Arbitrary.make(schema), 20)) {
      const wire = JSON.parse(JSON.stringify(Schema.encodeSync(schema)(value))) as unknown
      for (const input of [wire, ...mutations(wire)]) {
        const expected = slow(input)
        const actual = decode(input)
        expect(Either.isRight(actual)).toBe(Either.isRight(expected))
        if (Either.isRight(actual) && Either.isRight(expected)) {
          expect(actual.right).toStrictEqual(expected.right)
          expect(Object.keys(actual.right as object)).toEqual(Object.keys(expected.right as object))
        }
      }
    }
  })
})
