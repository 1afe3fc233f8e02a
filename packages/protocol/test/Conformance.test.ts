import { Ajv } from "ajv"
import * as Arbitrary from "effect/Arbitrary"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import * as Generated from "../src/generated/Schemas.js"
import { bundles, pointerOf } from "./schemaBundle.js"

// Property test over every generated type: Arbitrary values encode to wire JSON that the binary's
// own JSON Schema accepts, and decode back to the same value.

const SAMPLES = Number(process.env.CONFORMANCE_SAMPLES ?? 12)

/** JSON turns -0 into 0; compare values as JSON would carry them. */
const jsonNormal = (u: unknown): unknown => JSON.parse(JSON.stringify(u))

const schemas = Generated as unknown as Record<string, Schema.Schema<unknown, unknown>>

describe("conformance with the binary's JSON Schema", () => {
  const { experimental } = bundles()
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: false })
  ajv.addSchema(experimental as object, "codex")

  it("covers every named type of the experimental schema", () => {
    const { v2, ...top } = experimental.definitions
    const names = new Set([...Object.keys(top), ...Object.keys(v2 ?? {})])
    expect(Generated.typeNames.map(([name]) => name).sort()).toEqual([...names].sort())
    expect(Generated.typeNames.length).toBeGreaterThan(900)
  })

  it.each(Generated.typeNames.map(([name]) => name))("%s", (name) => {
    const schema = schemas[name]!
    const validate = ajv.getSchema(`codex${pointerOf(experimental, name)}`)
    if (validate === undefined) throw new Error(`no JSON Schema for ${name}`)
    const encode = Schema.encodeSync(schema)
    const decode = Schema.decodeUnknownSync(schema)
    // Effect drops "__proto__" keys when decoding records (a guard against prototype pollution).
    const samples = FastCheck.sample(Arbitrary.make(schema), SAMPLES).filter((v) => !JSON.stringify(v).includes('"__proto__"'))
    for (const value of samples) {
      const wire = jsonNormal(encode(value))
      if (!validate(wire)) {
        throw new Error(`${name}: encoded value rejected by the binary's schema: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(wire)}`)
      }
      const decoded = decode(wire)
      expect(jsonNormal(encode(decoded))).toEqual(wire)
      expect(decoded).toEqual(jsonNormal(value))
    }
  })
})
