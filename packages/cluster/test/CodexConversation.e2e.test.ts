import { assert, describe, it } from "@effect/vitest"
import * as Sharding from "@effect/cluster/Sharding"
import * as Snowflake from "@effect/cluster/Snowflake"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { FakeModel } from "@effect-codex/testing"
import { CodexCluster, ConversationStore } from "../src/index.js"

// The entity's contract with one runner and its client in one process (`layerSingle`, SQLite in
// a temp file), over a CodexPool of the real binary and a FakeModel on 127.0.0.1. Text starting
// with "stall" stalls until released; anything else is answered "re: <text>". Every wait is for
// an answer or an event; timeouts are guards only.

const fakeModel = FakeModel.make({
  respond: (request) => {
    const text = FakeModel.lastUserText(request) ?? ""
    return text.startsWith("stall") ? FakeModel.stall(FakeModel.text(`re: ${text}`)) : FakeModel.text(`re: ${text}`)
  }
})

const tempDb = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-cluster-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => Path.join(dir, "cluster.db")))

/** Builds a single-process cluster in `scope` and returns its client and its Sharding. */
const startSingle = (
  fake: FakeModel.FakeModel.Service,
  filename: string,
  scope: Scope.Scope,
  options: {
    readonly maxIdleTime?: Duration.DurationInput
    readonly writerLockWait?: Duration.DurationInput
    readonly release?: "unsubscribe" | "archive"
  } = {}
) =>
  Layer.buildWithScope(
    CodexCluster.layerSingle({ pool: { size: 1, config: fake.config }, storage: CodexCluster.sqlite(filename), ...options }),
    scope
  ).pipe(Effect.map((context) => ({
    cluster: Context.get(context, CodexCluster.CodexCluster),
    sharding: Context.get(context, Sharding.Sharding),
    sql: Context.get(context, SqlClient.SqlClient)
  })))

const text = (r: { readonly finalResponse: Option.Option<string> }) => Option.getOrNull(r.finalResponse)

/** Polls `check` every 100 ms until `done` holds; fails with `what` after 30 s (a guard). */
const pollUntil = <A, E, R>(check: Effect.Effect<A, E, R>, done: (a: A) => boolean, what: string) =>
  check.pipe(
    Effect.repeat({ schedule: Schedule.spaced(Duration.millis(100)), until: done }),
    Effect.timeoutFail({ duration: Duration.seconds(30), onTimeout: () => new Error(what) })
  )

/** Records in a runner's storage that the conversation is `threadId`, as another runner that opened it would have. */
const storeThread = (sql: SqlClient.SqlClient, conversationId: string, threadId: string) =>
  ConversationStore.make.pipe(
    Effect.provideService(SqlClient.SqlClient, sql),
    Effect.flatMap((store) => store.save(conversationId, threadId, "elsewhere"))
  )

describe("CodexConversation (one runner, real binary)", () => {
  it.scopedLive("runs turns on one thread per conversation id, streams a turn, and lists where each conversation is", () =>
    Effect.gen(function*() {
      const fake = yield* fakeModel
      const db = yield* tempDb
      const { cluster } = yield* startSingle(fake, db, yield* Effect.scope)
      const review = cluster.conversation("review:pr-1")
      const first = yield* review.run("hello")
      assert.strictEqual(text(first), "re: hello")
      assert.strictEqual(first.conversationId, "review:pr-1")
      assert.strictEqual(first.turn.status, "completed")
      const second = yield* review.run("again")
      assert.strictEqual(text(second), "re: again")
      assert.strictEqual(second.threadId, first.threadId)

      const other = yield* cluster.conversation("eval:task-7").run("task")
      assert.notStrictEqual(other.threadId, first.threadId)

      // a streamed turn: typed notifications, ending after turn/completed
      const events = yield* Stream.runCollect(review.stream("streamed"))
      const methods = Array.from(events, (n) => n.method)
      assert.strictEqual(methods[methods.length - 1], "turn/completed")
      const deltas = Array.from(events).flatMap((n) => n.method === "item/agentMessage/delta" ? [n.params.delta] : []).join("")
      assert.strictEqual(deltas, "re: streamed")

      const thread = yield* review.read()
      assert.strictEqual(thread.id, first.threadId)
      assert.strictEqual(thread.turns.length, 3)
      yield* review.setName("PR 1")
      assert.strictEqual((yield* review.read({ includeTurns: false })).name, "PR 1")

      const stored = yield* cluster.conversations
      assert.deepStrictEqual(stored.map((c) => [c.conversationId, c.threadId]), [
        ["eval:task-7", other.threadId],
        ["review:pr-1", first.threadId]
      ])
      assert.strictEqual(stored[0]!.runner, first.runner)
    }), { timeout: 120_000 })

  it.scopedLive("steers and interrupts the running turn, refuses a second turn, and refuses everything once archived", () =>
    Effect.gen(function*() {
      const fake = yield* fakeModel
      const db = yield* tempDb
      const { cluster } = yield* startSingle(fake, db, yield* Effect.scope)
      const c = cluster.conversation("steer:1")
      const noTurn = yield* Effect.flip(c.steer("nothing runs"))
      assert.strictEqual(noTurn._tag, "ConversationError")
      assert.strictEqual((noTurn as { reason: string }).reason, "NoActiveTurn")
      assert.isFalse(yield* c.interrupt)

      yield* c.run("warm up")
      const running = yield* Effect.fork(c.run("stall please"))
      yield* fake.awaitRequests(2)
      const busy = yield* Effect.flip(c.run("second"))
      assert.strictEqual((busy as { reason: string }).reason, "TurnBusyError")
      yield* c.steer("and also this")
      assert.isTrue(yield* c.interrupt)
      const interrupted = yield* Fiber.join(running)
      assert.strictEqual(interrupted.turn.status, "interrupted")

      yield* c.archive
      const archived = yield* Effect.flip(c.run("after archive"))
      assert.strictEqual((archived as { reason: string }).reason, "ConversationArchived")
    }), { timeout: 120_000 })

  it.scopedLive("a conversation outlives its runner: a new runner over the same storage and CODEX_HOME resumes its thread", () =>
    Effect.gen(function*() {
      const fake = yield* fakeModel
      const db = yield* tempDb
      const firstScope = yield* Scope.make()
      const before = yield* startSingle(fake, db, firstScope)
      const one = yield* before.cluster.conversation("survivor").run("one")
      yield* Scope.close(firstScope, Exit.void)

      const after = yield* startSingle(fake, db, yield* Effect.scope)
      const two = yield* after.cluster.conversation("survivor").run("two")
      assert.strictEqual(two.threadId, one.threadId)
      assert.strictEqual(text(two), "re: two")
      const thread = yield* after.cluster.conversation("survivor").read()
      assert.deepStrictEqual(thread.turns.length, 2)
      // the model saw the first turn again in the second one's history
      const requests = yield* fake.requests
      assert.include(JSON.stringify(requests[requests.length - 1]), "re: one")
    }), { timeout: 120_000 })

  it.scopedLive("an idle conversation stops after maxIdleTime (releasing its thread) and resumes it on the next request", () =>
    Effect.gen(function*() {
      const fake = yield* fakeModel
      const db = yield* tempDb
      const { cluster, sharding } = yield* startSingle(fake, db, yield* Effect.scope, { maxIdleTime: Duration.seconds(1) })
      const c = cluster.conversation("idle:1")
      const one = yield* c.run("one")
      const opened = (yield* cluster.conversations)[0]!.updatedAt
      assert.strictEqual(yield* sharding.activeEntityCount, 1)
      // waits (bounded) for the instance to idle out
      yield* pollUntil(sharding.activeEntityCount, (n) => n === 0, "the conversation never idled out")
      const two = yield* c.run("two")
      assert.strictEqual(two.threadId, one.threadId)
      assert.isAbove((yield* cluster.conversations)[0]!.updatedAt, opened)
      assert.strictEqual((yield* c.read()).turns.length, 2)
    }), { timeout: 120_000 })

  it.scopedLive("a Run delivered again after it completed (its reply lost, its runner gone) gets its stored answer, not a second turn", () =>
    Effect.gen(function*() {
      const fake = yield* fakeModel
      const db = yield* tempDb
      const firstScope = yield* Scope.make()
      const before = yield* startSingle(fake, db, firstScope)
      const first = yield* before.cluster.conversation("again:1").run("only once")
      const requestsBefore = (yield* fake.requests).length
      // (as text: a snowflake does not fit a JavaScript number)
      const [message] = yield* before.sql<{ readonly request_id: string }>`
        SELECT CAST(request_id AS TEXT) AS request_id FROM cluster_messages WHERE entity_id = ${"again:1"} AND tag = ${"Run"}`
      assert.isDefined(message)
      const requestId = String(message!.request_id)
      // what a runner lost before its reply was stored leaves: the request unprocessed, no reply
      assert.isTrue(yield* before.sharding.reset(Snowflake.Snowflake(BigInt(requestId))))
      yield* Scope.close(firstScope, Exit.void)

      // the next runner delivers the request again, to a new instance of the conversation
      const after = yield* startSingle(fake, db, yield* Effect.scope)
      yield* pollUntil(
        after.sql<{ readonly processed: number | boolean }>`SELECT processed FROM cluster_messages WHERE request_id = ${requestId}`,
        ([row]) => Number(row?.processed) === 1,
        "the request was never delivered again"
      )
      const [reply] = yield* after.sql<{ readonly payload: string }>`
        SELECT payload FROM cluster_replies WHERE request_id = ${requestId}`
      assert.include(reply!.payload, "re: only once")
      assert.strictEqual((yield* fake.requests).length, requestsBefore, "the model was asked again")
      const thread = yield* after.cluster.conversation("again:1").read()
      assert.strictEqual(thread.id, first.threadId)
      assert.strictEqual(thread.turns.length, 1)
    }), { timeout: 120_000 })

  it.scopedLive("runs with one idempotency key make one turn: a later one gets its result, one sent while it runs waits for it", () =>
    Effect.gen(function*() {
      const fake = yield* fakeModel
      const { cluster } = yield* startSingle(fake, yield* tempDb, yield* Effect.scope)
      const c = cluster.conversation("keyed:1")
      const requestsBefore = (yield* fake.requests).length
      // the first stalls in the model; the second (queued, same key) is sent while it runs
      const first = yield* Effect.fork(c.run("stall keyed", { idempotencyKey: "k1", turn: { queue: true } }))
      yield* pollUntil(fake.stalled, (n) => n === 1, "the first turn never reached the model")
      const second = yield* Effect.fork(c.run("stall keyed", { idempotencyKey: "k1", turn: { queue: true } }))
      yield* fake.releaseStalls
      const [a, b] = yield* Effect.all([Fiber.join(first), Fiber.join(second)])
      const later = yield* c.run("stall keyed", { idempotencyKey: "k1" })
      assert.strictEqual(text(a), "re: stall keyed")
      assert.deepStrictEqual(b.turn.id, a.turn.id)
      assert.deepStrictEqual(later.turn.id, a.turn.id)
      assert.strictEqual((yield* fake.requests).length - requestsBefore, 1)
      // another key is another turn
      const other = yield* c.run("other", { idempotencyKey: "k2" })
      assert.notStrictEqual(other.turn.id, a.turn.id)
      assert.strictEqual((yield* c.read()).turns.length, 2)
    }), { timeout: 120_000 })

  it.scopedLive("a thread another live process still has loaded: the resume waits writerLockWait, then WriterLockHeld", () =>
    Effect.gen(function*() {
      const fake = yield* fakeModel
      // two runners on one CODEX_HOME, each with its storage, both knowing the conversation's thread:
      // what a conversation moved between two live runners meets
      const holder = yield* startSingle(fake, yield* tempDb, yield* Effect.scope)
      const first = yield* holder.cluster.conversation("locked:1").run("one")
      const other = yield* startSingle(fake, yield* tempDb, yield* Effect.scope, { writerLockWait: Duration.seconds(1) })
      yield* storeThread(other.sql, "locked:1", first.threadId)
      const error = yield* Effect.flip(other.cluster.conversation("locked:1").run("two"))
      assert.strictEqual(error._tag, "ConversationError")
      assert.strictEqual((error as { reason?: string }).reason, "WriterLockHeld")
      assert.include(error.message, "already has an active writer")
      assert.strictEqual((error as { threadId?: string }).threadId, first.threadId)
      // the holder goes on
      assert.strictEqual(text(yield* holder.cluster.conversation("locked:1").run("three")), "re: three")
    }), { timeout: 120_000 })

  it.scopedLive("a conversation moved between two live runners resumes once codex unloads the thread the old one released (~60 s)", () =>
    Effect.gen(function*() {
      const fake = yield* fakeModel
      const old = yield* startSingle(fake, yield* tempDb, yield* Effect.scope, { maxIdleTime: Duration.seconds(1) })
      const first = yield* old.cluster.conversation("moved:1").run("one")
      // the old runner's instance stops (idle) and unsubscribes: what a moved shard does
      yield* pollUntil(old.sharding.activeEntityCount, (n) => n === 0, "the conversation never stopped")
      const released = Date.now()
      const next = yield* startSingle(fake, yield* tempDb, yield* Effect.scope)
      yield* storeThread(next.sql, "moved:1", first.threadId)
      const two = yield* next.cluster.conversation("moved:1").run("two")
      const waited = Date.now() - released
      assert.strictEqual(two.threadId, first.threadId)
      assert.strictEqual(text(two), "re: two")
      assert.strictEqual((yield* next.cluster.conversation("moved:1").read()).turns.length, 2)
      console.log(`moved between live runners: resumed ${waited} ms after the old instance released the thread`)
    }), { timeout: 180_000 })

  it.scopedLive("release: \"archive\" hands a thread over between two live runners at once (archive, then unarchive and resume)", () =>
    Effect.gen(function*() {
      const fake = yield* fakeModel
      const old = yield* startSingle(fake, yield* tempDb, yield* Effect.scope, { maxIdleTime: Duration.seconds(1), release: "archive" })
      const first = yield* old.cluster.conversation("handed:1").run("one")
      yield* pollUntil(old.sharding.activeEntityCount, (n) => n === 0, "the conversation never stopped")
      const released = Date.now()
      // a short lock wait: only an immediate hand-over passes
      const next = yield* startSingle(fake, yield* tempDb, yield* Effect.scope, { writerLockWait: Duration.seconds(5), release: "archive" })
      yield* storeThread(next.sql, "handed:1", first.threadId)
      const two = yield* next.cluster.conversation("handed:1").run("two")
      const waited = Date.now() - released
      assert.strictEqual(two.threadId, first.threadId)
      assert.strictEqual(text(two), "re: two")
      const thread = yield* next.cluster.conversation("handed:1").read()
      assert.strictEqual(thread.turns.length, 2)
      console.log(`handed over by archive: resumed ${waited} ms after the old instance released the thread`)
    }), { timeout: 120_000 })
})
