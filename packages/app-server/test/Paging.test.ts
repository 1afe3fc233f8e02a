import * as Fixtures from "@effect-codex/testing/Fixtures"
import * as MockAppServer from "@effect-codex/testing/MockAppServer"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ApprovalMode from "../src/ApprovalMode.js"
import * as Codex from "../src/Codex.js"
import { InvalidRequestError } from "../src/CodexError.js"
import * as Sandbox from "../src/Sandbox.js"
import * as Transport from "../src/Transport.js"

// Paging as Streams, includeTurns and the presets, on a scripted app-server.

const setup = Effect.gen(function*() {
  const { peer, transport } = yield* MockAppServer.make()
  const context = yield* Layer.build(Codex.layerTransport().pipe(Layer.provide(Layer.succeed(Transport.Transport, transport))))
  const codex = yield* Effect.provide(Codex.Codex, context)
  return { peer, codex }
})

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

describe("paging", () => {
  it.scoped("codex.threads: every page of thread/list, in order, each asked for with the previous page's cursor", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* setup
      const all = yield* Effect.fork(collect(codex.threads({ limit: 2, archived: false })))
      const pages = [
        { ids: ["t1", "t2"], next: "c1" },
        { ids: ["t3", "t4"], next: "c2" },
        { ids: ["t5"], next: null }
      ]
      const asked: Array<unknown> = []
      for (const page of pages) {
        const request = yield* peer.expectRequest("thread/list")
        asked.push(request.params)
        yield* peer.respond(request.id, { data: page.ids.map((id) => Fixtures.thread(id)), nextCursor: page.next, backwardsCursor: null })
      }
      const threads = yield* Fiber.join(all)
      assert.deepStrictEqual(threads.map((t) => t.id), ["t1", "t2", "t3", "t4", "t5"])
      assert.deepStrictEqual(asked, [
        { limit: 2, archived: false },
        { limit: 2, archived: false, cursor: "c1" },
        { limit: 2, archived: false, cursor: "c2" }
      ])
    }))

  it.scoped("pages are asked for only as the stream needs them", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* setup
      const first = yield* Effect.fork(collect(Stream.take(codex.threads({ limit: 2 }), 2)))
      const request = yield* peer.expectRequest("thread/list")
      yield* peer.respond(request.id, { data: [Fixtures.thread("t1"), Fixtures.thread("t2")], nextCursor: "c1" })
      assert.deepStrictEqual((yield* Fiber.join(first)).map((t) => t.id), ["t1", "t2"])
      const asked = (yield* peer.history).filter((m) => m._tag === "Request" && m.method === "thread/list")
      assert.strictEqual(asked.length, 1)
    }))

  it.scoped("an error on a later page fails the stream, after the threads before it", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* setup
      const seen: Array<string> = []
      const all = yield* Effect.fork(
        codex.threads({ limit: 1 }).pipe(Stream.runForEach((t) => Effect.sync(() => seen.push(t.id))), Effect.flip)
      )
      const page1 = yield* peer.expectRequest("thread/list")
      yield* peer.respond(page1.id, { data: [Fixtures.thread("t1")], nextCursor: "c1" })
      const page2 = yield* peer.expectRequest("thread/list")
      yield* peer.respondError(page2.id, { code: -32600, message: "invalid cursor: c1" })
      const error = yield* Fiber.join(all)
      assert.instanceOf(error, InvalidRequestError)
      assert.strictEqual((error as InvalidRequestError).method, "thread/list")
      assert.deepStrictEqual(seen, ["t1"])
    }))

  it.scoped("thread.turns: thread/turns/list over all pages, oldest first when asked, with the page size and items view", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* setup
      const starting = yield* Effect.fork(codex.threadStart())
      yield* Fixtures.serveThreadStart(peer, "thread-1")
      const thread = yield* Fiber.join(starting)
      const all = yield* Effect.fork(collect(thread.turns({ order: "oldestFirst", pageSize: 2, itemsView: "full" })))
      const first = yield* peer.expectRequest("thread/turns/list")
      assert.deepStrictEqual(first.params, { threadId: "thread-1", sortDirection: "asc", limit: 2, itemsView: "full" })
      yield* peer.respond(first.id, { data: [Fixtures.turn("a", "completed"), Fixtures.turn("b", "completed")], nextCursor: "k" })
      const second = yield* peer.expectRequest("thread/turns/list")
      assert.deepStrictEqual(second.params, { threadId: "thread-1", sortDirection: "asc", limit: 2, itemsView: "full", cursor: "k" })
      yield* peer.respond(second.id, { data: [Fixtures.turn("c", "completed")], nextCursor: null })
      assert.deepStrictEqual((yield* Fiber.join(all)).map((t) => t.id), ["a", "b", "c"])
      // the defaults: the server's order and page size
      const defaults = yield* Effect.fork(collect(thread.turns()))
      const plain = yield* peer.expectRequest("thread/turns/list")
      assert.deepStrictEqual(plain.params, { threadId: "thread-1" })
      yield* peer.respond(plain.id, { data: [], nextCursor: null })
      assert.deepStrictEqual(yield* Fiber.join(defaults), [])
    }))

  it.scoped("includeTurns on threadResume / threadFork is the wire's excludeTurns, negated; left out, nothing is sent", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* setup
      const resuming = yield* Effect.fork(codex.threadResume("thread-1", { includeTurns: false }))
      const resume = yield* peer.expectRequest("thread/resume")
      assert.deepStrictEqual(resume.params, { threadId: "thread-1", excludeTurns: true })
      yield* peer.respond(resume.id, Fixtures.threadStartResponse(Fixtures.thread("thread-1")))
      yield* Fiber.join(resuming)
      const forking = yield* Effect.fork(codex.threadFork("thread-1", { includeTurns: true }))
      const fork = yield* peer.expectRequest("thread/fork")
      assert.deepStrictEqual(fork.params, { threadId: "thread-1", excludeTurns: false })
      yield* peer.respond(fork.id, Fixtures.threadStartResponse(Fixtures.thread("thread-2")))
      yield* Fiber.join(forking)
      const plain = yield* Effect.fork(codex.threadResume("thread-1"))
      assert.deepStrictEqual((yield* peer.expectRequest("thread/resume")).params, { threadId: "thread-1" })
      yield* Fiber.interrupt(plain)
    }))
})

describe("presets", () => {
  it.scoped("threadStart with a Sandbox preset sends its mode, and its workspace options as config.sandbox_workspace_write", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* setup
      const starting = yield* Effect.fork(codex.threadStart({
        ...ApprovalMode.autoReview,
        sandbox: Sandbox.workspaceWrite({ networkAccess: true, writableRoots: ["/data"] }),
        config: { model_reasoning_effort: "high", sandbox_workspace_write: { exclude_slash_tmp: true } }
      }))
      const request = yield* Fixtures.serveThreadStart(peer, "thread-1")
      yield* Fiber.join(starting)
      assert.deepStrictEqual(request.params, {
        approvalPolicy: "on-request",
        approvalsReviewer: "auto_review",
        sandbox: "workspace-write",
        config: {
          model_reasoning_effort: "high",
          sandbox_workspace_write: { exclude_slash_tmp: true, network_access: true, writable_roots: ["/data"] }
        }
      })
      for (const [preset, mode] of [[Sandbox.readOnly, "read-only"], [Sandbox.fullAccess, "danger-full-access"], [Sandbox.workspaceWrite(), "workspace-write"]] as const) {
        const next = yield* Effect.fork(codex.threadStart({ sandbox: preset }))
        const sent = yield* Fixtures.serveThreadStart(peer, "thread-x")
        yield* Fiber.join(next)
        assert.deepStrictEqual(sent.params, { sandbox: mode })
      }
      // a mode string is sent as it is
      const byMode = yield* Effect.fork(codex.threadStart({ sandbox: "read-only" }))
      assert.deepStrictEqual((yield* Fixtures.serveThreadStart(peer, "thread-y")).params, { sandbox: "read-only" })
      yield* Fiber.join(byMode)
    }))

  it.scoped("in turn options a Sandbox preset is the sandboxPolicy, and an ApprovalMode spreads into the turn", () =>
    Effect.gen(function*() {
      const { codex, peer } = yield* setup
      const starting = yield* Effect.fork(codex.threadStart())
      yield* Fixtures.serveThreadStart(peer, "thread-1")
      const thread = yield* Fiber.join(starting)
      const run = yield* Effect.fork(thread.run("hi", { ...ApprovalMode.denyAll, sandboxPolicy: Sandbox.workspaceWrite({ networkAccess: false }) }))
      const request = yield* Fixtures.serveTurn(peer, { text: "ok" })
      yield* Fiber.join(run)
      const params = request.params as Record<string, unknown>
      assert.deepStrictEqual(
        { approvalPolicy: params.approvalPolicy, approvalsReviewer: params.approvalsReviewer, sandboxPolicy: params.sandboxPolicy },
        { approvalPolicy: "never", approvalsReviewer: "user", sandboxPolicy: { type: "workspaceWrite", networkAccess: false } }
      )
    }))

  it("the presets are the Python SDK's pairs", () => {
    assert.deepStrictEqual(ApprovalMode.autoReview, { approvalPolicy: "on-request", approvalsReviewer: "auto_review" })
    assert.deepStrictEqual(ApprovalMode.denyAll, { approvalPolicy: "never", approvalsReviewer: "user" })
    assert.deepStrictEqual(ApprovalMode.dangerouslyBypassApprovalsAndSandbox, { approvalPolicy: "never", approvalsReviewer: "user" })
    assert.deepStrictEqual(ApprovalMode.askUser, { approvalPolicy: "on-request", approvalsReviewer: "user" })
    assert.deepStrictEqual(Sandbox.readOnly, { type: "readOnly" })
    assert.deepStrictEqual(Sandbox.fullAccess, { type: "dangerFullAccess" })
    assert.deepStrictEqual(Sandbox.workspaceWrite({ writableRoots: ["/a"] }), { type: "workspaceWrite", writableRoots: ["/a"] })
  })
})
