import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { FakeModel } from "@effect-codex/testing"
import * as Approvals from "../src/Approvals.js"
import * as Codex from "../src/Codex.js"
import * as StdioTransport from "../src/StdioTransport.js"

// Closing the scope of `Codex.layer` while turns stream on fibers forked into it, against the real
// binary: every turn is interrupted on the server, in-flight requests fail, the close returns and
// the process is gone. Repeated, as the original hang depended on which fiber read first.

const threads = 5
const iterations = 10
/** A guard only (a close takes well under a second): far above the release ladder's bound. */
const closeGuard = "20 seconds"

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** One round: codex in its own scope, `threads` turns streaming on fibers forked into it, then the close. */
const round = Effect.gen(function*() {
  // every model call stalls after its first deltas, so the turns are still running at the close
  const fake = yield* FakeModel.make({ respond: () => FakeModel.stall(FakeModel.text("still going", { chunks: ["still ", "going"] })) })
  const scope = yield* Scope.make()
  const context = yield* Layer.buildWithScope(Codex.layer(fake.config).pipe(Layer.provide(Approvals.declineAll)), scope)
  const codex = Context.get(context, Codex.Codex)
  const pid = Context.get(context, StdioTransport.StdioTransport).pid

  // the server's word on each turn, from a subscription that outlives the closing scope
  const statuses = new Map<string, string>()
  const observer = yield* codex.connection.subscribe
  const observing = yield* Stream.runForEach(observer, (n) =>
    Effect.sync(() => {
      if (n.method === "turn/completed") {
        const { turn } = n.params as { readonly turn: { readonly id: string; readonly status: string } }
        statuses.set(turn.id, turn.status)
      }
    })).pipe(Effect.ignore, Effect.fork)

  const turnIds: Array<string> = []
  const streaming: Array<Effect.Effect<void>> = []
  for (let i = 0; i < threads; i++) {
    const thread = yield* Scope.extend(codex.threadStart(), scope)
    const firstDelta = yield* Deferred.make<void>()
    streaming.push(Deferred.await(firstDelta))
    // the turn is started and consumed on its own fiber; both belong to the closing scope
    yield* Effect.forkIn(
      Effect.gen(function*() {
        const turn = yield* thread.turn(`count to ${i}`)
        turnIds.push(turn.id)
        yield* Stream.runForEach(turn.stream, (e) =>
          e.method === "item/agentMessage/delta" ? Deferred.succeed(firstDelta, undefined) : Effect.void)
      }),
      scope
    ).pipe(Scope.extend(scope))
  }
  yield* Effect.all(streaming, { discard: true })
  // requests in flight at the close, from fibers outside it: the close must fail them
  const requesting = yield* Effect.forEach([1, 2], () => Effect.fork(Effect.forever(codex.threadList({}))))

  yield* Scope.close(scope, Exit.void).pipe(
    Effect.disconnect,
    Effect.timeoutFail({ duration: closeGuard, onTimeout: () => new Error(`the close did not return within ${closeGuard}`) })
  )

  yield* Fiber.join(observing)
  assert.strictEqual(turnIds.length, threads)
  assert.deepStrictEqual(turnIds.map((id) => statuses.get(id)), turnIds.map(() => "interrupted"))
  for (const fiber of requesting) {
    const exit = yield* Fiber.await(fiber)
    assert.isTrue(Exit.isFailure(exit) && !Exit.isInterrupted(exit), `an in-flight request should fail, got ${String(exit)}`)
  }
  assert.isFalse(isAlive(pid), `codex app-server (pid ${pid}) is still running`)
}).pipe(Effect.scoped)

describe("closing the scope of Codex.layer", () => {
  it.live(`interrupts ${threads} streaming turns, fails in-flight requests and stops the process (${iterations} rounds)`, () =>
    Effect.gen(function*() {
      for (let i = 0; i < iterations; i++) yield* round
    }), 300_000)
})
