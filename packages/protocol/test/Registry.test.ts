import * as Either from "effect/Either"
import { describe, expect, expectTypeOf, it } from "vitest"
import * as Methods from "../src/generated/Methods.js"
import * as Registry from "../src/Registry.js"
import type * as Protocol from "../src/generated/Schemas.js"
import { bundles, methodsOf } from "./schemaBundle.js"

const stableCount = (table: Record<string, { experimental: boolean }>) => Object.values(table).filter((e) => !e.experimental).length

describe("registries against the binary's schema", () => {
  const { stable, experimental } = bundles()

  it("client requests: 110 stable, 189 with the experimental ones, flagged", () => {
    expect(methodsOf(stable, "ClientRequest")).toHaveLength(110)
    expect(methodsOf(experimental, "ClientRequest")).toHaveLength(189)
    expect(Object.keys(Methods.ClientRequests).sort()).toEqual(methodsOf(experimental, "ClientRequest").sort())
    expect(stableCount(Methods.ClientRequests)).toBe(110)
    const stableMethods = new Set(methodsOf(stable, "ClientRequest"))
    for (const [method, entry] of Object.entries(Methods.ClientRequests)) {
      expect([method, entry.experimental]).toEqual([method, !stableMethods.has(method)])
    }
  })

  it("server notifications: 87", () => {
    expect(methodsOf(stable, "ServerNotification")).toHaveLength(87)
    expect(Object.keys(Methods.ServerNotifications).sort()).toEqual(methodsOf(experimental, "ServerNotification").sort())
    expect(stableCount(Methods.ServerNotifications)).toBe(87)
  })

  it("server requests: 10, all stable (0.171.0 dropped the experimental currentTime/read)", () => {
    expect(methodsOf(stable, "ServerRequest")).toHaveLength(10)
    expect(Object.keys(Methods.ServerRequests).sort()).toEqual(methodsOf(experimental, "ServerRequest").sort())
    expect(stableCount(Methods.ServerRequests)).toBe(10)
    expect(Object.keys(Methods.ServerRequests)).toHaveLength(10)
  })

  it("client notifications: initialized", () => {
    expect(Object.keys(Methods.ClientNotifications)).toEqual(["initialized"])
  })

  it("experimental flags are queryable by method", () => {
    expect(Registry.isExperimental("thread/start")).toBe(false)
    expect(Registry.isExperimental("collaborationMode/list")).toBe(true)
    expect(Registry.isExperimental("mock/experimentalMethod")).toBe(true)
  })
})

describe("types derived from the registry", () => {
  it("infer params and result from the method literal", () => {
    expectTypeOf<Registry.ClientRequestParams<"thread/start">>().toEqualTypeOf<Protocol.ThreadStartParams>()
    expectTypeOf<Registry.ClientRequestResult<"thread/start">>().toEqualTypeOf<Protocol.ThreadStartResponse>()
    expectTypeOf<Registry.ClientRequestParams<"turn/start">>().toEqualTypeOf<Protocol.TurnStartParams>()
    expectTypeOf<Registry.ServerRequestResult<"item/commandExecution/requestApproval">>().toEqualTypeOf<
      Protocol.CommandExecutionRequestApprovalResponse
    >()
    expectTypeOf<Registry.ClientRequestParams<"account/logout">>().toEqualTypeOf<undefined>()
    expectTypeOf<"account/logout">().toMatchTypeOf<Registry.ClientRequestWithoutParams>()
    const narrow = (n: Registry.ServerNotification | Registry.UnknownNotification) =>
      n.method === "item/agentMessage/delta" ? n.params.delta : undefined
    expectTypeOf(narrow).returns.toEqualTypeOf<string | undefined>()
  })

  it("encode params to wire keys and decode results from them", () => {
    const wire = Registry.encodeRequestParams("turn/start", {
      threadId: "t",
      input: [{ type: "text", text: "hi", textElements: [] }]
    })
    expect(wire).toEqual(Either.right({ threadId: "t", input: [{ type: "text", text: "hi", text_elements: [] }] }))
  })
})
