import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { FakeModel } from "@effect-codex/testing"
import * as Approvals from "../src/Approvals.js"
import * as Codex from "../src/Codex.js"
import * as CodexPool from "../src/CodexPool.js"

// CodexPool against the real binary: processes share one CODEX_HOME (the FakeModel's) and one
// FakeModel on 127.0.0.1. Text starting with "stall" stalls until `releaseStalls`; anything else
// is answered at once with "re: <text>". Every wait is for an event; timeouts are guards only.

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const fakeModel = FakeModel.make({
  respond: (request) => {
    const text = FakeModel.lastUserText(request) ?? ""
    return text.startsWith("stall") ? FakeModel.stall(FakeModel.text(`re: ${text}`)) : FakeModel.text(`re: ${text}`)
  }
})

const startPool = (fake: FakeModel.FakeModel.Service, options: Omit<CodexPool.Options, "config">, scope: Scope.Scope) =>
  Effect.map(
    Layer.buildWithScope(CodexPool.layer({ ...options, config: fake.config }).pipe(Layer.provide(Approvals.declineAll)), scope),
    (context) => ({ codex: Context.get(context, Codex.Codex), pool: Context.get(context, CodexPool.CodexPool) })
  )

/** Waits for the first event matching `predicate` on a subscription made before. */
const awaitEvent = <A extends CodexPool.PoolEvent>(
  events: Stream.Stream<CodexPool.PoolEvent>,
  predicate: (event: CodexPool.PoolEvent) => event is A
) => Effect.map(Stream.runHead(Stream.filter(events, predicate)), Option.getOrThrow)

describe("CodexPool (real binary)", () => {
  it.live("spreads 4 threads 2/2 over 2 processes, runs each thread's turns on its owner, and closes every process", () =>
    Effect.gen(function*() {
      const fake = yield* fakeModel
      const scope = yield* Scope.make()
      const { codex, pool } = yield* startPool(fake, { size: 2 }, scope)
      const threads = yield* Effect.forEach([1, 2, 3, 4], () => Scope.extend(codex.threadStart(), scope))
      const stats = yield* pool.stats
      assert.strictEqual(stats.processes.length, 2)
      assert.deepStrictEqual(stats.processes.map((p) => p.threads.length), [2, 2])
      const ownerOf = new Map(stats.processes.flatMap((p) => p.threads.map((t) => [t, p] as const)))

      // the turn/completed of each thread arrives on its owner's connection only
      const completedOn = new Map<string, Array<number>>()
      const allSeen = yield* Deferred.make<void>()
      let seen = 0
      for (const p of stats.processes) {
        const sub = yield* Scope.extend(p.connection.subscribe, scope)
        yield* Stream.runForEach(sub, (n) =>
          Effect.sync(() => {
            if (n.method !== "turn/completed") return
            const id = (n.params as { readonly threadId: string }).threadId
            completedOn.set(id, [...(completedOn.get(id) ?? []), p.process])
            if (++seen === 8) Deferred.unsafeDone(allSeen, Exit.void)
          })).pipe(Effect.ignore, Effect.forkIn(scope))
      }
      const results = yield* Effect.forEach(threads, (t, i) => t.run(`hello ${i}`), { concurrency: "unbounded" })
      assert.deepStrictEqual(results.map((r) => Option.getOrNull(r.finalResponse)), [0, 1, 2, 3].map((i) => `re: hello ${i}`))
      // a second turn each, then read back through the pool (routed to the owner)
      yield* Effect.forEach(threads, (t, i) => t.run(`again ${i}`), { concurrency: "unbounded" })
      for (const t of threads) {
        const read = yield* codex.threadRead(t.id, { includeTurns: true })
        assert.strictEqual(read.turns.length, 2)
      }
      // the notifications are routed in the reader; wait until both completions of each are seen
      yield* Deferred.await(allSeen)
      for (const t of threads) {
        assert.deepStrictEqual(completedOn.get(t.id), [ownerOf.get(t.id)!.process, ownerOf.get(t.id)!.process])
      }
      const pids = stats.processes.map((p) => p.pid!)
      assert.isTrue(pids.every(isAlive))
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(pids.filter(isAlive), [])
    }).pipe(Effect.scoped, Effect.timeout("120 seconds")))

  it.live("a killed process fails its own turn only; its thread resumes with its history on a live process", () =>
    Effect.gen(function*() {
      const fake = yield* fakeModel
      const scope = yield* Scope.make()
      const { codex, pool } = yield* startPool(fake, { size: 2 }, scope)
      const events = yield* Scope.extend(pool.subscribe, scope)
      const a = yield* Scope.extend(codex.threadStart(), scope)
      const b = yield* Scope.extend(codex.threadStart(), scope)
      const first = yield* a.run("first of a")
      assert.strictEqual(Option.getOrNull(first.finalResponse), "re: first of a")
      const stats = yield* pool.stats
      const owner = (id: string) => stats.processes.find((p) => p.threads.includes(id))!
      assert.notStrictEqual(owner(a.id).pid, owner(b.id).pid)

      const before = (yield* fake.requests).length
      const turnA = yield* Effect.fork(Effect.either(a.run("stall a")))
      const turnB = yield* Effect.fork(Effect.either(b.run("stall b")))
      yield* fake.awaitRequests(before + 2)
      const killedPid = owner(a.id).pid!
      process.kill(killedPid, "SIGKILL")

      const failedA = yield* Fiber.join(turnA)
      assert.isTrue(failedA._tag === "Left" && failedA.left._tag === "ProcessExitedError", String(failedA))
      const exited = yield* awaitEvent(events, (e): e is Extract<CodexPool.PoolEvent, { _tag: "ProcessExited" }> => e._tag === "ProcessExited")
      assert.strictEqual(exited.pid, killedPid)
      assert.strictEqual(exited.signal, "SIGKILL")
      assert.isAbove(exited.stderrTail.length, 0)
      assert.deepStrictEqual(exited.threads, [a.id])
      // the other process's turn is untouched: it completes once its model call is released
      assert.isTrue(isAlive(owner(b.id).pid!))
      yield* fake.releaseStalls
      const doneB = yield* Fiber.join(turnB)
      assert.isTrue(doneB._tag === "Right")
      if (doneB._tag === "Right") assert.strictEqual(Option.getOrNull(doneB.right.finalResponse), "re: stall b")
      assert.deepStrictEqual((yield* pool.stats).processes.map((p) => p.pid), [owner(b.id).pid])

      // resumed through the pool: on a live process, with its history
      const resumed = yield* Scope.extend(codex.threadResume(a.id), scope)
      const moved = yield* awaitEvent(events, (e): e is Extract<CodexPool.PoolEvent, { _tag: "ThreadMoved" }> => e._tag === "ThreadMoved")
      assert.strictEqual(moved.threadId, a.id)
      assert.strictEqual(moved.fromPid, killedPid)
      assert.notStrictEqual(moved.toPid, killedPid)
      assert.isTrue(isAlive(moved.toPid!))
      assert.isTrue(resumed.info.turns.length >= 1)
      const next = yield* resumed.run("after the move")
      assert.strictEqual(Option.getOrNull(next.finalResponse), "re: after the move")
      const last = (yield* fake.requests).at(-1)!
      const history = JSON.stringify(last.body)
      assert.include(history, "first of a")
      const after = yield* pool.stats
      assert.strictEqual(after.exits, 1)
      // size 2 with one live process that has a thread: the resume started the replacement
      assert.strictEqual(after.restarts, 1)
      assert.isTrue(after.processes.some((p) => p.threads.includes(a.id) && p.pid === moved.toPid))
      const pids = after.processes.map((p) => p.pid!)
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(pids.filter(isAlive), [])
    }).pipe(Effect.scoped, Effect.timeout("120 seconds")))

  it.live("maxConcurrentTurns: 1 makes the second turn wait for the first", () =>
    Effect.gen(function*() {
      const fake = yield* fakeModel
      const scope = yield* Scope.make()
      const { codex, pool } = yield* startPool(fake, { size: 2, maxConcurrentTurns: 1 }, scope)
      const events = yield* Scope.extend(pool.subscribe, scope)
      const t1 = yield* Scope.extend(codex.threadStart(), scope)
      const t2 = yield* Scope.extend(codex.threadStart(), scope)
      const order: Array<string> = []
      const before = (yield* fake.requests).length
      const run1 = yield* Effect.fork(Effect.tap(t1.run("stall one"), () => Effect.sync(() => order.push("t1 done"))))
      yield* fake.awaitRequests(before + 1)
      const run2 = yield* Effect.fork(Effect.tap(t2.run("two"), () => Effect.sync(() => order.push("t2 done"))))
      const waiting = yield* awaitEvent(events, (e): e is Extract<CodexPool.PoolEvent, { _tag: "TurnWaiting" }> => e._tag === "TurnWaiting")
      assert.strictEqual(waiting.threadId, t2.id)
      assert.strictEqual((yield* pool.stats).turnsWaiting, 1)
      // only the first turn reached the model
      assert.strictEqual((yield* fake.requests).length, before + 1)
      yield* fake.releaseStalls
      const admitted = yield* awaitEvent(events, (e): e is Extract<CodexPool.PoolEvent, { _tag: "TurnAdmitted" }> => e._tag === "TurnAdmitted")
      assert.strictEqual(admitted.threadId, t2.id)
      yield* Fiber.join(run1)
      const second = yield* Fiber.join(run2)
      assert.strictEqual(Option.getOrNull(second.finalResponse), "re: two")
      assert.deepStrictEqual(order, ["t1 done", "t2 done"])
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.scoped, Effect.timeout("120 seconds")))
  it.live("why affinity: codex refuses a second writer of a thread while its owner lives, and accepts one once it died", () =>
    Effect.gen(function*() {
      const fake = yield* fakeModel
      const scope = yield* Scope.make()
      const { codex, pool } = yield* startPool(fake, { size: 2 }, scope)
      const a = yield* Scope.extend(codex.threadStart(), scope)
      yield* Scope.extend(codex.threadStart(), scope)
      yield* a.run("first")
      const stats = yield* pool.stats
      const owner = stats.processes.find((p) => p.threads.includes(a.id))!
      const other = stats.processes.find((p) => p.pid !== owner.pid)!
      // straight to the other process's connection, around the pool
      const refused = yield* Effect.flip(other.connection.request("thread/resume", { threadId: a.id }))
      assert.strictEqual(refused._tag, "InvalidRequestError")
      assert.include(refused.message, `thread ${a.id} already has an active writer`)
      const notLoaded = yield* Effect.flip(
        other.connection.request("turn/start", { threadId: a.id, input: [{ type: "text", text: "x", textElements: [] }] })
      )
      assert.include(notLoaded.message, `thread not found: ${a.id}`)
      // through the pool, the owner's
      const again = yield* Scope.extend(codex.threadResume(a.id), scope)
      assert.strictEqual(again.info.turns.length, 1)
      // the owner dies: the other process may resume it (the writer goes with the process)
      process.kill(owner.pid!, "SIGKILL")
      yield* owner.connection.closed
      const resumed = yield* other.connection.request("thread/resume", { threadId: a.id })
      assert.strictEqual(resumed.thread.id, a.id)
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.scoped, Effect.timeout("120 seconds")))
})
