import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Exit from "effect/Exit"
import * as TestClock from "effect/TestClock"
import type * as Registry from "@effect-codex/protocol/Registry"
import * as Approvals from "../src/Approvals.js"

const command = (threadId: string): Registry.ServerRequest => ({
  id: 0,
  method: "item/commandExecution/requestApproval",
  params: { threadId, turnId: "u", itemId: "i", startedAtMs: 1, command: "ls" } as never
})

const fileChange: Registry.ServerRequest = {
  id: 1,
  method: "item/fileChange/requestApproval",
  params: { threadId: "t", turnId: "u", itemId: "p", startedAtMs: 1 } as never
}

describe("Approvals", () => {
  it.effect("fails closed by default: commands and patches declined, token refresh refused", () =>
    Effect.gen(function*() {
      const approvals = yield* Approvals.make()
      expect(yield* approvals.handle(command("t"))).toEqual({ _tag: "Result", result: { decision: "decline" } })
      expect(yield* approvals.handle(fileChange)).toEqual({ _tag: "Result", result: { decision: "decline" } })
      const refresh = yield* approvals.handle({ id: 2, method: "account/chatgptAuthTokens/refresh", params: { reason: "unauthorized" } as never })
      expect(refresh._tag).toBe("Error")
    }))

  it.effect("a handler past its timeout is answered with the refusal", () =>
    Effect.gen(function*() {
      const approvals = yield* Approvals.make({
        timeout: "5 seconds",
        commandExecution: () => Effect.never
      })
      const fiber = yield* Effect.fork(approvals.handle(command("t")))
      yield* TestClock.adjust("4999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toEqual({ _tag: "Result", result: { decision: "decline" } })
    }))

  it.effect("a failing or dying handler is answered with the refusal", () =>
    Effect.gen(function*() {
      const failing = yield* Approvals.make({ commandExecution: () => Effect.fail("no") })
      expect(yield* failing.handle(command("t"))).toEqual({ _tag: "Result", result: { decision: "decline" } })
      const dying = yield* Approvals.make({ commandExecution: () => Effect.die("boom") })
      expect(yield* dying.handle(command("t"))).toEqual({ _tag: "Result", result: { decision: "decline" } })
    }))

  it.effect("per-thread handlers override the connection's while their scope is open", () =>
    Effect.gen(function*() {
      const approvals = yield* Approvals.make({ commandExecution: () => Effect.succeed({ decision: "decline" as const }) })
      const scope = yield* Scope.make()
      yield* Scope.extend(approvals.forThread("mine", { commandExecution: () => Effect.succeed({ decision: "accept" as const }) }), scope)
      expect(yield* approvals.handle(command("mine"))).toEqual({ _tag: "Result", result: { decision: "accept" } })
      expect(yield* approvals.handle(command("other"))).toEqual({ _tag: "Result", result: { decision: "decline" } })
      yield* Scope.close(scope, Exit.void)
      expect(yield* approvals.handle(command("mine"))).toEqual({ _tag: "Result", result: { decision: "decline" } })
    }))

  it.effect("acceptAll accepts commands and patches, and still refuses user input", () =>
    Effect.gen(function*() {
      const approvals = yield* Approvals.Approvals.pipe(Effect.provide(Approvals.acceptAll))
      expect(yield* approvals.handle(command("t"))).toEqual({ _tag: "Result", result: { decision: "accept" } })
      expect(yield* approvals.handle(fileChange)).toEqual({ _tag: "Result", result: { decision: "accept" } })
      const input = yield* approvals.handle({ id: 3, method: "item/tool/requestUserInput", params: { threadId: "t" } as never })
      expect(input).toEqual({ _tag: "Result", result: { answers: {} } })
    }))
})
