/**
 * `CodexPool`: the same `Codex` service over 3 `codex app-server` processes. 12 threads start at
 * once and spread 4/4/4; each thread's turns stay on its process. Once every turn is started, one
 * process is killed (SIGKILL): its turns fail with `ProcessExitedError`, the others finish. Its
 * threads are then resumed through the pool — on live processes, from their rollouts in the
 * shared `CODEX_HOME` — and run again. The pool's events are printed as they come.
 *
 * Offline, the FakeModel holds every first answer open until the kill, so the kill is mid-turn.
 *
 *   npx tsx --conditions=source examples/pool.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Deferred, Effect, Layer, Option, Stream } from "effect"
import { Approvals, Codex, CodexPool } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

const threadCount = 12

const describeEvent = (event: CodexPool.PoolEvent): string => {
  switch (event._tag) {
    case "ProcessStarted":
      return `process ${event.process} started (pid ${event.pid})${event.replacement ? ", a replacement" : ""}`
    case "ProcessExited":
      return `process ${event.process} (pid ${event.pid}) exited: ${event.signal ?? `code ${event.exitCode}`}, ` +
        `${event.threads.length} threads orphaned, stderr tail: ${event.stderrTail.length} lines`
    case "ProcessClosed":
      return `process ${event.process} closed (${event.reason})`
    case "ProcessStartFailed":
      return `a process failed to start (attempt ${event.attempt}): ${event.error.message}`
    case "ThreadMoved":
      return `thread …${event.threadId.slice(-8)} moved from pid ${event.fromPid} to pid ${event.toPid}`
    case "TurnWaiting":
    case "TurnAdmitted":
      return `${event._tag} …${event.threadId.slice(-8)}`
    case "ThreadWaiting":
      return "a new thread waits for a slot (the pool is full)"
    case "ThreadAdmitted":
      return "a waiting thread got a slot"
  }
}

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  const codex = yield* Codex.Codex
  const pool = yield* CodexPool.CodexPool
  const events = yield* pool.subscribe
  yield* Effect.forkScoped(Stream.runForEach(events, (e) => Console.log(`[pool] ${describeEvent(e)}`)))

  const threads = yield* Effect.forEach(Array.from({ length: threadCount }, (_, i) => i), () => codex.threadStart(), {
    concurrency: "unbounded"
  })
  const stats = yield* pool.stats
  yield* Console.log(
    `${threads.length} threads on ${stats.processes.length} processes: ` +
      stats.processes.map((p) => `pid ${p.pid} has ${p.threads.length}`).join(", ")
  )

  // every turn started (on the server, and offline: its model request stalled) before the kill
  const before = (yield* backend.requests).length
  const handles = yield* Effect.forEach(threads, (thread, i) => thread.turn(`Task ${i}: say done.`), { concurrency: "unbounded" })
  if (backend.fake !== undefined) yield* backend.fake.awaitRequests(before + threadCount)
  const victim = (yield* pool.stats).processes[1]!
  yield* Console.log(`${handles.length} turns in flight; killing pid ${victim.pid} (${victim.threads.length} threads)`)
  const exited = yield* Deferred.make<void>()
  yield* Effect.forkScoped(
    Stream.runForEach(yield* pool.subscribe, (e) => e._tag === "ProcessExited" ? Deferred.succeed(exited, undefined) : Effect.void)
  )
  process.kill(victim.pid!, "SIGKILL")
  yield* Deferred.await(exited)
  if (backend.fake !== undefined) yield* backend.fake.releaseStalls

  const outcomes = yield* Effect.forEach(handles, (handle) => Effect.either(handle.run), { concurrency: "unbounded" })
  const failed = threads.filter((_, i) => outcomes[i]!._tag === "Left")
  for (const [i, outcome] of outcomes.entries()) {
    if (outcome._tag === "Left") yield* Console.log(`thread ${i}: ${outcome.left._tag}`)
  }
  yield* Console.log(`${outcomes.length - failed.length} turns completed, ${failed.length} failed with the process`)

  // the killed process's threads, resumed through the pool
  const again = yield* Effect.forEach(failed, (thread) =>
    Effect.flatMap(codex.threadResume(thread.id), (resumed) => resumed.run("Say done again.")), { concurrency: "unbounded" })
  for (const result of again) yield* Console.log(`resumed: ${Option.getOrElse(result.finalResponse, () => "(no answer)")}`)
  const after = yield* pool.stats
  yield* Console.log(
    `after: ${after.processes.length} processes (${after.exits} exited, ${after.restarts} restarted): ` +
      after.processes.map((p) => `pid ${p.pid} has ${p.threads.length}`).join(", ")
  )
  yield* Console.log(`${outcomes.length - failed.length + again.length} answers`)
}).pipe(Effect.scoped)

const PoolLive = Layer.unwrapEffect(Effect.map(Backend.Backend, (backend) => CodexPool.layer({ size: 3, config: backend.config }))).pipe(
  Layer.provide(Approvals.declineAll),
  Layer.provideMerge(
    Backend.layer({
      fakeModel: {
        respond: (request) => {
          const text = FakeModel.lastUserText(request) ?? ""
          return text.startsWith("Task") ? FakeModel.stall(FakeModel.text("done.")) : FakeModel.text("done again.")
        }
      }
    })
  )
)

program.pipe(Effect.provide(PoolLive), NodeRuntime.runMain)
