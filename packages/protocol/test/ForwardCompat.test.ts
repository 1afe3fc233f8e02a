import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import * as Registry from "../src/Registry.js"
import * as JsonRpc from "../src/JsonRpc.js"

// A newer server must not break this SDK: unknown methods, values and fields decode.

const turn = (status: string, extra: Record<string, unknown> = {}) => ({
  id: "turn-1",
  items: [],
  itemsView: "notLoaded",
  status,
  error: null,
  startedAt: 1,
  completedAt: 2,
  durationMs: 5,
  ...extra
})

describe("forward compatibility", () => {
  it("an unknown notification method decodes as an UnknownNotification, raw params kept", () => {
    const line = `{"method":"thread/teleported","params":{"threadId":"t","where":{"x":1}},"emittedAtMs":5}`
    const message = JsonRpc.parseLine(line)
    expect(message._tag).toBe("Notification")
    if (message._tag !== "Notification") return
    const decoded = Registry.decodeNotification(message.method, message.params, message.emittedAtMs)
    expect(decoded).toEqual(
      Either.right({ method: "$unknown", rawMethod: "thread/teleported", params: { threadId: "t", where: { x: 1 } }, emittedAtMs: 5, reason: "unknownMethod" })
    )
  })

  it("an unknown value of an open enum decodes and keeps its value", () => {
    const decoded = Registry.decodeNotification("turn/completed", { threadId: "t", turn: turn("paused") }, 1)
    expect(Either.isRight(decoded)).toBe(true)
    if (Either.isRight(decoded) && Registry.isKnownNotification(decoded.right) && decoded.right.method === "turn/completed") {
      expect(decoded.right.params.turn.status).toBe("paused")
    }
  })

  it("an unknown extra field decodes (and is ignored)", () => {
    const decoded = Registry.decodeNotification(
      "item/agentMessage/delta",
      { threadId: "t", turnId: "u", itemId: "i", delta: "x", sentiment: "happy" },
      1
    )
    expect(decoded).toEqual(
      Either.right({ method: "item/agentMessage/delta", params: { threadId: "t", turnId: "u", itemId: "i", delta: "x" }, emittedAtMs: 1 })
    )
  })

  it("an unknown server request method is reported as unknown, not as a failure", () => {
    expect(Registry.decodeServerRequest(7, "item/teleport/requestApproval", {})).toBeUndefined()
  })

  it("a closed enum the client sends stays closed", () => {
    // SortDirection only ever travels from the client to the server.
    const ok = Registry.encodeRequestParams("thread/list", { sortDirection: "asc" })
    expect(Either.isRight(ok)).toBe(true)
    const wire = Registry.encodeRequestParams("thread/list", { sortDirection: "sideways" } as never)
    expect(Either.isLeft(wire)).toBe(true)
  })
})

describe("JSON-RPC routing by shape", () => {
  it("tells requests, notifications and responses apart even when ids collide", () => {
    expect(JsonRpc.parseLine(`{"id":0,"method":"item/commandExecution/requestApproval","params":{}}`)._tag).toBe("Request")
    expect(JsonRpc.parseLine(`{"id":0,"result":{}}`)._tag).toBe("Response")
    expect(JsonRpc.parseLine(`{"id":"s-1","error":{"code":-32600,"message":"Not initialized"}}`)).toEqual({
      _tag: "ErrorResponse",
      id: "s-1",
      error: { code: -32600, message: "Not initialized" }
    })
    expect(JsonRpc.parseLine(`{"method":"turn/started","params":{},"emittedAtMs":12}`)).toEqual({
      _tag: "Notification",
      method: "turn/started",
      params: {},
      emittedAtMs: 12
    })
  })

  it("reports malformed lines with a reason", () => {
    expect(JsonRpc.parseLine("{this is not json")._tag).toBe("Malformed")
    expect(JsonRpc.parseLine("[1,2]")).toEqual({ _tag: "Malformed", reason: "not a JSON object" })
    expect(JsonRpc.parseLine(`{"id":{},"result":1}`)._tag).toBe("Malformed")
    expect(JsonRpc.parseLine(`{"id":1}`)._tag).toBe("Malformed")
  })

  it("keeps a U+2028 inside a string", () => {
    const m = JsonRpc.parseLine(`{"method":"x","params":{"t":"a\u2028b"}}`)
    expect(m).toMatchObject({ params: { t: "a\u2028b" } })
  })
})
