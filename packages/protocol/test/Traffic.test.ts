import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import * as Methods from "../src/generated/Methods.js"
import * as JsonRpc from "../src/JsonRpc.js"
import * as Registry from "../src/Registry.js"
import { codexVersion } from "../src/generated/Version.js"

// Lines captured from a real session of the pinned codex (scripts/capture-traffic.ts): each one decodes
// through the registry Schemas and re-encodes to the same JSON, up to key order.

interface Captured {
  readonly direction: "client" | "server"
  readonly line: string
}

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", `traffic-${codexVersion}.jsonl`)
const captured: ReadonlyArray<Captured> = fs.readFileSync(fixture, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Captured)

type AnySchema = Schema.Schema<unknown, unknown>
const roundTrip = (schema: AnySchema, wire: unknown) => {
  const decoded = Schema.decodeUnknownSync(schema, { onExcessProperty: "error" })(wire)
  expect(Schema.encodeSync(schema)(decoded)).toEqual(wire)
  return decoded
}

const table = <T extends Record<string, { readonly params: unknown }>>(t: T) => t as unknown as Record<string, { params: AnySchema; result?: AnySchema }>

describe(`real traffic of codex ${codexVersion}`, () => {
  it("has the scenario the SDK relies on", () => {
    const methods = new Set(captured.map((c) => (JSON.parse(c.line) as { method?: string }).method))
    for (const m of ["initialize", "thread/start", "turn/start", "item/agentMessage/delta", "item/commandExecution/requestApproval", "item/fileChange/requestApproval", "turn/interrupt", "turn/completed"]) {
      expect(methods).toContain(m)
    }
    expect(captured.some((c) => c.direction === "server" && JSON.parse(c.line).error !== undefined)).toBe(true)
  })

  it("every line decodes and re-encodes to the same JSON (unknown fields rejected, so nothing is silently lost)", () => {
    const clientRequests = table(Methods.ClientRequests)
    const serverRequests = table(Methods.ServerRequests)
    const notifications = table(Methods.ServerNotifications)
    const ourRequests = new Map<JsonRpc.RequestId, string>()
    const theirRequests = new Map<JsonRpc.RequestId, string>()
    let checked = 0
    for (const { direction, line } of captured) {
      const wire = JSON.parse(line) as Record<string, unknown>
      const message = JsonRpc.parseLine(line)
      expect(message._tag, line).not.toBe("Malformed")
      switch (message._tag) {
        case "Request": {
          if (direction === "client") {
            ourRequests.set(message.id, message.method)
            const entry = clientRequests[message.method]
            if (entry === undefined) continue // the deliberately unknown method
            if (wire.params !== undefined) roundTrip(entry.params, wire.params)
          } else {
            theirRequests.set(message.id, message.method)
            const decoded = Registry.decodeServerRequest(message.id, message.method, message.params)
            expect(decoded && Either.isRight(decoded), line).toBe(true)
            roundTrip(serverRequests[message.method]!.params, wire.params)
          }
          break
        }
        case "Notification": {
          if (direction === "client") continue // `initialized` has no params
          const decoded = Registry.decodeNotification(message.method, message.params, message.emittedAtMs)
          expect(Either.isRight(decoded) && Registry.isKnownNotification(decoded.right), line).toBe(true)
          roundTrip(notifications[message.method]!.params, wire.params)
          expect(typeof message.emittedAtMs).toBe("number")
          break
        }
        case "Response": {
          const method = direction === "server" ? ourRequests.get(message.id) : theirRequests.get(message.id)
          const schema = direction === "server" ? clientRequests[method!]?.result : serverRequests[method!]?.result
          expect(schema, line).toBeDefined()
          roundTrip(schema!, wire.result)
          break
        }
        case "ErrorResponse": {
          expect(message.error.code).toBe(-32600)
          expect(message.error.message.length).toBeGreaterThan(0)
          break
        }
      }
      checked++
    }
    expect(checked).toBeGreaterThan(100)
  })

  it("server messages carry no jsonrpc field; notifications carry emittedAtMs", () => {
    for (const { direction, line } of captured) {
      if (direction !== "server") continue
      const wire = JSON.parse(line) as Record<string, unknown>
      expect(wire.jsonrpc).toBeUndefined()
      if (wire.method !== undefined && wire.id === undefined) expect(wire.emittedAtMs).toBeTypeOf("number")
    }
  })
})
