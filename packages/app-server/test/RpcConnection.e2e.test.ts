import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { FakeModel } from "@effect-codex/testing"
import * as CodexBinary from "../src/CodexBinary.js"
import type { CodexConfig } from "../src/CodexConfig.js"
import * as RpcConnection from "../src/RpcConnection.js"
import * as StdioTransport from "../src/StdioTransport.js"

// The runtime core against the real codex binary (and a FakeModel for turns).

const connect = (config: CodexConfig) =>
  Effect.map(
    Layer.build(
      RpcConnection.layer({ config }).pipe(Layer.provideMerge(StdioTransport.layer(config)))
    ),
    (context) => ({ connection: Context.get(context, RpcConnection.RpcConnection), process: Context.get(context, StdioTransport.StdioTransport) })
  )

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const scoped = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => effect.pipe(Effect.scoped, Effect.timeout("90 seconds"))

describe("RpcConnection on the real binary", () => {
  it.live("performs the handshake and exposes the server's answer", () =>
    scoped(
      Effect.gen(function*() {
        const fake = yield* FakeModel.make()
        const { connection } = yield* connect({ ...fake.config, clientInfo: { name: "e2e_client", version: "1.2.3" } })
        expect(connection.serverVersion).toBe(CodexBinary.CODEX_VERSION)
        expect(connection.server.userAgent.startsWith(`e2e_client/${CodexBinary.CODEX_VERSION} `)).toBe(true)
        expect(connection.server.codexHome).toBe(fake.codexHome)
      })
    ))

  it.live("model/list", () =>
    scoped(
      Effect.gen(function*() {
        const fake = yield* FakeModel.make()
        const { connection } = yield* connect(fake.config)
        const models = yield* connection.request("model/list", {})
        expect(models.data.length).toBeGreaterThan(0)
        expect(models.data.every((m) => typeof m.id === "string" && Array.isArray(m.supportedReasoningEfforts))).toBe(true)
      })
    ))

  it.live("a raw thread/start + turn/start, observed through turn/completed", () =>
    scoped(
      Effect.gen(function*() {
        const fake = yield* FakeModel.make()
        yield* fake.enqueue(FakeModel.text("raw hello", { chunks: ["raw ", "hello"] }))
        const { connection } = yield* connect(fake.config)
        const events = yield* connection.subscribe
        const { thread } = yield* connection.request("thread/start", {})
        const { turn } = yield* connection.request("turn/start", { threadId: thread.id, input: [{ type: "text", text: "hi", textElements: [] }] })
        const seen = yield* events.pipe(
          Stream.filter((n) => (n.params as { threadId?: string }).threadId === thread.id),
          Stream.takeUntil((n) => n.method === "turn/completed"),
          Stream.runCollect
        )
        const methods = [...seen].map((n) => n.method)
        expect(methods).toContain("turn/started")
        expect(methods.filter((m) => m === "item/agentMessage/delta")).toHaveLength(2)
        const completed = [...seen].at(-1)!
        expect(completed.method).toBe("turn/completed")
        expect((completed.params as { turn: { id: string; status: string } }).turn).toMatchObject({ id: turn.id, status: "completed" })
      })
    ))

  it.live("maps the server's -32600 answers to InvalidRequestError, keeping the message", () =>
    scoped(
      Effect.gen(function*() {
        const fake = yield* FakeModel.make()
        const { connection } = yield* connect(fake.config)
        const error = yield* Effect.flip(
          connection.request("turn/start", { threadId: "01a20ee2-0000-7000-8000-000000000000", input: [] })
        )
        expect(error._tag).toBe("InvalidRequestError")
        expect(error).toMatchObject({ code: -32600 })
        expect(error.message).toContain("thread not found")
        // The connection goes on.
        expect((yield* connection.request("thread/loaded/list", {})).data).toEqual([])
      })
    ))

  it.live("a process killed mid-request fails the request with ProcessExitedError, not a hang", () =>
    scoped(
      Effect.gen(function*() {
        const fake = yield* FakeModel.make()
        const { connection, process: child } = yield* connect(fake.config)
        const subscriber = yield* Effect.fork(Stream.runDrain(connection.notifications))
        // Stopped, the process cannot answer: the request is surely in flight when it dies.
        process.kill(child.pid, "SIGSTOP")
        const pending = yield* Effect.fork(connection.request("model/list", {}))
        process.kill(child.pid, "SIGKILL")
        const error = yield* Effect.flip(Fiber.join(pending))
        expect(error._tag).toBe("ProcessExitedError")
        expect(error).toMatchObject({ signal: "SIGKILL" })
        const subscriberExit = yield* Fiber.await(subscriber)
        expect(Exit.isFailure(subscriberExit)).toBe(true)
        // Later requests fail at once with the same error.
        const later = yield* Effect.flip(connection.request("thread/loaded/list", {}))
        expect(later._tag).toBe("ProcessExitedError")
      })
    ))

  it.live("closing the scope leaves no process behind", () =>
    Effect.gen(function*() {
      const fakeScope = yield* Scope.make()
      const fake = yield* Scope.extend(FakeModel.make(), fakeScope)
      const scope = yield* Scope.make()
      const { connection, process: child } = yield* Scope.extend(connect(fake.config), scope)
      yield* connection.request("thread/loaded/list", {})
      expect(isAlive(child.pid)).toBe(true)
      yield* Scope.close(scope, Exit.void)
      expect(isAlive(child.pid)).toBe(false)
      yield* Scope.close(fakeScope, Exit.void)
    }).pipe(Effect.timeout("90 seconds")))

  it.live("a burst of 500 concurrent requests: each answered, retried after -32001, or timed out — none hangs", () =>
    scoped(
      Effect.gen(function*() {
        const fake = yield* FakeModel.make()
        const { connection } = yield* connect({ ...fake.config, retry: { attempts: 6, initialDelay: "50 millis", maxDelay: "500 millis" } })
        const burst = (options: RpcConnection.RequestOptions) =>
          Effect.gen(function*() {
            const results = yield* Effect.all(
              Array.from({ length: 500 }, () => Effect.either(connection.request("thread/loaded/list", {}, options))),
              { concurrency: "unbounded" }
            )
            const outcomes: Record<string, number> = {}
            for (const r of results) {
              const key = Either.isRight(r) ? "ok" : r.left._tag
              outcomes[key] = (outcomes[key] ?? 0) + 1
            }
            yield* Effect.logInfo("burst outcomes", options, outcomes)
            for (const key of Object.keys(outcomes)) expect(["ok", "ServerBusyError", "RequestTimeoutError"]).toContain(key)
            return outcomes
          })
        // Without retries an overload (-32001, observed in most runs) is a typed ServerBusyError.
        const raw = yield* burst({ retry: false, timeout: "3 seconds" })
        expect(raw.ok ?? 0).toBeGreaterThan(0)
        // With the connection's retries the -32001 answers are retried (exact attempts and delays
        // are unit-tested on MockAppServer).
        const retried = yield* burst({ timeout: "15 seconds" })
        expect(retried.ok ?? 0).toBeGreaterThan(0)
        // The connection is still usable afterwards.
        expect((yield* connection.request("thread/loaded/list", {})).data).toEqual([])
      })
    ), { timeout: 120_000 })
})
