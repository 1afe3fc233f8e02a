// ONE end-to-end suite, registered once per transport (stdio, ws, unix, proxy): the same scenarios
// on the real binary with a FakeModel. Each setup starts what it needs (for ws/unix/proxy the test
// starts the server process) and says how to kill the server and which error a lost server gives.
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { identity } from "effect/Function"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { FakeModel } from "@effect-codex/testing"
import * as Approvals from "../../src/Approvals.js"
import * as Codex from "../../src/Codex.js"
import type { Notification } from "../../src/RpcConnection.js"

export interface Started {
  /** Codex over the transport under test; the server behind it was started by the setup. */
  readonly codex: Codex.Codex.Service
  /** The server's process id (to stop it with SIGSTOP, so that a request surely stays in flight). */
  readonly pid: number
  /** Kills the server process (SIGKILL). */
  readonly kill: Effect.Effect<void>
}

export interface TransportSetup {
  readonly name: string
  /** Starts a server for `fake` (or nothing, for stdio) and returns the Codex layer over it. */
  readonly start: (fake: FakeModel.FakeModel.Service) => Effect.Effect<Started, unknown, Scope.Scope>
  /** The `_tag` a pending turn fails with when the server dies. */
  readonly lostTag: string
}

const withCodex = <A, E>(
  setup: TransportSetup,
  body: (codex: Codex.Codex.Service, fake: FakeModel.FakeModel.Service, started: Started) => Effect.Effect<A, E, Scope.Scope>
) =>
  Effect.gen(function*() {
    const fake = yield* FakeModel.make()
    const started = yield* setup.start(fake)
    return yield* body(started.codex, fake, started)
  }).pipe(
    Effect.scoped,
    Effect.timeout("60 seconds"),
    process.env.DEBUG_T ? Logger.withMinimumLogLevel(LogLevel.Debug) : identity
  )

const deltasOf = (events: ReadonlyArray<Notification>) =>
  events.flatMap((e) => (e.method === "item/agentMessage/delta" ? [(e.params as { delta: string }).delta] : []))

/** Consumes a turn's stream on a fiber; `firstDelta` completes when text starts flowing. */
const consume = <E>(stream: Stream.Stream<Notification, E>) =>
  Effect.gen(function*() {
    const firstDelta = yield* Deferred.make<void>()
    const events: Array<Notification> = []
    const fiber = yield* stream.pipe(
      Stream.runForEach((e) =>
        Effect.sync(() => events.push(e)).pipe(
          Effect.zipRight(e.method === "item/agentMessage/delta" ? Deferred.succeed(firstDelta, undefined) : Effect.void)
        )
      ),
      Effect.fork
    )
    return { fiber, events, firstDelta: Deferred.await(firstDelta) }
  })

export const transportSuite = (setup: TransportSetup) =>
  describe(`over ${setup.name}`, () => {
    it.live("starts a thread and streams a turn", () =>
      withCodex(setup, (codex, fake) =>
        Effect.gen(function*() {
          yield* fake.enqueue(FakeModel.text(`hello over ${setup.name}`, { chunks: ["hello ", "over ", setup.name] }))
          const thread = yield* codex.threadStart()
          expect(thread.id).toMatch(/^[0-9a-f-]{36}$/)
          const turn = yield* thread.turn("hi")
          const { events, fiber } = yield* consume(turn.stream)
          yield* Fiber.join(fiber)
          expect(deltasOf(events)).toEqual(["hello ", "over ", setup.name])
          const last = events[events.length - 1]!
          expect(last.method).toBe("turn/completed")
          expect((last.params as { turn: { status: string } }).turn.status).toBe("completed")
          const read = yield* codex.threadRead(thread.id)
          expect(read.id).toBe(thread.id)
        })))

    const commandTurn = (decision: "accept" | "decline") =>
      withCodex(setup, (codex, fake) =>
        Effect.gen(function*() {
          const asked: Array<string> = []
          yield* fake.enqueue(FakeModel.execCommand("echo approved-run > ran.txt && echo ran-ok", { login: false }), FakeModel.text("finished"))
          const thread = yield* codex.threadStart({ approvalPolicy: "untrusted", sandbox: "workspace-write" }, {
            approvals: {
              commandExecution: (params) => Effect.sync(() => asked.push(params.command ?? "")).pipe(Effect.as({ decision }))
            }
          })
          const result = yield* thread.run("run the command")
          const requests = yield* fake.awaitRequests(2)
          return {
            asked,
            result,
            ran: fs.existsSync(path.join(fake.workspace, "ran.txt")),
            toolOutput: FakeModel.toolOutputs(requests[1]!)[0]?.output ?? ""
          }
        }))

    it.live("a command approved through Approvals runs", () =>
      Effect.gen(function*() {
        const { asked, ran, result, toolOutput } = yield* commandTurn("accept")
        expect(asked[0]).toContain("echo approved-run")
        expect(result.items.find((i) => i.type === "commandExecution")).toMatchObject({ status: "completed" })
        expect(toolOutput).toContain("ran-ok")
        expect(ran).toBe(true)
        expect(result.turn.status).toBe("completed")
      }))

    it.live("a command declined through Approvals does not run", () =>
      Effect.gen(function*() {
        const { asked, ran, result, toolOutput } = yield* commandTurn("decline")
        expect(asked).toHaveLength(1)
        expect(result.items.find((i) => i.type === "commandExecution")).toMatchObject({ status: "declined" })
        expect(toolOutput).toContain("rejected by user")
        expect(ran).toBe(false)
      }))

    it.live("interrupts a streaming turn", () =>
      withCodex(setup, (codex, fake) =>
        Effect.gen(function*() {
          yield* fake.enqueue(FakeModel.stall(FakeModel.text("partial text", { chunks: ["partial ", "text"] })), FakeModel.text("after"))
          const thread = yield* codex.threadStart()
          const turn = yield* thread.turn("go")
          const { events, fiber, firstDelta } = yield* consume(turn.stream)
          yield* firstDelta
          yield* turn.interrupt
          yield* Fiber.join(fiber)
          const last = events[events.length - 1]!
          expect((last.params as { turn: { status: string } }).turn.status).toBe("interrupted")
          // the connection is still usable
          expect((yield* thread.run("again")).turn.status).toBe("completed")
        })))

    it.live("server death fails the pending turn and later requests with a typed error, nothing hangs", () =>
      withCodex(setup, (codex, fake, started) =>
        Effect.gen(function*() {
          yield* fake.enqueue(FakeModel.stall(FakeModel.text("never ends", { chunks: ["never ", "ends"] })))
          const thread = yield* codex.threadStart()
          const turn = yield* thread.turn("go")
          const { fiber, firstDelta } = yield* consume(turn.stream)
          yield* firstDelta
          // stopped, the server cannot answer: the request is surely in flight when it dies
          process.kill(started.pid, "SIGSTOP")
          yield* Effect.promise(async () => {
            while (!/^\d+ \(.*\) T/.test(fs.readFileSync(`/proc/${started.pid}/stat`, "utf8"))) {
              await new Promise((r) => setTimeout(r, 5))
            }
          })
          const pending = yield* Effect.fork(codex.request("thread/loaded/list", {}))
          yield* Effect.sleep("50 millis")
          yield* started.kill
          yield* Effect.logDebug("killed")
          const error = yield* Effect.flip(Fiber.join(fiber)).pipe(Effect.timeout("10 seconds"))
          yield* Effect.logDebug("turn failed")
          expect(error._tag).toBe(setup.lostTag)
          const failure = yield* Effect.flip(Fiber.join(pending)).pipe(Effect.timeout("10 seconds"))
          expect(failure._tag).toBe(setup.lostTag)
          const later = yield* Effect.flip(codex.request("thread/loaded/list", {})).pipe(Effect.timeout("10 seconds"))
          expect(later._tag).toBe(setup.lostTag)
        })))
  })

/** Builds a Codex layer (fail-closed approvals: threads pass their own handlers) in the scope. */
export const build = <ROut, E>(
  layer: Layer.Layer<ROut | Codex.Codex, E>
): Effect.Effect<{ readonly context: Context.Context<ROut>; readonly codex: Codex.Codex.Service }, E, Scope.Scope> =>
  Effect.map(Layer.build(Layer.provide(layer, Approvals.declineAll)), (context) => ({
    context: context as Context.Context<ROut>,
    codex: Context.get(context as Context.Context<Codex.Codex>, Codex.Codex)
  }))
