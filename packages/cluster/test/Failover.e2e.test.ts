import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { FakeModel } from "@effect-codex/testing"
import { CodexCluster } from "../src/index.js"
import * as Runners from "../../../examples/cluster/runners.js"
import * as Postgres from "./support/Postgres.js"

// Two runner processes (examples/cluster/runner.ts, each a CodexPool of 2 real app-servers)
// share one storage and one CODEX_HOME; the test process is a client. The shards settle over
// both runners before the first turns. 20 conversations spread
// over both runners; one runner is SIGKILLed; every conversation must answer its next `run`, from
// the survivor, with its first turn still in `read`. The time from the kill to the last answer is
// printed (the failover figure). Every wait is for an answer or a line; timeouts are guards.

const conversations = Array.from({ length: 20 }, (_, i) => `conv-${i}`)

const fakeModel = FakeModel.make({
  respond: (request) => FakeModel.text(`re: ${FakeModel.lastUserText(request) ?? ""}`)
})

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-failover-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const failover = (storage: { readonly sqlite?: string; readonly postgres?: string }, clientStorage: CodexCluster.Storage) =>
  Effect.gen(function*() {
    const fake = yield* fakeModel
    const a = yield* Runners.start("A", storage, fake.config)
    const b = yield* Runners.start("B", storage, fake.config)
    // no conversation may move between the two live runners (see examples/cluster/runners.ts)
    console.log(`shards settled: ${yield* Runners.settled([a, b])}`)
    const context = yield* Layer.build(CodexCluster.layerClient({ storage: clientStorage }))
    const cluster = Context.get(context, CodexCluster.CodexCluster)

    const first = yield* Effect.forEach(conversations, (id) => cluster.conversation(id).run(`first ${id}`), { concurrency: 10 })
    for (const [i, r] of first.entries()) assert.strictEqual(Option.getOrNull(r.finalResponse), `re: first ${conversations[i]}`)
    const onA = first.filter((r) => r.runner === a.address).map((r) => r.conversationId)
    const onB = first.filter((r) => r.runner === b.address).map((r) => r.conversationId)
    assert.strictEqual(onA.length + onB.length, conversations.length, `runners seen: ${first.map((r) => r.runner).join(", ")}`)
    assert.isAbove(onA.length, 0, "no conversation ran on runner A")
    assert.isAbove(onB.length, 0, "no conversation ran on runner B")

    const killedAt = Date.now()
    a.child.kill("SIGKILL")
    yield* Runners.exited(a.child)
    const answeredAfter = new Map<string, number>()
    const second = yield* Effect.forEach(
      conversations,
      (id) =>
        cluster.conversation(id).run(`second ${id}`).pipe(
          Effect.tap(() => Effect.sync(() => answeredAfter.set(id, Date.now() - killedAt)))
        ),
      { concurrency: "unbounded" }
    ).pipe(Effect.timeoutFail({ duration: Duration.seconds(120), onTimeout: () => new Error(`no failover within 120 s: ${b.stderr()}`) }))
    for (const [i, r] of second.entries()) {
      assert.strictEqual(Option.getOrNull(r.finalResponse), `re: second ${conversations[i]}`)
      assert.strictEqual(r.runner, b.address)
      assert.strictEqual(r.threadId, first[i]!.threadId)
    }
    const reads = yield* Effect.forEach(conversations, (id) => cluster.conversation(id).read(), { concurrency: 10 })
    // both turns completed (a turn cut short by a moving shard would be there too, interrupted, and run again)
    for (const [i, thread] of reads.entries()) {
      const turns = thread.turns.map((t) => `${t.status}: ${t.items.map((item) => item.type === "userMessage" ? JSON.stringify(item.content) : item.type).join(" ")}`)
      assert.strictEqual(thread.turns.filter((t) => t.status === "completed").length, 2, `${conversations[i]}:\n${turns.join("\n")}`)
    }

    const moved = Math.max(...onA.map((id) => answeredAfter.get(id)!))
    const stayed = Math.max(...onB.map((id) => answeredAfter.get(id)!))
    console.log(
      `failover (${Object.keys(storage)[0]}): ${onA.length} conversations moved from the killed runner, the last answered ${moved} ms after the kill; ` +
        `the ${onB.length} on the survivor answered within ${stayed} ms`
    )
  })

describe("two runner processes (real binary)", () => {
  it.scopedLive("SQLite: a runner SIGKILLed, its conversations answer their next run from the other runner, history intact", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = Path.join(dir, "cluster.db")
      yield* failover({ sqlite: filename }, CodexCluster.sqlite(filename))
    }), { timeout: 300_000 })

  it.scopedLive("PostgreSQL: the same, against a throwaway server on 127.0.0.1", () =>
    Effect.gen(function*() {
      const pg = yield* Postgres.server
      yield* failover({ postgres: pg.url }, CodexCluster.postgres(pg.url))
    }), { timeout: 300_000 })
})
