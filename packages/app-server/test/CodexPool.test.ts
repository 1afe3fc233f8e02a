import * as Fixtures from "@effect-codex/testing/Fixtures"
import * as MockAppServer from "@effect-codex/testing/MockAppServer"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Codex from "../src/Codex.js"
import * as CodexPool from "../src/CodexPool.js"

// CodexPool over in-memory app-servers (MockAppServer): each build of the spawn layer is one fake
// process answering thread/start with thread-<process>-<n>. Deterministic: waits are for events.

interface Fake {
  readonly peers: Array<MockAppServer.Peer>
  readonly spawn: Layer.Layer<Codex.Codex, Codex.StartError>
  readonly builds: () => number
}

/** A spawn layer whose first `dying` builds die during `initialize` (stderr: "boom <n>"). */
const makeFake = (options: { readonly dying?: number | ((build: number) => boolean); readonly script?: (peer: MockAppServer.Peer, index: number) => Effect.Effect<void> } = {}): Fake => {
  const peers: Array<MockAppServer.Peer> = []
  let builds = 0
  const spawn = Layer.unwrapEffect(Effect.sync(() => {
    const index = ++builds
    const dies = typeof options.dying === "function" ? options.dying(index) : index <= (options.dying ?? 0)
    const mock = MockAppServer.layer({
      autoInitialize: !dies,
      script: (peer) =>
        dies
          ? Effect.zipRight(peer.expectRequest("initialize"), peer.die({ exitCode: 3, stderrTail: [`boom ${index}`] }))
          : Effect.gen(function*() {
            peers.push(peer)
            let n = 0
            yield* peer.handle("thread/start", () => Effect.succeed(Fixtures.threadStartResponse(Fixtures.thread(`thread-${index}-${++n}`))))
            if (options.script) yield* options.script(peer, index)
          })
    })
    return Codex.layerTransport({ retry: false }).pipe(Layer.provide(mock))
  }))
  return { peers, spawn, builds: () => builds }
}

const build = (options: CodexPool.Options, fake: Fake, scope: Scope.Scope) =>
  Effect.map(Layer.buildWithScope(CodexPool.layerWith(options, fake.spawn), scope), (context) => ({
    codex: Context.get(context, Codex.Codex),
    pool: Context.get(context, CodexPool.CodexPool)
  }))

/** Lets forked fibers run until the TestClock has a sleep registered. */
const untilSleeping = Effect.gen(function*() {
  for (let i = 0; i < 1000 && (yield* TestClock.sleeps()).length === 0; i++) yield* Effect.yieldNow()
})

describe("CodexPool", () => {
  it.effect("rejects bad options at layer build, naming the field", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const cases: ReadonlyArray<readonly [CodexPool.Options, string]> = [
        [{ size: 0 }, "size"],
        [{ size: 1.5 }, "size"],
        [{ size: 2, maxThreadsPerProcess: 0 }, "maxThreadsPerProcess"],
        [{ size: 2, maxConcurrentTurns: -1 }, "maxConcurrentTurns"],
        [{ size: 2, idleTimeout: "soon" as never }, "idleTimeout"]
      ]
      for (const [options, field] of cases) {
        const failure = yield* Effect.flip(Effect.scoped(Layer.build(CodexPool.layerWith(options, fake.spawn))))
        assert.instanceOf(failure, CodexPool.PoolConfigError)
        assert.strictEqual((failure as CodexPool.PoolConfigError).field, field)
      }
      // nothing was started
      assert.strictEqual(fake.peers.length, 0)
    }))

  it.live("retries a process that dies during initialize, then starts", () =>
    Effect.gen(function*() {
      const fake = makeFake({ dying: 2 })
      const scope = yield* Scope.make()
      const { pool } = yield* build({ size: 1, startBackoff: "1 millis" }, fake, scope)
      const stats = yield* pool.stats
      assert.strictEqual(stats.processes.length, 1)
      assert.strictEqual(fake.peers.length, 1)
      assert.strictEqual(fake.builds(), 3)
      yield* Scope.close(scope, Exit.void)
    }))

  it.live("fails the start with the stderr tail after the retries", () =>
    Effect.gen(function*() {
      const fake = makeFake({ dying: 10 })
      const error = yield* Effect.flip(Effect.scoped(Layer.build(CodexPool.layerWith({ size: 2, startRetries: 3, startBackoff: "1 millis" }, fake.spawn))))
      assert.strictEqual((error as { readonly _tag: string })._tag, "ProcessExitedError")
      // the first attempt and 3 retries: the last one's stderr
      assert.deepStrictEqual((error as { readonly stderrTail: ReadonlyArray<string> }).stderrTail, ["boom 4"])
      assert.strictEqual(fake.peers.length, 0)
      assert.strictEqual(fake.builds(), 4)
    }))

  it.effect("closes a process idle for idleTimeout while another runs (TestClock)", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const scope = yield* Scope.make()
      const { codex, pool } = yield* build({ size: 2, maxThreadsPerProcess: 1, idleTimeout: "1 minute" }, fake, scope)
      const events = yield* Scope.extend(pool.subscribe, scope)
      const scopeA = yield* Scope.make()
      const scopeB = yield* Scope.make()
      const a = yield* Scope.extend(codex.threadStart(), scopeA)
      const b = yield* Scope.extend(codex.threadStart(), scopeB)
      assert.deepStrictEqual((yield* pool.stats).processes.map((p) => p.threads), [[a.id], [b.id]])
      assert.strictEqual(a.id, "thread-1-1")
      assert.strictEqual(b.id, "thread-2-1")
      // the first process's timer from the start fires with a thread open: nothing happens
      yield* TestClock.adjust("61 seconds")
      assert.strictEqual((yield* pool.stats).processes.length, 2)

      yield* Scope.close(scopeB, Exit.void)
      yield* untilSleeping
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual((yield* pool.stats).processes.length, 2)
      yield* TestClock.adjust("1 second")
      const closed = yield* Stream.runHead(Stream.filter(events, (e) => e._tag === "ProcessClosed"))
      assert.deepStrictEqual(Option.map(closed, (e) => e._tag === "ProcessClosed" && e.process), Option.some(2))
      assert.deepStrictEqual((yield* pool.stats).processes.map((p) => p.process), [1])

      // the last one stays, idle or not
      yield* Scope.close(scopeA, Exit.void)
      yield* untilSleeping
      yield* TestClock.adjust("90 seconds")
      assert.deepStrictEqual((yield* pool.stats).processes.map((p) => p.process), [1])
      // a later thread of the closed process's resumes on the live one
      const resumed = yield* Effect.fork(Scope.extend(codex.threadResume(b.id), scope))
      const request = yield* fake.peers[0]!.expectRequest("thread/resume")
      assert.deepStrictEqual((request.params as { readonly threadId: string }).threadId, b.id)
      yield* fake.peers[0]!.respond(request.id, Fixtures.threadStartResponse(Fixtures.thread(b.id)))
      const thread = yield* Fiber.join(resumed)
      assert.strictEqual(thread.id, b.id)
      yield* Scope.close(scope, Exit.void)
    }))

  it.live("routes thread-bound requests to the owner; a busy answer elsewhere is tried on another process", () =>
    Effect.gen(function*() {
      const fake = makeFake({
        script: (peer, index) =>
          Effect.gen(function*() {
            yield* peer.handle("model/list", () =>
              index === 1 ? Effect.fail({ code: -32001, message: "busy" }) : Effect.succeed({ data: [], nextCursor: null }))
            yield* peer.handle("thread/name/set", () => Effect.succeed({ owner: index }))
          })
      })
      const scope = yield* Scope.make()
      const { codex } = yield* build({ size: 2 }, fake, scope)
      const a = yield* Scope.extend(codex.threadStart(), scope)
      const b = yield* Scope.extend(codex.threadStart(), scope)
      assert.deepStrictEqual([a.id, b.id], ["thread-1-1", "thread-2-1"])
      // process 1 is the least loaded (ties by order): it answers -32001, process 2 answers
      assert.deepStrictEqual(yield* codex.models(), [])
      yield* codex.request("thread/name/set", { threadId: b.id, name: "x" })
      yield* codex.request("thread/name/set", { threadId: a.id, name: "y" })
      const named = (peer: MockAppServer.Peer) =>
        Effect.map(peer.history, (h) => h.filter((m) => m._tag === "Request" && m.method === "thread/name/set").map((m) => (m as { readonly params: { readonly threadId: string } }).params.threadId))
      assert.deepStrictEqual(yield* named(fake.peers[0]!), [a.id])
      assert.deepStrictEqual(yield* named(fake.peers[1]!), [b.id])
      yield* Scope.close(scope, Exit.void)
    }))
  it.effect("a full pool: threadStart fails with ServerBusyError by default, and with whenFull: \"wait\" waits for a slot (interruptibly)", () =>
    Effect.gen(function*() {
      // default: fail at once, nothing sent
      const failing = makeFake()
      const scope = yield* Scope.make()
      const busy = yield* build({ size: 1, maxThreadsPerProcess: 1 }, failing, scope)
      yield* Scope.extend(busy.codex.threadStart(), scope)
      const refused = yield* Effect.flip(Scope.extend(busy.codex.threadStart(), scope))
      assert.strictEqual(refused._tag, "ServerBusyError")
      assert.strictEqual((yield* failing.peers[0]!.history).filter((m) => m._tag === "Request" && m.method === "thread/start").length, 1)

      // wait: a second threadStart waits until the first thread's scope closes
      const fake = makeFake()
      const { codex, pool } = yield* build({ size: 1, maxThreadsPerProcess: 1, whenFull: "wait" }, fake, scope)
      const events = yield* Scope.extend(pool.subscribe, scope)
      const scopeA = yield* Scope.make()
      const a = yield* Scope.extend(codex.threadStart(), scopeA)
      const starts = () => Effect.map(fake.peers[0]!.history, (h) => h.filter((m) => m._tag === "Request" && m.method === "thread/start").length)

      // one waiter interrupted while waiting: no longer counted, never sent
      const interrupted = yield* Effect.fork(Scope.extend(codex.threadStart(), scope))
      assert.deepStrictEqual(Option.map(yield* Stream.runHead(events), (e) => e._tag), Option.some("ThreadWaiting"))
      assert.strictEqual((yield* pool.stats).threadsWaiting, 1)
      yield* Fiber.interrupt(interrupted)
      assert.strictEqual((yield* pool.stats).threadsWaiting, 0)

      const waiting = yield* Effect.fork(Scope.extend(codex.threadStart(), scope))
      yield* Stream.runHead(Stream.filter(events, (e) => e._tag === "ThreadWaiting"))
      assert.strictEqual(yield* starts(), 1)
      assert.strictEqual(Option.isNone(yield* Fiber.poll(waiting)), true)
      // a's scope closes: the slot is free, the waiter gets it on the same process
      yield* Scope.close(scopeA, Exit.void)
      const b = yield* Fiber.join(waiting)
      assert.strictEqual(a.id, "thread-1-1")
      assert.strictEqual(b.id, "thread-1-2")
      assert.strictEqual(yield* starts(), 2)
      const stats = yield* pool.stats
      assert.strictEqual(stats.threadsWaiting, 0)
      assert.strictEqual(stats.processes.length, 1)
      assert.strictEqual(stats.processes[0]!.openThreads, 1)
      yield* Scope.close(scope, Exit.void)
    }))

  it.effect("maxConcurrentTurns: a turn handle holds the permit until its turn ends; a waiting turn can be interrupted", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const scope = yield* Scope.make()
      const { codex, pool } = yield* build({ size: 1, maxConcurrentTurns: 1 }, fake, scope)
      const events = yield* Scope.extend(pool.subscribe, scope)
      const peer = fake.peers[0]!
      const a = yield* Scope.extend(codex.threadStart(), scope)
      const b = yield* Scope.extend(codex.threadStart(), scope)
      // a's turn is started (the handle holds the pool's only permit) but not completed
      const started = yield* Effect.fork(Scope.extend(a.turn("one"), scope))
      const request = yield* peer.expectRequest("turn/start")
      yield* peer.respond(request.id, { turn: Fixtures.turn("turn-a", "inProgress") })
      const handle = yield* Fiber.join(started)
      assert.strictEqual((yield* pool.stats).processes[0]!.turns, 1)

      // b waits, and is interrupted while waiting: it never reaches the server
      const waiting = yield* Effect.fork(b.run("two"))
      const first = yield* Stream.runHead(events)
      assert.deepStrictEqual(Option.map(first, (e) => e._tag), Option.some("TurnWaiting"))
      assert.strictEqual((yield* pool.stats).turnsWaiting, 1)
      yield* Fiber.interrupt(waiting)
      assert.strictEqual((yield* pool.stats).turnsWaiting, 0)

      // b again: admitted once a's turn completed
      const second = yield* Effect.fork(b.run("three"))
      yield* Stream.runHead(Stream.filter(events, (e) => e._tag === "TurnWaiting"))
      const running = yield* Effect.fork(handle.run)
      yield* peer.notify("turn/completed", { threadId: a.id, turn: Fixtures.turn("turn-a", "completed") })
      yield* Fiber.join(running)
      yield* Stream.runHead(Stream.filter(events, (e) => e._tag === "TurnAdmitted"))
      yield* Fixtures.serveTurn(peer, { threadId: b.id, turnId: "turn-b", text: "ok" })
      const result = yield* Fiber.join(second)
      assert.deepStrictEqual(result.finalResponse, Option.some("ok"))
      // exactly two turn/start on the wire: a's and the second of b's
      const starts = (yield* peer.history).filter((m) => m._tag === "Request" && m.method === "turn/start")
      assert.deepStrictEqual(starts.map((m) => (m as { readonly params: { readonly threadId: string } }).params.threadId), [a.id, b.id])
      assert.strictEqual((yield* pool.stats).processes[0]!.turns, 0)
      yield* Scope.close(scope, Exit.void)
    }))
  it.live("a lazy start that keeps dying fails that threadStart with the stderr tail; the live process goes on", () =>
    Effect.gen(function*() {
      const fake = makeFake({ dying: (build) => build > 1 })
      const scope = yield* Scope.make()
      const { codex, pool } = yield* build({ size: 2, startRetries: 1, startBackoff: "1 millis" }, fake, scope)
      const events = yield* Scope.extend(pool.subscribe, scope)
      const a = yield* Scope.extend(codex.threadStart(), scope)
      // the second thread needs a second process: two attempts, both die during initialize
      const error = yield* Effect.flip(Scope.extend(codex.threadStart(), scope))
      assert.strictEqual(error._tag, "ProcessExitedError")
      assert.deepStrictEqual((error as { readonly stderrTail: ReadonlyArray<string> }).stderrTail, ["boom 3"])
      const failures = yield* Stream.runCollect(Stream.take(Stream.filter(events, (e) => e._tag === "ProcessStartFailed"), 2))
      assert.deepStrictEqual([...failures].map((e) => e._tag === "ProcessStartFailed" && e.attempt), [1, 2])
      assert.strictEqual(fake.builds(), 3)
      const stats = yield* pool.stats
      assert.deepStrictEqual(stats.processes.map((p) => p.threads), [[a.id]])
      yield* Scope.close(scope, Exit.void)
    }))
})
