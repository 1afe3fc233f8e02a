/**
 * `npm run cluster:demo`: Codex conversations on a cluster of two runner processes on this
 * machine, one of which is killed mid-run.
 *
 * - Two runners (examples/cluster/runner.ts, each a `CodexPool` of 2 app-servers) share one SQLite
 *   file and one `CODEX_HOME`; this process is a client (`CodexCluster.layerClient`).
 * - 20 conversations run a first turn each; the cluster spreads them over both runners.
 * - All 20 then start a second turn, and while those run, runner A is killed with SIGKILL. The
 *   conversations it had are created again on runner B, which resumes their threads from the
 *   shared rollouts; their second turns (persisted messages) are delivered again there.
 * - It prints where each conversation ran, how long after the kill it answered, and its history.
 *
 * Offline (the default without credentials), a FakeModel holds every second turn open until the
 * kill, so the kill is mid-turn. With the real model, runner A is killed a second after the second
 * turns start.
 *
 *   npm run cluster:demo            (or: node --conditions=source --import tsx examples/cluster/demo.ts)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Context, Effect, Fiber, Layer, Option, Schedule } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { CodexCluster } from "@effect-codex/cluster"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "../backend.js"
import * as Runners from "./runners.js"

const conversations = Array.from({ length: 20 }, (_, i) => `conversation-${String(i).padStart(2, "0")}`)
/** Starts a runner process (stopped with the scope) and says where it listens. */
const startRunner = (name: string, storage: Runners.Storage, config: object) =>
  Runners.start(name, storage, config).pipe(
    Effect.tap((runner) => Console.log(`runner ${name}: pid ${runner.child.pid}, listening on ${runner.address}`))
  )

const program = Effect.gen(function*() {
  const backend = yield* Backend.make({
    fakeModel: {
      respond: (request) => {
        const text = FakeModel.lastUserText(request) ?? ""
        const reply = FakeModel.text(`done: ${text}`)
        return text.startsWith("second") ? FakeModel.stall(reply) : reply
      }
    }
  })
  yield* Console.log(`mode: ${backend.description}`)
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-cluster-demo-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )
  const storage = { sqlite: Path.join(dir, "cluster.db") }
  const config = { cwd: backend.workspace, ...(backend.config.codexHome === undefined ? {} : { codexHome: backend.config.codexHome }) }
  const [a, b] = yield* Effect.all([startRunner("A", storage, config), startRunner("B", storage, config)], { concurrency: 2 })
  // a conversation must not move between two live runners (see runners.ts): let the shards settle
  yield* Console.log(`shards settled: ${yield* Runners.settled([a, b])}`)
  const nameOf = (address: string) => address === a.address ? "A" : address === b.address ? "B" : address
  const client = yield* Layer.build(CodexCluster.layerClient({ storage: CodexCluster.sqlite(storage.sqlite) }))
  const cluster = Context.get(client, CodexCluster.CodexCluster)

  yield* Console.log(`\nfirst turn of ${conversations.length} conversations…`)
  const first = yield* Effect.forEach(conversations, (id) => cluster.conversation(id).run(`first turn of ${id}`), { concurrency: 10 })
  const count = (name: string) => first.filter((r) => nameOf(r.runner) === name).length
  yield* Console.log(`spread: ${count("A")} on runner A, ${count("B")} on runner B`)

  yield* Console.log(`\nsecond turn of every conversation, and runner A (pid ${a.child.pid}) killed while they run…`)
  let killedAt = 0
  const answered = new Map<string, number>()
  const second = yield* Effect.forEach(
    conversations,
    (id) => cluster.conversation(id).run(`second turn of ${id}`).pipe(Effect.tap(() => answered.set(id, Date.now() - killedAt))),
    { concurrency: "unbounded" }
  ).pipe(Effect.fork)
  if (backend.fake !== undefined) {
    const fake = backend.fake
    // every second turn is held open by the fake model: wait until all 20 are, then kill
    yield* fake.stalled.pipe(Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: (n) => n >= conversations.length }))
  } else {
    yield* Effect.sleep("1 second")
  }
  killedAt = Date.now()
  a.child.kill("SIGKILL")
  yield* Console.log(`runner A killed (SIGKILL)`)
  if (backend.fake !== undefined) {
    const fake = backend.fake
    // A's app-servers exit a moment after A (parent-death signal): until their held turns' streams
    // have closed, a released answer could still complete a turn there
    yield* fake.stalled.pipe(
      Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (n) => n <= conversations.length - count("A") }),
      Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("runner A's app-servers did not exit") })
    )
    // from now on, let every held turn answer (those moved to B are held again when they restart)
    yield* fake.releaseStalls.pipe(Effect.repeat(Schedule.spaced("100 millis")), Effect.forkScoped)
  }
  const results = yield* Fiber.join(second)

  yield* Console.log(`\nwhere each conversation ran:`)
  for (const [i, id] of conversations.entries()) {
    const history = yield* cluster.conversation(id).read()
    const completed = history.turns.filter((t) => t.status === "completed").length
    const cut = history.turns.length - completed
    yield* Console.log(
      `  ${id}: turn 1 on ${nameOf(first[i]!.runner)}, turn 2 on ${nameOf(results[i]!.runner)}` +
        `${nameOf(first[i]!.runner) !== nameOf(results[i]!.runner) ? " (moved)" : ""}, answered ${answered.get(id)} ms after the kill; ` +
        `thread …${results[i]!.threadId.slice(-8)} (${first[i]!.threadId === results[i]!.threadId ? "same thread" : "a NEW thread"}): ` +
        `${completed} completed turns${cut > 0 ? `, ${cut} cut short by the kill` : ""}; last answer "${Option.getOrElse(results[i]!.finalResponse, () => "")}"`
    )
  }
  const moved = conversations.filter((_, i) => nameOf(first[i]!.runner) === "A")
  yield* Console.log(
    `\n${moved.length} conversations moved from A to B; the last answered ${Math.max(0, ...moved.map((id) => answered.get(id) ?? 0))} ms after the kill.`
  )
})

NodeRuntime.runMain(Effect.scoped(program))
