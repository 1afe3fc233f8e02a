import { describe, expect, it } from "vitest"
import { buildModel, camelCase, toNode, type Bundle, type JsonSchema } from "../scripts/generator.js"
import { printSchemas } from "../scripts/printer.js"
import { refsOf } from "../scripts/generator.js"

// Small hand-made bundles exercise each rule of the generator.

const request = (method: string, params: string) => ({
  type: "object",
  required: ["id", "method", "params"],
  properties: { id: { type: "integer" }, method: { type: "string", enum: [method] }, params: { $ref: `#/definitions/${params}` } }
})
const notification = (method: string, params: string) => ({
  type: "object",
  required: ["method", "params"],
  properties: { method: { type: "string", enum: [method] }, params: { $ref: `#/definitions/${params}` } }
})

const bundle = (extra: Record<string, JsonSchema>, requests = [request("thing/get", "ThingGetParams")]): Bundle => ({
  definitions: {
    ClientRequest: { oneOf: requests },
    ServerRequest: { oneOf: [] },
    ServerNotification: { oneOf: [notification("thing/changed", "ThingChangedNotification")] },
    ClientNotification: { oneOf: [] },
    ThingGetParams: { type: "object", properties: { sort: { $ref: "#/definitions/SortOrder" } } },
    ThingGetResponse: { type: "object", required: ["thing"], properties: { thing: { $ref: "#/definitions/Thing" } } },
    ThingChangedNotification: { type: "object", required: ["thing"], properties: { thing: { $ref: "#/definitions/Thing" } } },
    Thing: {
      type: "object",
      required: ["call_id", "status"],
      properties: {
        call_id: { type: "string" },
        status: { $ref: "#/definitions/Status" },
        note: { type: ["string", "null"] },
        env: { type: "object", additionalProperties: { type: "string" } }
      }
    },
    Status: { type: "string", enum: ["running", "done"] },
    SortOrder: { type: "string", enum: ["asc", "desc"] },
    JSONRPCErrorError: { type: "object", properties: {} },
    ...extra
  }
})

describe("camelCase", () => {
  it("renames snake_case keys only", () => {
    expect(camelCase("call_id")).toBe("callId")
    expect(camelCase("model_reasoning_effort")).toBe("modelReasoningEffort")
    expect(camelCase("text_elements")).toBe("textElements")
    expect(camelCase("threadId")).toBe("threadId")
    expect(camelCase("_meta")).toBe("_meta")
    expect(camelCase("otlp-http")).toBe("otlp-http")
    expect(camelCase("$schema")).toBe("$schema")
  })
})

describe("toNode", () => {
  it("tells optional from nullable", () => {
    const node = toNode(
      { type: "object", required: ["a", "b"], properties: { a: { type: "string" }, b: { type: ["string", "null"] }, c: { type: "string" }, d: { anyOf: [{ type: "integer" }, { type: "null" }] } } },
      "T"
    )
    expect(node).toMatchObject({
      _tag: "Struct",
      fields: [
        { key: "a", optional: false, node: { _tag: "String" } },
        { key: "b", optional: false, node: { _tag: "Nullable", node: { _tag: "String" } } },
        { key: "c", optional: true, node: { _tag: "String" } },
        { key: "d", optional: true, node: { _tag: "Nullable", node: { _tag: "Integer" } } }
      ]
    })
  })

  it("flattens shared properties into each variant", () => {
    const node = toNode(
      {
        type: "object",
        required: ["type"],
        properties: { type: { type: "string", enum: ["image"] } },
        anyOf: [{ required: ["url"], properties: { url: { type: "string" } } }, { required: ["fileId"], properties: { fileId: { type: "string" } } }]
      },
      "T"
    )
    expect(node._tag).toBe("Union")
    expect(node).toMatchObject({ members: [{ fields: [{ key: "type" }, { key: "url" }] }, { fields: [{ key: "fileId" }, { key: "type" }] }] })
  })

  it("fails on a camelCase collision", () => {
    expect(() => toNode({ type: "object", properties: { call_id: { type: "string" }, callId: { type: "string" } } }, "T")).toThrow(
      /call_id and callId both become callId|callId and call_id both become callId/
    )
  })

  it("fails on what it does not understand instead of guessing", () => {
    expect(() => toNode({ $ref: "http://example.invalid/x" }, "T")).toThrow(/unsupported \$ref/)
    expect(() => toNode({ type: "array", items: [{ type: "string" }] }, "T")).toThrow(/tuple/)
    expect(() => toNode({ type: "integer", format: "int13" }, "T")).toThrow(/unknown integer format/)
  })
})

describe("buildModel and the printer", () => {
  const model = buildModel(bundle({}), bundle({}))
  const source = printSchemas(model, refsOf)

  it("opens enums the server sends and keeps the others closed", () => {
    expect(model.serverSent.has("Status")).toBe(true)
    expect(model.serverSent.has("SortOrder")).toBe(false)
    expect(source).toContain(`export type Status = "running" | "done" | (string & {})`)
    expect(source).toContain(`export type SortOrder = "asc" | "desc"\n`)
  })

  it("maps snake_case keys with fromKey and never renames free-form map keys", () => {
    expect(source).toContain(`callId: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("call_id"))`)
    expect(source).toContain(`export interface ThingEncoded {`)
    expect(source).toContain(`readonly call_id: string`)
    expect(source).toContain(`env: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { exact: true })`)
  })

  it("derives result types and experimental flags", () => {
    expect(model.clientRequests).toEqual([
      expect.objectContaining({ method: "thing/get", result: "ThingGetResponse", experimental: false })
    ])
    const withExperimental = bundle({ OtherParams: { type: "object" }, OtherResponse: { type: "object" } }, [
      request("thing/get", "ThingGetParams"),
      request("other/do", "OtherParams")
    ])
    const mixed = buildModel(bundle({}), withExperimental)
    expect(mixed.clientRequests.map((m) => [m.method, m.experimental])).toEqual([["thing/get", false], ["other/do", true]])
  })

  it("fails when a response type is claimed by no method", () => {
    expect(() => buildModel(bundle({}), bundle({ OrphanResponse: { type: "object" } }))).toThrow(/OrphanResponse/)
  })

  it("is deterministic", () => {
    expect(printSchemas(buildModel(bundle({}), bundle({})), refsOf)).toBe(source)
  })
})
