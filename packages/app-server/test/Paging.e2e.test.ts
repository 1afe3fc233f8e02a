import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { FakeModel } from "@effect-codex/testing"
import * as ApprovalMode from "../src/ApprovalMode.js"
import * as Approvals from "../src/Approvals.js"
import * as Codex from "../src/Codex.js"
import * as Sandbox from "../src/Sandbox.js"

// Paging, includeTurns and the presets on the real binary against a FakeModel on 127.0.0.1 that
// answers every model request with a short text. Every wait is for an event; the timeout is a guard.

const withCodex = <A, E>(body: (codex: Codex.Codex.Service, fake: FakeModel.FakeModel.Service) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.gen(function*() {
    const fake = yield* FakeModel.make({ respond: () => FakeModel.text("ok") })
    const context = yield* Layer.build(Codex.layer(fake.config).pipe(Layer.provide(Approvals.declineAll)))
    return yield* body(Context.get(context, Codex.Codex), fake)
  }).pipe(Effect.scoped, Effect.timeout("90 seconds"))

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

describe("paging (real binary)", { timeout: 120_000 }, () => {
  it.live("codex.threads walks every page of thread/list; thread.turns every page of thread/turns/list, in both orders", () =>
    withCodex((codex) =>
      Effect.gen(function*() {
        // thread/list only lists threads that have a turn
        const started: Array<string> = []
        for (let i = 0; i < 5; i++) {
          const thread = yield* codex.threadStart()
          yield* thread.run(`thread ${i}`)
          started.push(thread.id)
        }
        const firstPage = yield* codex.threadList({ limit: 2 })
        assert.strictEqual(firstPage.data.length, 2)
        assert.isString(firstPage.nextCursor, "a page size of 2 leaves more pages")
        const listed = yield* collect(codex.threads({ limit: 2 }))
        assert.deepStrictEqual([...listed.map((t) => t.id)].sort(), [...started].sort())
        const oneCall = yield* codex.threadList({ limit: 50 })
        assert.deepStrictEqual(listed.map((t) => t.id), oneCall.data.map((t) => t.id), "the same order as one big page")

        const thread = yield* codex.threadStart()
        const turnIds: Array<string> = []
        for (let i = 0; i < 3; i++) turnIds.push((yield* thread.run(`turn ${i}`)).turn.id)
        const newest = yield* collect(thread.turns({ pageSize: 1 }))
        assert.deepStrictEqual(newest.map((t) => t.id), [...turnIds].reverse())
        const oldest = yield* collect(thread.turns({ pageSize: 2, order: "oldestFirst", itemsView: "full" }))
        assert.deepStrictEqual(oldest.map((t) => t.id), turnIds)
        assert.isTrue(oldest.every((t) => t.status === "completed" && t.items.some((item) => item.type === "agentMessage")))
        // taking two turns reads no more pages than needed, and the stream ends
        assert.strictEqual((yield* collect(Stream.take(thread.turns({ pageSize: 1 }), 2))).length, 2)
      })
    ))

  it.live("includeTurns: false on threadResume / threadFork returns the thread without its turns", () =>
    withCodex((codex) =>
      Effect.gen(function*() {
        const thread = yield* codex.threadStart()
        yield* thread.run("one")
        yield* thread.run("two")
        const full = yield* codex.threadResume(thread.id)
        assert.strictEqual(full.info.turns.length, 2)
        const bare = yield* codex.threadResume(thread.id, { includeTurns: false })
        assert.strictEqual(bare.info.turns.length, 0)
        assert.strictEqual((yield* collect(bare.turns())).length, 2, "the turns are still there, page by page")
        const fork = yield* codex.threadFork(thread.id, { includeTurns: false })
        assert.strictEqual(fork.info.turns.length, 0)
        const fullFork = yield* codex.threadFork(thread.id, { includeTurns: true })
        assert.strictEqual(fullFork.info.turns.length, 2)
      })
    ))
})

describe("presets (real binary)", { timeout: 120_000 }, () => {
  it.live("each Sandbox and ApprovalMode preset is accepted by thread/start, which echoes it back, and by turn/start", () =>
    withCodex((codex, fake) =>
      Effect.gen(function*() {
        const cases = [
          { sandbox: Sandbox.readOnly, approvals: ApprovalMode.denyAll, echo: { type: "readOnly", networkAccess: false } },
          {
            sandbox: Sandbox.workspaceWrite({ networkAccess: true, writableRoots: [fake.codexHome] }),
            approvals: ApprovalMode.autoReview,
            echo: { type: "workspaceWrite", writableRoots: [fake.codexHome], networkAccess: true, excludeTmpdirEnvVar: false, excludeSlashTmp: false }
          },
          {
            sandbox: Sandbox.workspaceWrite(),
            approvals: ApprovalMode.askUser,
            echo: { type: "workspaceWrite", writableRoots: [], networkAccess: false, excludeTmpdirEnvVar: false, excludeSlashTmp: false }
          },
          { sandbox: Sandbox.fullAccess, approvals: ApprovalMode.dangerouslyBypassApprovalsAndSandbox, echo: { type: "dangerFullAccess" } }
        ] as const
        for (const { approvals, echo, sandbox } of cases) {
          const thread = yield* codex.threadStart({ ...approvals, sandbox })
          assert.deepStrictEqual(thread.settings.sandbox, echo, `thread/start with ${JSON.stringify(sandbox)}`)
          assert.strictEqual(thread.settings.approvalPolicy, approvals.approvalPolicy)
          assert.strictEqual(thread.settings.approvalsReviewer, approvals.approvalsReviewer)
          // the same presets as turn options
          const result = yield* thread.run("hi", { ...approvals, sandboxPolicy: sandbox })
          assert.strictEqual(result.turn.status, "completed")
        }
        // a preset on fork
        const source = yield* codex.threadStart()
        yield* source.run("hello")
        const forked = yield* codex.threadFork(source.id, { ...ApprovalMode.autoReview, sandbox: Sandbox.fullAccess })
        assert.deepStrictEqual(forked.settings.sandbox, { type: "dangerFullAccess" })
        assert.strictEqual(forked.settings.approvalsReviewer, "auto_review")
      })
    ))

  it.live("a preset on threadResume applies in a new process; a resume of a thread still loaded keeps its settings", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make({ respond: () => FakeModel.text("ok") })
      const start = Layer.build(Codex.layer(fake.config).pipe(Layer.provide(Approvals.declineAll))).pipe(Effect.map(Context.get(Codex.Codex)))
      const threadId = yield* Effect.scoped(Effect.gen(function*() {
        const codex = yield* start
        const thread = yield* codex.threadStart()
        yield* thread.run("hello")
        const again = yield* codex.threadResume(thread.id, { ...ApprovalMode.autoReview, sandbox: Sandbox.fullAccess })
        assert.deepStrictEqual(again.settings.sandbox, { type: "readOnly", networkAccess: false })
        assert.strictEqual(again.settings.approvalsReviewer, "user")
        return thread.id
      }))
      const codex = yield* start
      const resumed = yield* codex.threadResume(threadId, { ...ApprovalMode.autoReview, sandbox: Sandbox.fullAccess })
      assert.deepStrictEqual(resumed.settings.sandbox, { type: "dangerFullAccess" })
      assert.strictEqual(resumed.settings.approvalsReviewer, "auto_review")
      assert.strictEqual((yield* resumed.run("again", { ...ApprovalMode.denyAll, sandboxPolicy: Sandbox.readOnly })).turn.status, "completed")
    }).pipe(Effect.scoped, Effect.timeout("90 seconds")))
})
