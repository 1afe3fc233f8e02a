import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { describeNode, diffModels, isEmpty, printChanges } from "../scripts/diff.js"
import { buildModel, type Bundle, type JsonSchema } from "../scripts/generator.js"
import * as Protocol from "../src/generated/Schemas.js"
import * as Methods from "../src/generated/Methods.js"
import { codexVersion } from "../src/generated/Version.js"
import * as Registry from "../src/Registry.js"

// What moved between codex 0.169.0 and 0.171.0, and the diff that `npm run codex:bump` writes.

interface WireNotification {
  readonly method?: string
  readonly params?: { readonly item: { readonly type: string } & Record<string, unknown> } & Record<string, unknown>
}

const here = path.dirname(fileURLToPath(import.meta.url))
const traffic = fs.readFileSync(path.join(here, "fixtures", `traffic-${codexVersion}.jsonl`), "utf8").trim().split("\n")
  .map((line) => JSON.parse((JSON.parse(line) as { line: string }).line) as WireNotification)

/** The captured `item/completed` of the agent message, with `moderation` set to `moderation`. */
const moderated = (moderation: unknown) => {
  const captured = traffic.find((m) => m.method === "item/completed" && m.params?.item.type === "agentMessage")?.params
  if (captured === undefined) throw new Error("the traffic fixture has no completed agent message")
  return { ...captured, item: { ...captured.item, moderation } }
}

const decodeBoth = (params: unknown) => {
  const viaSchema = Registry.decodeNotification("item/completed", params, 1)
  const viaFast = Registry.decodeNotificationOrUndefined("item/completed", params, 1)
  return { viaSchema, viaFast }
}

describe("codex 0.171.0 shapes", () => {
  it("the pinned version is 0.171.0", () => {
    expect(codexVersion).toBe("0.171.0")
  })

  const displays = {
    show: { mode: "show", version: 1, trustedContacts: "check", annotation: { kind: "wellbeingHelpline", subject: "answer" } },
    showPlain: { mode: "show", version: 1, trustedContacts: "skip", annotation: null },
    hide: { mode: "hide", version: 1, replacement: { kind: "wellbeingPromptHelpline" } },
    blockProtection: { mode: "block", version: 1, reason: { kind: "protection", protectionType: "self-harm" } },
    blockCyber: { mode: "block", version: 1, reason: { kind: "cyber", trustedAccess: true } }
  } as const

  for (const [name, display] of Object.entries(displays)) {
    it(`AgentMessageDisplay ${name} decodes (Schema and compiled decoder) and re-encodes to the same JSON`, () => {
      const params = moderated({ moderated: true, display })
      const { viaFast, viaSchema } = decodeBoth(params)
      const decoded = Either.getOrThrow(viaSchema)
      expect(viaFast).toEqual(decoded)
      if (decoded.method !== "item/completed" || decoded.params.item.type !== "agentMessage") throw new Error("wrong decode")
      expect(decoded.params.item.moderation?.display?.mode).toBe(display.mode)
      expect(Schema.encodeSync(Methods.ServerNotifications["item/completed"].params)(decoded.params)).toEqual(params)
    })
  }

  it("the 0.169.0 display shape ({ action }) is rejected, not silently misread", () => {
    const params = moderated({ moderated: true, display: { action: "block", blockType: "cyber" } })
    const { viaFast, viaSchema } = decodeBoth(params)
    expect(Either.isLeft(viaSchema)).toBe(true)
    expect(viaFast).toBeUndefined()
  })

  it("an unknown display mode of a newer server is a decode error (the union is closed)", () => {
    expect(Either.isLeft(decodeBoth(moderated({ moderated: true, display: { mode: "blur", version: 2 } })).viaSchema)).toBe(true)
  })

  it("Project has no position", () => {
    const project = { id: "p", name: "n", createdAt: 1, updatedAt: 2, metadata: {}, roots: [], recencyAt: null }
    const decoded = Schema.decodeUnknownSync(Protocol.Project, { onExcessProperty: "error" })(project)
    expect(Object.keys(decoded)).not.toContain("position")
    expect(() => Schema.decodeUnknownSync(Protocol.Project, { onExcessProperty: "error" })({ ...project, position: 3 })).toThrow()
  })

  it("currentTime/read is gone; the new methods and thread/search/partial are registered", () => {
    expect(Registry.isServerRequestMethod("currentTime/read")).toBe(false)
    for (const method of ["thread/search/stream", "thread/search/cancel", "thread/search/stream/cancel", "thread/realtime/list", "modelProvider/default/set"]) {
      expect(Registry.isClientRequestMethod(method)).toBe(true)
    }
    expect(Registry.isExperimental("modelProvider/default/set")).toBe(false)
    expect(Registry.isExperimental("thread/search/stream")).toBe(true)
    expect(Object.keys(Methods.ServerNotifications)).toContain("thread/search/partial")
  })

  it("modelProvider/default/set answers with a config write (as the binary does; the schema names no result)", () => {
    const wire = { status: "ok", version: "sha256:56a5", filePath: "/home/config.toml", overriddenMetadata: null }
    expect(Registry.decodeRequestResult("modelProvider/default/set", wire)).toEqual(Either.right(wire))
  })
})

// Small hand-made bundles: one version before, one after.
const request = (method: string, params: string) => ({
  type: "object",
  required: ["id", "method", "params"],
  properties: { id: { type: "integer" }, method: { type: "string", enum: [method] }, params: { $ref: `#/definitions/${params}` } }
})
const typeName = (method: string) => method.split("/").map((part) => part[0]!.toUpperCase() + part.slice(1)).join("")
const bundle = (requests: ReadonlyArray<string>, types: Record<string, JsonSchema>): Bundle => ({
  definitions: {
    ClientRequest: { oneOf: requests.map((method) => request(method, `${typeName(method)}Params`)) },
    ServerRequest: { oneOf: [] },
    ServerNotification: { oneOf: [] },
    ClientNotification: { oneOf: [] },
    JSONRPCErrorError: { type: "object", properties: {} },
    ...Object.fromEntries(requests.flatMap((method) => [
      [`${typeName(method)}Params`, { type: "object", properties: {} }],
      [`${typeName(method)}Response`, { type: "object", properties: {} }]
    ])),
    ...types
  }
})
const model = (requests: ReadonlyArray<string>, types: Record<string, JsonSchema>) =>
  buildModel(bundle(requests, types), bundle(requests, types))

describe("protocol diff (codex:bump)", () => {
  const before = model(["thing/a", "thing/b"], {
    Item: {
      oneOf: [
        { type: "object", required: ["type", "id"], properties: { type: { type: "string", enum: ["a"] }, id: { type: "string" } } },
        { type: "object", required: ["type"], properties: { type: { type: "string", enum: ["b"] } } }
      ]
    },
    Project: { type: "object", required: ["id", "position"], properties: { id: { type: "string" }, position: { type: "integer" } } },
    Kind: { type: "string", enum: ["x", "y"] },
    Gone: { type: "object", properties: {} }
  })
  const after = model(["thing/a", "thing/c"], {
    Item: {
      oneOf: [
        {
          type: "object",
          required: ["type", "id"],
          properties: { type: { type: "string", enum: ["a"] }, id: { type: "string" }, env: { type: ["string", "null"] } }
        },
        { type: "object", required: ["type"], properties: { type: { type: "string", enum: ["c"] } } }
      ]
    },
    Project: { type: "object", required: ["id"], properties: { id: { type: "integer" } } },
    Kind: { type: "string", enum: ["x", "z"] },
    Fresh: { type: "object", properties: {} }
  })
  const changes = diffModels(before, after)

  it("lists methods added and removed", () => {
    expect(changes.clientRequests.added).toEqual(["thing/c"])
    expect(changes.clientRequests.removed).toEqual(["thing/b"])
  })

  it("lists types added, removed and changed with their fields, members and values", () => {
    expect(changes.typesAdded).toEqual(expect.arrayContaining(["Fresh", "ThingCParams"]))
    expect(changes.typesRemoved).toEqual(expect.arrayContaining(["Gone", "ThingBParams"]))
    const byName = new Map(changes.typesChanged.map((change) => [change.name, change.details]))
    expect(byName.get("Project")).toEqual(["removed `position`", "changed `id: string → id: integer`"])
    expect(byName.get("Kind")).toEqual(["added value `\"z\"`", "removed value `\"y\"`"])
    expect(byName.get("Item")).toEqual([
      "added member `type: \"c\"`: `{ type: \"c\" }`",
      "removed member `type: \"b\"`",
      "member `type: \"a\"`",
      "  added `env?: string | null`"
    ])
  })

  it("prints a section per kind of change, and says when nothing changed", () => {
    const text = printChanges("1.0.0", "1.1.0", changes)
    expect(text.startsWith("## 1.0.0 → 1.1.0\n")).toBe(true)
    expect(text).toContain("### Client requests\n\n- added `thing/c`\n- removed `thing/b`")
    expect(text).toContain("- `Item`\n  - added member")
    expect(text).toContain("\n    - added `env?: string | null`")
    expect(isEmpty(diffModels(before, before))).toBe(true)
    expect(printChanges("1.0.0", "1.0.1", diffModels(before, before))).toContain("No difference in the protocol.")
  })

  it("describes nodes in one short line", () => {
    expect(describeNode({ _tag: "Array", item: { _tag: "Nullable", node: { _tag: "String", minLength: undefined } } }))
      .toBe("Array<string | null>")
    expect(describeNode({ _tag: "Record", value: { _tag: "Ref", name: "Thread" } })).toBe("Record<string, Thread>")
  })
})
