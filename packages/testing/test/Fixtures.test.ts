import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Codex } from "@effect-codex/app-server"
import * as Protocol from "@effect-codex/protocol/generated/Schemas"
import { Fixtures, MockAppServer } from "@effect-codex/testing"

const MockCodex = Codex.layerTransport().pipe(Layer.provideMerge(MockAppServer.layer()))

describe("Fixtures", () => {
  it("payloads decode with the protocol's Schemas", () => {
    const decode = <A, I>(schema: Schema.Schema<A, I>, u: unknown) => Either.isRight(Schema.decodeUnknownEither(schema)(u))
    expect(decode(Protocol.Thread, Fixtures.thread("t"))).toBe(true)
    expect(decode(Protocol.Turn, Fixtures.turn("u", "failed", { error: { message: "m", codexErrorInfo: "other" } }))).toBe(true)
    expect(decode(Protocol.ThreadItem, Fixtures.agentMessage("i", "hi", "final_answer"))).toBe(true)
    expect(decode(Protocol.ThreadStartResponse, Fixtures.threadStartResponse(Fixtures.thread("t")))).toBe(true)
    expect(decode(Protocol.ThreadGoal, Fixtures.threadGoal("t", "budgetLimited", { tokenBudget: 40, tokensUsed: 45 }))).toBe(true)
  })

  it.scoped("serveThreadStart + serveTurn play a whole turn for the high-level API", () =>
    Effect.gen(function*() {
      const peer = yield* MockAppServer.MockAppServer
      const codex = yield* Codex.Codex
      const running = yield* Effect.fork(
        Effect.gen(function*() {
          const thread = yield* codex.threadStart({ model: "gpt-5.5" })
          const turn = yield* thread.turn("hello")
          const deltas: Array<string> = []
          const result = yield* turn.runWith((e) =>
            Effect.sync(() => {
              if (e.method === "item/agentMessage/delta") deltas.push(e.params.delta)
            })
          )
          return { result, deltas, settings: thread.settings }
        }).pipe(Effect.scoped)
      )
      const start = yield* Fixtures.serveThreadStart(peer)
      expect(start.params).toMatchObject({ model: "gpt-5.5" })
      const turnStart = yield* Fixtures.serveTurn(peer, { text: "Hi there.", deltas: ["Hi ", "there."], totalTokens: 12 })
      expect(turnStart.params).toMatchObject({ threadId: "thread-1" })
      const { result, deltas, settings } = yield* Fiber.join(running)
      expect(deltas).toEqual(["Hi ", "there."])
      expect(result.finalResponse).toEqual(Option.some("Hi there."))
      expect(Option.map(result.usage, (u) => u.total.totalTokens)).toEqual(Option.some(12))
      expect(settings.model).toBe("gpt-5.5")
    }).pipe(Effect.provide(MockCodex)))

  it.scoped("a failed turn surfaces as TurnFailedError", () =>
    Effect.gen(function*() {
      const peer = yield* MockAppServer.MockAppServer
      const codex = yield* Codex.Codex
      const running = yield* Effect.fork(Effect.scoped(Effect.flatMap(codex.threadStart(), (t) => Effect.flip(t.run("x")))))
      yield* Fixtures.serveThreadStart(peer)
      yield* Fixtures.serveTurn(peer, { status: "failed", error: { message: "quota", codexErrorInfo: "usageLimitExceeded" } })
      const error = yield* Fiber.join(running)
      expect(error._tag).toBe("TurnFailedError")
      expect(error).toMatchObject({ message: "quota", codexErrorInfo: "usageLimitExceeded" })
    }).pipe(Effect.provide(MockCodex)))
})
