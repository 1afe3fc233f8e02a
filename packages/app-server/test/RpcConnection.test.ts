import * as Fixtures from "@effect-codex/testing/Fixtures"
import * as MockAppServer from "@effect-codex/testing/MockAppServer"
import { codexVersion } from "@effect-codex/protocol/generated/Version"
import * as Registry from "@effect-codex/protocol/Registry"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as CodexError from "../src/CodexError.js"
import * as RpcConnection from "../src/RpcConnection.js"
import * as ServerRequests from "../src/ServerRequests.js"
import * as Transport from "../src/Transport.js"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/** A connection over a fresh mock (the mock answers the handshake unless told otherwise). */
const connect = (options: { readonly mock?: MockAppServer.Options; readonly rpc?: RpcConnection.Options } = {}) =>
  Effect.gen(function*() {
    const { peer, transport } = yield* MockAppServer.make(options.mock)
    const rpc = yield* RpcConnection.make(options.rpc).pipe(Effect.provideService(Transport.Transport, transport))
    return { peer, rpc }
  })

/**
 * Lets every forked fiber run until it blocks: before it moves the clock (here by nothing),
 * `TestClock.adjust` yields to the event loop until the fibers are quiet, and everything here waits
 * only on in-memory events. Used where a stream subscribes when it runs, and before asserting that
 * something did not happen.
 */
const settle = TestClock.adjust(0)

/** Collects the next `n` diagnostics; the stream is subscribed when this returns. */
const collectDiagnostics = (rpc: RpcConnection.RpcConnection.Service, n: number) =>
  Effect.gen(function*() {
    const fiber = yield* rpc.diagnostics.pipe(
      Stream.take(n),
      Stream.runCollect,
      Effect.map(Chunk.toReadonlyArray),
      Effect.fork
    )
    yield* settle
    return fiber
  })

/**
 * The exit of a fiber that must be done by now: settles first, then fails the test at once instead
 * of waiting forever when the fiber is still running (a regression shows up as a failure, not a hang).
 */
const doneNow = <A, E>(fiber: Fiber.Fiber<A, E>, what: string) =>
  Effect.gen(function*() {
    yield* settle
    const exit = yield* Fiber.poll(fiber)
    if (Option.isNone(exit)) return assert.fail(`${what}: still running`)
    return exit.value
  })

/** Like {@link doneNow}, for a fiber that must have succeeded. */
const succeededNow = <A, E>(fiber: Fiber.Fiber<A, E>, what: string) =>
  Effect.flatMap(doneNow(fiber, what), (exit) =>
    Exit.isSuccess(exit) ? Effect.succeed(exit.value) : assert.fail(`${what}: ${Cause.pretty(exit.cause)}`))

/** The failure of an exit (fails the test on success or on a defect). */
const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) return assert.fail(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return assert.fail(`expected a failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

/** The request the client must have sent by now (fails at once otherwise). */
const requestNow = (peer: MockAppServer.Peer, method: string) =>
  Effect.gen(function*() {
    yield* settle
    const message = yield* peer.poll
    if (Option.isNone(message)) return assert.fail(`no ${method} request was sent`)
    const request = message.value
    if (request._tag !== "Request" || request.method !== method) return assert.fail(`unexpected ${request.line}`)
    return request
  })

/** Requests of `method` the client sent so far. */
const sentRequests = (peer: MockAppServer.Peer, method: string) =>
  Effect.map(peer.history, (messages) => messages.filter((m) => m._tag === "Request" && m.method === method))

const captureLogs = () => {
  const logs: Array<{ readonly level: string; readonly message: string }> = []
  const logger = Logger.make(({ logLevel, message }) => {
    logs.push({ level: logLevel.label, message: Array.isArray(message) ? message.join(" ") : String(message) })
  })
  return { logs, layer: Logger.add(logger) }
}

const busy = { code: -32001, message: "Server overloaded; retry later." }

// real payloads captured from codex 0.169.0 (the Thread shape is unchanged in 0.171.0)
const threadStartResult = {
  thread: {
    id: "01a223c3-48f4-7513-8b61-324b5fb9f4be",
    environments: [{ environmentId: "local", cwd: "/tmp/ws", runtimeWorkspaceRoots: ["/tmp/ws"] }],
    extra: null,
    sessionId: "01a223c3-48f4-7513-8b61-324b5fb9f4be",
    forkedFromId: null,
    attachedToThreadId: null,
    parentThreadId: null,
    preview: "",
    ephemeral: false,
    section: null,
    sectionEnteredAt: null,
    projectId: null,
    historyMode: "paginated",
    modelProvider: "mock",
    model: "mock-model",
    reasoningEffort: null,
    createdAt: 1795896330,
    updatedAt: 1795896330,
    recencyAt: 1795896330,
    status: { type: "idle" },
    path: "/tmp/home/sessions/rollout.jsonl",
    cwd: "/tmp/ws",
    cliVersion: "0.169.0",
    originator: "effect_codex",
    source: "vscode",
    canAcceptDirectInput: true,
    threadSource: null,
    agentNickname: null,
    agentRole: null,
    gitInfo: null,
    name: null,
    daybreakEnabled: null,
    turns: []
  },
  model: "mock-model",
  modelProvider: "mock",
  serviceTier: null,
  disabledPluginIds: [],
  cwd: "/tmp/ws",
  runtimeWorkspaceRoots: ["/tmp/ws"],
  instructionSources: [],
  approvalPolicy: "untrusted",
  approvalsReviewer: "user",
  sandbox: { type: "workspaceWrite", writableRoots: [], networkAccess: false, excludeTmpdirEnvVar: false, excludeSlashTmp: false },
  activePermissionProfile: null,
  reasoningEffort: null,
  multiAgentMode: "explicitRequestOnly"
}

const commandApprovalParams = {
  kind: "command",
  threadId: "01a223c3-48f4-7513-8b61-324b5fb9f4be",
  turnId: "01a223c3-4962-7ab0-b1cd-97b225dcdb78",
  itemId: "call-accept",
  startedAtMs: 1795896330664,
  environmentId: "local",
  command: "/bin/bash -c 'echo captured-output'",
  cwd: "/tmp/ws",
  commandActions: [{ type: "unknown", command: "echo captured-output" }],
  proposedExecpolicyAmendment: ["echo", "captured-output"],
  availableDecisions: ["accept", { acceptWithExecpolicyAmendment: { execpolicy_amendment: ["echo", "captured-output"] } }, "cancel"]
}

const fileChangeApprovalParams = {
  threadId: "01a223c3-48f4-7513-8b61-324b5fb9f4be",
  turnId: "01a223c3-4a91-7611-8f93-6c8653820932",
  itemId: "call-patch",
  startedAtMs: 1795896330949,
  reason: null,
  grantRoot: null
}

const deltaParams = { threadId: "thr", turnId: "turn", itemId: "msg", delta: "Hello" }

/** A round trip that shows the connection still works. */
const roundTrip = (peer: MockAppServer.Peer, rpc: RpcConnection.RpcConnection.Service, value: string) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(rpc.request("thread/loaded/list", {}))
    const request = yield* peer.expectRequest("thread/loaded/list")
    yield* peer.respond(request.id, { data: [value] })
    const result = yield* Fiber.join(fiber)
    assert.deepStrictEqual(result.data, [value])
  })

// ---------------------------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------------------------

// a regression that leaves something waiting fails in seconds instead of the global 60 s
describe("RpcConnection", { timeout: 10_000 }, () => {
  describe("handshake", () => {
    it.scoped("sends clientInfo and capabilities from the config, then initialized, and exposes the answer", () =>
      Effect.gen(function*() {
        const { peer, transport } = yield* MockAppServer.make({ autoInitialize: false })
        const fiber = yield* RpcConnection.make({
          config: {
            clientInfo: { name: "my_app", title: "My App", version: "2.0.0" },
            experimentalApi: true,
            optOutNotificationMethods: ["thread/started", "item/agentMessage/delta"]
          }
        }).pipe(Effect.provideService(Transport.Transport, transport), Effect.fork)

        const init = yield* peer.expectRequest("initialize")
        assert.deepStrictEqual(init.params, {
          clientInfo: { name: "my_app", title: "My App", version: "2.0.0" },
          capabilities: { experimentalApi: true, optOutNotificationMethods: ["thread/started", "item/agentMessage/delta"] }
        })
        // nothing else before the answer
        yield* settle
        assert.isTrue(Option.isNone(yield* peer.poll))

        const answer = {
          userAgent: `my_app/${codexVersion} (Debian 12.0.0; x86_64) xterm (my_app; 2.0.0)`,
          codexHome: "/home/me/.codex",
          platformFamily: "unix",
          platformOs: "linux"
        }
        yield* peer.respond(init.id, answer)
        const initialized = yield* peer.expectNotification("initialized")
        assert.isUndefined(initialized.params)

        const rpc = yield* Fiber.join(fiber)
        assert.deepStrictEqual(rpc.server, answer)
        assert.strictEqual(rpc.serverVersion, codexVersion)
        const history = yield* peer.history
        assert.deepStrictEqual(history.map((m) => m._tag === "Request" || m._tag === "Notification" ? m.method : m._tag), [
          "initialize",
          "initialized"
        ])
      }))

    it.scoped("uses the default client identity and experimentalApi false", () =>
      Effect.gen(function*() {
        const { peer, transport } = yield* MockAppServer.make({ autoInitialize: false })
        const fiber = yield* RpcConnection.make().pipe(Effect.provideService(Transport.Transport, transport), Effect.fork)
        const init = yield* peer.handshake()
        assert.deepStrictEqual(init.params, {
          clientInfo: { name: "effect_codex", title: "effect-codex", version: "0.1.0" },
          capabilities: { experimentalApi: false }
        })
        const rpc = yield* Fiber.join(fiber)
        assert.deepStrictEqual(rpc.server, MockAppServer.defaultInitializeResponse)
      }))

    it.scoped("a version mismatch is logged and tolerated by default", () =>
      Effect.gen(function*() {
        const { layer, logs } = captureLogs()
        const { rpc } = yield* connect({ mock: { userAgent: "mock/0.170.0 (test)" } }).pipe(Effect.provide(layer))
        assert.strictEqual(rpc.serverVersion, "0.170.0")
        const warnings = logs.filter((log) => log.level === "WARN" && log.message.includes("0.170.0"))
        assert.strictEqual(warnings.length, 1)
        expect(warnings[0].message).toContain(codexVersion)
      }))

    it.scoped("a version mismatch fails with VersionMismatchError under strictVersion", () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(
          connect({ mock: { userAgent: "mock/0.170.0 (test)" }, rpc: { config: { strictVersion: true } } })
        )
        const error = failureOf(exit)
        assert.instanceOf(error, CodexError.VersionMismatchError)
        assert.strictEqual(error.expected, codexVersion)
        assert.strictEqual(error.actual, "0.170.0")
      }))

    it.scoped("works as layers: RpcConnection.layer over MockAppServer.layer with a script", () =>
      Effect.gen(function*() {
        const rpc = yield* RpcConnection.RpcConnection
        const result = yield* rpc.request("thread/loaded/list", { limit: 5 })
        assert.deepStrictEqual(result.data, ["limit=5"])
      }).pipe(
        Effect.provide(
          RpcConnection.layer().pipe(
            Layer.provideMerge(MockAppServer.layer({
              script: (peer) =>
                peer.handle("thread/loaded/list", (params) =>
                  Effect.succeed({ data: [`limit=${(params as { limit: number }).limit}`] }))
            }))
          )
        )
      ))
  })

  describe("requests", () => {
    it.scoped("round trip: thread/start result decoded, turn/start params encoded with wire keys", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()

        const started = yield* Effect.fork(rpc.request("thread/start", { approvalPolicy: "untrusted", sandbox: "workspace-write" }))
        const threadStart = yield* peer.expectRequest("thread/start")
        assert.strictEqual(threadStart.id, 2)
        assert.deepStrictEqual(threadStart.params, { approvalPolicy: "untrusted", sandbox: "workspace-write" })
        assert.deepStrictEqual(JSON.parse(threadStart.line), {
          id: 2,
          method: "thread/start",
          params: { approvalPolicy: "untrusted", sandbox: "workspace-write" }
        })
        yield* peer.respond(threadStart.id, threadStartResult)
        const thread = yield* Fiber.join(started)
        assert.strictEqual(thread.thread.id, "01a223c3-48f4-7513-8b61-324b5fb9f4be")
        assert.strictEqual(thread.model, "mock-model")
        assert.deepStrictEqual(thread.sandbox, {
          type: "workspaceWrite",
          writableRoots: [],
          networkAccess: false,
          excludeTmpdirEnvVar: false,
          excludeSlashTmp: false
        })

        const turn = yield* Effect.fork(rpc.request("turn/start", {
          threadId: thread.thread.id,
          input: [{ type: "text", text: "Hi @file", textElements: [{ byteRange: { start: 3, end: 8 }, placeholder: "@file" }] }]
        }))
        const turnStart = yield* peer.expectRequest("turn/start")
        assert.deepStrictEqual(turnStart.params, {
          threadId: thread.thread.id,
          input: [{ type: "text", text: "Hi @file", text_elements: [{ byteRange: { start: 3, end: 8 }, placeholder: "@file" }] }]
        })
        yield* peer.respond(turnStart.id, {
          turn: { id: "turn-1", items: [], itemsView: "notLoaded", status: "inProgress", error: null, startedAt: null }
        })
        const result = yield* Fiber.join(turn)
        assert.strictEqual(result.turn.id, "turn-1")
        assert.strictEqual(result.turn.status, "inProgress")
      }))

    it.scoped("routes by shape: a server request and our pending request with the same id both resolve", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const fiber = yield* Effect.fork(rpc.request("thread/loaded/list", {}))
        const ours = yield* peer.expectRequest("thread/loaded/list")

        // the server asks something with the very id of our pending request
        const theirs = yield* peer.request("item/fileChange/requestApproval", fileChangeApprovalParams, { id: ours.id })
        const reply = yield* theirs.reply
        assert.deepStrictEqual(reply, {
          _tag: "Response",
          id: ours.id,
          result: { decision: "decline" },
          line: JSON.stringify({ id: ours.id, result: { decision: "decline" } })
        })
        yield* settle
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "the server request did not settle our request")

        yield* peer.respond(ours.id, { data: ["thread-a"] })
        assert.deepStrictEqual((yield* Fiber.join(fiber)).data, ["thread-a"])
      }))

    it.scoped("maps {code:-32600, message, data} to InvalidRequestError keeping message and data", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const fiber = yield* Effect.fork(Effect.exit(rpc.request("thread/archive", { threadId: "nope" })))
        const request = yield* peer.expectRequest("thread/archive")
        yield* peer.respondError(request.id, {
          code: -32600,
          message: "no rollout found for thread id nope",
          data: { reason: "notFound" }
        })
        const error = failureOf(yield* Fiber.join(fiber))
        assert.instanceOf(error, CodexError.InvalidRequestError)
        assert.strictEqual(error.code, -32600)
        assert.strictEqual(error.message, "no rollout found for thread id nope")
        assert.deepStrictEqual(error.data, { reason: "notFound" })
        assert.strictEqual(error.method, "thread/archive")
      }))

    it.scoped("an experimental method fails with ExperimentalApiRequiredError before sending anything", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const fiber = yield* Effect.fork(rpc.request("mock/experimentalMethod", { value: "x" }))
        const error = failureOf(yield* doneNow(fiber, "the experimental request"))
        assert.instanceOf(error, CodexError.ExperimentalApiRequiredError)
        assert.strictEqual(error.method, "mock/experimentalMethod")
        assert.isTrue(Option.isNone(yield* peer.poll))
        assert.strictEqual((yield* peer.history).length, 2, "only initialize and initialized were sent")
      }))

    it.scoped("a method outside the registry (an untyped caller) fails with MethodNotFoundError before sending anything", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const untyped = rpc.request as (method: string, params: unknown) => Effect.Effect<unknown, unknown>
        const fiber = yield* Effect.fork(untyped("thread/teleport", {}))
        const error = failureOf(yield* doneNow(fiber, "the unknown request"))
        assert.instanceOf(error, CodexError.MethodNotFoundError)
        assert.strictEqual((error as CodexError.MethodNotFoundError).method, "thread/teleport")
        assert.isTrue(Option.isNone(yield* peer.poll))
      }))

    it.scoped("an experimental method goes out with experimentalApi on", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect({ rpc: { config: { experimentalApi: true } } })
        const init = (yield* peer.history)[0]
        assert.deepStrictEqual(init._tag === "Request" ? init.params : undefined, {
          clientInfo: { name: "effect_codex", title: "effect-codex", version: "0.1.0" },
          capabilities: { experimentalApi: true }
        })
        const fiber = yield* Effect.fork(rpc.request("mock/experimentalMethod", { value: "x" }))
        const request = yield* peer.expectRequest("mock/experimentalMethod")
        assert.deepStrictEqual(request.params, { value: "x" })
        yield* peer.respond(request.id, { echoed: "x" })
        assert.deepStrictEqual(yield* Fiber.join(fiber), { echoed: "x" })
      }))
  })

  describe("deadlines", () => {
    it.scoped("a request without answer fails with RequestTimeoutError after exactly its timeout", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const fiber = yield* Effect.fork(Effect.exit(rpc.request("thread/loaded/list", {}, { timeout: "10 seconds" })))
        const request = yield* peer.expectRequest("thread/loaded/list")

        yield* TestClock.adjust("9999 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        yield* TestClock.adjust("1 millis")
        const error = failureOf(yield* succeededNow(fiber, "the request after 10 s"))
        assert.instanceOf(error, CodexError.RequestTimeoutError)
        assert.strictEqual(error.method, "thread/loaded/list")
        assert.isTrue(Duration.equals(error.timeout, Duration.seconds(10)))

        // the entry is gone: a late answer is a diagnostic, not a crash
        const diagnostics = yield* collectDiagnostics(rpc, 1)
        yield* peer.respond(request.id, { data: ["late"] })
        const [late] = yield* succeededNow(diagnostics, "the diagnostic of the late answer")
        assert.instanceOf(late, CodexError.ProtocolDecodeError)
        assert.strictEqual((late as CodexError.ProtocolDecodeError).reason, "a late response to thread/loaded/list, whose caller gave up")
        expect((late as CodexError.ProtocolDecodeError).line).toContain("late")
        assert.strictEqual(yield* rpc.decodeErrors, 0) // expected, so not counted as a decode error

        yield* roundTrip(peer, rpc, "still works")
      }))

    it.scoped("the default deadline is the config's requestTimeout", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect({ rpc: { config: { requestTimeout: "3 seconds" } } })
        const fiber = yield* Effect.fork(Effect.exit(rpc.request("thread/loaded/list", {})))
        yield* peer.expectRequest("thread/loaded/list")
        yield* TestClock.adjust("2999 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        yield* TestClock.adjust("1 millis")
        assert.instanceOf(failureOf(yield* succeededNow(fiber, "the request after 3 s")), CodexError.RequestTimeoutError)
      }))

    it.scoped("an interrupted caller removes its entry; the connection still works", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const fiber = yield* Effect.fork(rpc.request("thread/loaded/list", {}))
        const request = yield* peer.expectRequest("thread/loaded/list")
        yield* Fiber.interrupt(fiber)

        const diagnostics = yield* collectDiagnostics(rpc, 1)
        yield* peer.respond(request.id, { data: ["too late"] })
        const [late] = yield* succeededNow(diagnostics, "the diagnostic of the late answer")
        assert.instanceOf(late, CodexError.ProtocolDecodeError)
        assert.strictEqual((late as CodexError.ProtocolDecodeError).reason, "a late response to thread/loaded/list, whose caller gave up")

        // an answer to an id nobody ever used is a real protocol error
        const unknown = yield* collectDiagnostics(rpc, 1)
        yield* peer.respond(9999, { data: [] })
        const [stray] = yield* succeededNow(unknown, "the diagnostic of the stray answer")
        assert.strictEqual((stray as CodexError.ProtocolDecodeError).reason, "a response to no pending request")

        yield* roundTrip(peer, rpc, "after interrupt")
      }))
  })

  describe("retries of -32001", () => {
    it.scoped("busy twice then success: 3 attempts, 225 ms then 550 ms apart (jitter pinned)", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        // default policy: 250 ms, x2, ±20 %; random 0.25 -> factor 0.9, then 0.75 -> factor 1.1
        const fiber = yield* rpc.request("thread/loaded/list", {}).pipe(
          Effect.withRandom(Random.fixed([0.25, 0.75])),
          Effect.fork
        )
        const first = yield* peer.expectRequest("thread/loaded/list")
        assert.strictEqual(yield* Clock.currentTimeMillis, 0)
        yield* peer.respondError(first.id, busy)

        yield* TestClock.adjust("224 millis")
        assert.isTrue(Option.isNone(yield* peer.poll), "no retry before 225 ms")
        yield* TestClock.adjust("1 millis")
        const second = yield* requestNow(peer, "thread/loaded/list")
        assert.strictEqual(yield* Clock.currentTimeMillis, 225)
        assert.notStrictEqual(second.id, first.id)
        yield* peer.respondError(second.id, busy)

        yield* TestClock.adjust("549 millis")
        assert.isTrue(Option.isNone(yield* peer.poll), "no retry before 550 ms more")
        yield* TestClock.adjust("1 millis")
        const third = yield* requestNow(peer, "thread/loaded/list")
        assert.strictEqual(yield* Clock.currentTimeMillis, 775)
        yield* peer.respond(third.id, { data: ["third time lucky"] })

        assert.deepStrictEqual((yield* succeededNow(fiber, "the third attempt")).data, ["third time lucky"])
        assert.strictEqual((yield* sentRequests(peer, "thread/loaded/list")).length, 3)
      }))

    it.scoped("busy every time: fails with ServerBusyError after 3 attempts", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        yield* peer.handle("thread/loaded/list", () => Effect.fail(busy))
        const fiber = yield* rpc.request("thread/loaded/list", {}).pipe(
          Effect.withRandom(Random.fixed([0.5])),
          Effect.exit,
          Effect.fork
        )
        yield* TestClock.adjust("250 millis")
        yield* TestClock.adjust("500 millis")
        const error = failureOf(yield* succeededNow(fiber, "the request after 3 attempts"))
        assert.instanceOf(error, CodexError.ServerBusyError)
        assert.strictEqual(error.message, busy.message)
        yield* TestClock.adjust("1 minute")
        assert.strictEqual((yield* sentRequests(peer, "thread/loaded/list")).length, 3)
      }))

    it.scoped("a timed-out request is not retried", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const fiber = yield* Effect.fork(Effect.exit(rpc.request("thread/loaded/list", {}, { timeout: "1 second" })))
        yield* peer.expectRequest("thread/loaded/list")
        yield* TestClock.adjust("1 second")
        assert.instanceOf(failureOf(yield* succeededNow(fiber, "the request after 1 s")), CodexError.RequestTimeoutError)
        yield* TestClock.adjust("1 minute")
        assert.isTrue(Option.isNone(yield* peer.poll))
        assert.strictEqual((yield* sentRequests(peer, "thread/loaded/list")).length, 1)
      }))

    it.scoped("retry: false makes one attempt (per request and in the config)", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        yield* peer.handle("thread/loaded/list", () => Effect.fail(busy))
        const perRequest = yield* Effect.exit(rpc.request("thread/loaded/list", {}, { retry: false }))
        assert.instanceOf(failureOf(perRequest), CodexError.ServerBusyError)
        yield* TestClock.adjust("1 minute")
        assert.strictEqual((yield* sentRequests(peer, "thread/loaded/list")).length, 1)

        const other = yield* connect({ rpc: { config: { retry: false } } })
        yield* other.peer.handle("thread/loaded/list", () => Effect.fail(busy))
        const fromConfig = yield* Effect.exit(other.rpc.request("thread/loaded/list", {}))
        assert.instanceOf(failureOf(fromConfig), CodexError.ServerBusyError)
        yield* TestClock.adjust("1 minute")
        assert.strictEqual((yield* sentRequests(other.peer, "thread/loaded/list")).length, 1)
      }))
  })

  describe("decoding", () => {
    it.scoped("garbage and undecodable params are diagnostics; notifications still arrive; requests still work", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const notifications = yield* rpc.subscribe
        const diagnostics = yield* collectDiagnostics(rpc, 3)

        yield* peer.sendRaw("{this is not json")
        yield* peer.sendRaw("{\"id\":")
        yield* peer.notify("item/agentMessage/delta", { ...deltaParams, delta: 42 }, { emittedAtMs: 7 })
        yield* peer.notify("future/somethingNew", { shiny: true }, { emittedAtMs: 8 })
        yield* peer.notify("item/agentMessage/delta", deltaParams, { emittedAtMs: 9 })

        const collecting = yield* notifications.pipe(Stream.take(3), Stream.runCollect, Effect.fork)
        const received = Chunk.toReadonlyArray(yield* succeededNow(collecting, "three notifications"))
        assert.deepStrictEqual(received, [
          {
            method: Registry.unknownMethod,
            rawMethod: "item/agentMessage/delta",
            params: { ...deltaParams, delta: 42 },
            emittedAtMs: 7,
            reason: "undecodable"
          },
          {
            method: Registry.unknownMethod,
            rawMethod: "future/somethingNew",
            params: { shiny: true },
            emittedAtMs: 8,
            reason: "unknownMethod"
          },
          { method: "item/agentMessage/delta", params: deltaParams, emittedAtMs: 9 }
        ])
        assert.isFalse(Registry.isKnownNotification(received[0]))
        assert.isTrue(Registry.isKnownNotification(received[2]))

        const errors = yield* succeededNow(diagnostics, "three diagnostics")
        assert.strictEqual(errors.length, 3)
        for (const error of errors) assert.instanceOf(error, CodexError.ProtocolDecodeError)
        const [garbage, partial, undecodable] = errors as ReadonlyArray<CodexError.ProtocolDecodeError>
        assert.strictEqual(garbage.line, "{this is not json")
        expect(garbage.reason).toMatch(/^invalid JSON/)
        assert.strictEqual(partial.line, "{\"id\":")
        expect(partial.reason).toMatch(/^invalid JSON/)
        expect(undecodable.line).toContain("\"delta\":42")
        expect(undecodable.reason).toContain("delta")
        assert.strictEqual(yield* rpc.decodeErrors, 3)

        yield* roundTrip(peer, rpc, "still decoding")
      }))

    it.scoped("over-long lines dropped by the transport show up on diagnostics", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect({ mock: { maxLineBytes: 64 } })
        const diagnostics = yield* collectDiagnostics(rpc, 1)
        yield* peer.sendRaw("x".repeat(100))
        const [tooLong] = yield* succeededNow(diagnostics, "the diagnostic of the long line")
        assert.instanceOf(tooLong, CodexError.LineTooLongError)
        assert.strictEqual((tooLong as CodexError.LineTooLongError).bytes, 100)
        assert.strictEqual((tooLong as CodexError.LineTooLongError).limit, 64)
      }))
  })

  describe("routing", () => {
    const delta = (threadId: string, delta: string) => ({ threadId, turnId: "turn", itemId: "msg", delta })
    const deltasOf = (events: ReadonlyArray<RpcConnection.Notification>) =>
      events.map((n) => (n.method === "item/agentMessage/delta" ? `${n.params.threadId}:${n.params.delta}` : n.method))

    it.scoped("subscribeThread gets its thread's notifications only (and its thread/started); subscribe gets all", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const a = yield* rpc.subscribeThread("a")
        const all = yield* rpc.subscribe
        yield* peer.notify("thread/started", { thread: Fixtures.thread("a") })
        yield* peer.notify("item/agentMessage/delta", delta("b", "1"))
        yield* peer.notify("item/agentMessage/delta", delta("a", "2"))
        yield* peer.notify("account/rateLimits/updated", { rateLimits: { limitId: null, limitName: null, primary: null, secondary: null, credits: null, planType: null } })
        yield* peer.notify("item/agentMessage/delta", delta("a", "3"))
        yield* settle
        const [forA] = yield* a.mailbox.takeAll
        assert.deepStrictEqual(deltasOf(Chunk.toReadonlyArray(forA)), ["thread/started", "a:2", "a:3"])
        const everything = yield* all.pipe(Stream.take(5), Stream.runCollect)
        assert.deepStrictEqual(deltasOf(Chunk.toReadonlyArray(everything)), [
          "thread/started",
          "b:1",
          "a:2",
          "account/rateLimits/updated",
          "a:3"
        ])
      }))

    it.scoped("forward hands over what the mailbox holds, then each later batch, then the end, in the reader", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const subscription = yield* rpc.subscribeThread("a")
        yield* peer.notify("item/agentMessage/delta", delta("a", "1"))
        yield* settle
        const received: Array<string> = []
        let ended: string | undefined
        yield* subscription.forward({
          onBatch: (batch) => void received.push(...deltasOf(batch)),
          onEnd: (error) => void (ended = error._tag)
        })
        assert.deepStrictEqual(received, ["a:1"])
        yield* peer.notify("item/agentMessage/delta", delta("a", "2"))
        // delivered synchronously: no fiber between the transport and the receiver
        assert.deepStrictEqual(received, ["a:1", "a:2"])
        assert.isTrue(Chunk.isEmpty((yield* subscription.mailbox.takeN(0))[0]))
        yield* peer.die({ exitCode: 1 })
        assert.strictEqual(ended, "ProcessExitedError")
      }))

    it.scoped("a direct subscription keeps what arrives until it is forwarded, and stops at unsafeClose", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const direct = rpc.unsafeSubscribeThread("a")
        yield* peer.notify("item/agentMessage/delta", delta("a", "1"))
        const received: Array<string> = []
        yield* direct.forward({ onBatch: (batch) => void received.push(...deltasOf(batch)), onEnd: () => {} })
        yield* peer.notify("item/agentMessage/delta", delta("a", "2"))
        direct.unsafeClose()
        yield* peer.notify("item/agentMessage/delta", delta("a", "3"))
        assert.deepStrictEqual(received, ["a:1", "a:2"])
      }))

    it.scoped("a full subscription holds the reader back (nothing dropped) until it is read or closed", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect({ rpc: { notificationBuffer: 2 } })
        const scope = yield* Scope.make()
        const slow = yield* Scope.extend(rpc.subscribeThread("a"), scope)
        const other = yield* rpc.subscribe
        for (let i = 1; i <= 4; i++) yield* peer.notify("item/agentMessage/delta", delta("a", String(i)))
        yield* settle
        // the reader is paused at the third: the other subscriber has seen two so far
        const seen = yield* Effect.fork(other.pipe(Stream.take(4), Stream.runCollect))
        yield* settle
        assert.isTrue(Option.isNone(yield* Fiber.poll(seen)))
        const [first] = yield* slow.mailbox.takeAll
        assert.deepStrictEqual(deltasOf(Chunk.toReadonlyArray(first)), ["a:1", "a:2"])
        // closing the slow subscription lets the reader go on
        yield* Scope.close(scope, Exit.void)
        const all = yield* succeededNow(seen, "the other subscriber")
        assert.deepStrictEqual(deltasOf(Chunk.toReadonlyArray(all)), ["a:1", "a:2", "a:3", "a:4"])
      }))
  })

  describe("death of the peer", () => {
    it.scoped("pending requests and subscribers fail with the same ProcessExitedError, after earlier notifications", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const notifications = yield* rpc.subscribe
        const seen: Array<string> = []
        const subscriber = yield* notifications.pipe(
          Stream.runForEach((n) => Effect.sync(() => seen.push(Registry.isKnownNotification(n) ? n.method : n.rawMethod))),
          Effect.exit,
          Effect.fork
        )
        const first = yield* Effect.fork(Effect.exit(rpc.request("thread/loaded/list", {})))
        const second = yield* Effect.fork(Effect.exit(rpc.request("thread/start", {})))
        yield* peer.expectRequest("thread/loaded/list")
        yield* peer.expectRequest("thread/start")

        yield* peer.notify("item/agentMessage/delta", deltaParams)
        yield* peer.notify("future/notification", {})
        const died = yield* peer.die({ exitCode: 3, stderrTail: ["thread 'main' panicked", "at src/main.rs:1"] })

        const errors = [
          failureOf(yield* Fiber.join(first)),
          failureOf(yield* Fiber.join(second)),
          failureOf(yield* Fiber.join(subscriber))
        ]
        for (const error of errors) assert.strictEqual(error, died)
        assert.instanceOf(died, CodexError.ProcessExitedError)
        assert.strictEqual(died.exitCode, 3)
        assert.isNull(died.signal)
        assert.deepStrictEqual(died.stderrTail, ["thread 'main' panicked", "at src/main.rs:1"])
        assert.deepStrictEqual(seen, ["item/agentMessage/delta", "future/notification"])
        assert.strictEqual(yield* rpc.closed, died)

        // afterwards: immediate failure with the same error, nothing sent
        const sentBefore = (yield* peer.history).length
        const after = yield* Effect.exit(rpc.request("thread/loaded/list", {}))
        assert.strictEqual(failureOf(after), died)
        assert.strictEqual((yield* peer.history).length, sentBefore)
        const late = yield* Effect.exit(Stream.runDrain(rpc.notifications))
        assert.strictEqual(failureOf(late), died)
      }))

    it.scoped("a kill by signal carries the signal", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const fiber = yield* Effect.fork(Effect.exit(rpc.request("thread/loaded/list", {})))
        yield* peer.expectRequest("thread/loaded/list")
        yield* peer.die({ signal: "SIGKILL" })
        const error = failureOf(yield* Fiber.join(fiber))
        assert.instanceOf(error, CodexError.ProcessExitedError)
        assert.isNull(error.exitCode)
        assert.strictEqual(error.signal, "SIGKILL")
      }))

    it.scoped("a clean end of the transport fails pending requests with TransportClosedError", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect()
        const fiber = yield* Effect.fork(Effect.exit(rpc.request("thread/loaded/list", {})))
        yield* peer.expectRequest("thread/loaded/list")
        yield* peer.close
        assert.instanceOf(failureOf(yield* Fiber.join(fiber)), CodexError.TransportClosedError)
        assert.instanceOf(yield* rpc.closed, CodexError.TransportClosedError)
      }))
  })

  describe("a subscriber that stopped reading", () => {
    it.scoped("does not hold up the end: pending requests fail at once, and it still gets everything, then the failure", () =>
      Effect.gen(function*() {
        const { peer, rpc } = yield* connect({ rpc: { notificationBuffer: 1 } })
        const stuck = yield* rpc.subscribe
        for (let i = 1; i <= 3; i++) yield* peer.notify("item/agentMessage/delta", { ...deltaParams, delta: String(i) })
        const fiber = yield* Effect.fork(Effect.exit(rpc.request("thread/loaded/list", {})))
        yield* peer.expectRequest("thread/loaded/list")
        yield* peer.die({ exitCode: 1 })
        assert.instanceOf(failureOf(yield* succeededNow(fiber, "the pending request")), CodexError.ProcessExitedError)
        const seen: Array<string> = []
        const end = yield* stuck.pipe(
          Stream.runForEach((n) => Effect.sync(() => seen.push(n.method === "item/agentMessage/delta" ? n.params.delta : n.method))),
          Effect.flip
        )
        assert.deepStrictEqual(seen, ["1", "2", "3"])
        assert.instanceOf(end, CodexError.ProcessExitedError)
      }))
  })

  describe("closing the connection", () => {
    it.scoped("closing its scope fails pending requests and subscribers with TransportClosedError", () =>
      Effect.gen(function*() {
        const { peer, transport } = yield* MockAppServer.make()
        const scope = yield* Scope.make()
        const rpc = yield* RpcConnection.make().pipe(
          Effect.provideService(Transport.Transport, transport),
          Scope.extend(scope)
        )
        const notifications = yield* Scope.extend(rpc.subscribe, scope)
        const subscriber = yield* Effect.fork(Effect.exit(Stream.runDrain(notifications)))
        const fiber = yield* Effect.fork(Effect.exit(rpc.request("thread/loaded/list", {})))
        yield* peer.expectRequest("thread/loaded/list")

        yield* Scope.close(scope, Exit.void)
        const error = failureOf(yield* succeededNow(fiber, "the pending request"))
        assert.instanceOf(error, CodexError.TransportClosedError)
        assert.strictEqual(error.reason, "the connection was closed")
        assert.instanceOf(failureOf(yield* succeededNow(subscriber, "the subscriber")), CodexError.TransportClosedError)
        assert.strictEqual(failureOf(yield* Effect.exit(rpc.request("thread/loaded/list", {}))), error)
      }))
  })

  describe("server requests", () => {
    it.scoped("without a handler: approvals declined, unknown methods -32601, token refresh an error", () =>
      Effect.gen(function*() {
        const { peer } = yield* connect()

        const command = yield* peer.call("item/commandExecution/requestApproval", commandApprovalParams)
        assert.strictEqual(command._tag, "Response")
        assert.strictEqual(command.id, 0)
        assert.deepStrictEqual(command._tag === "Response" ? command.result : undefined, { decision: "decline" })

        const fileChange = yield* peer.call("item/fileChange/requestApproval", fileChangeApprovalParams)
        assert.strictEqual(fileChange.id, 1)
        assert.deepStrictEqual(fileChange._tag === "Response" ? fileChange.result : undefined, { decision: "decline" })

        const unknown = yield* peer.call("item/somethingNew/request", { x: 1 })
        assert.strictEqual(unknown._tag, "ErrorResponse")
        assert.strictEqual(unknown._tag === "ErrorResponse" ? unknown.error.code : 0, -32601)
        expect(unknown._tag === "ErrorResponse" ? unknown.error.message : "").toContain("item/somethingNew/request")

        const refresh = yield* peer.call("account/chatgptAuthTokens/refresh", { reason: "unauthorized", previousAccountId: null })
        assert.strictEqual(refresh._tag, "ErrorResponse")
        expect(refresh._tag === "ErrorResponse" ? refresh.error.message : "").toContain("account/chatgptAuthTokens/refresh")

        // undecodable params of a known method: -32602
        const bad = yield* peer.call("item/fileChange/requestApproval", { itemId: 5 })
        assert.strictEqual(bad._tag === "ErrorResponse" ? bad.error.code : 0, -32602)
      }))

    it.scoped("a failing handler still produces an error reply and the connection keeps working", () =>
      Effect.gen(function*() {
        const handler: ServerRequests.Handler = (request) =>
          request.method === "item/commandExecution/requestApproval"
            ? Effect.fail("the approval UI crashed")
            : Effect.die(new Error("bug in the handler"))
        const { peer, rpc } = yield* connect({ rpc: { handler } })

        const failed = yield* peer.call("item/commandExecution/requestApproval", commandApprovalParams)
        assert.strictEqual(failed._tag, "ErrorResponse")
        expect(failed._tag === "ErrorResponse" ? failed.error.message : "").toContain("item/commandExecution/requestApproval")

        const died = yield* peer.call("item/fileChange/requestApproval", fileChangeApprovalParams)
        assert.strictEqual(died._tag, "ErrorResponse")

        yield* roundTrip(peer, rpc, "alive")
      }))

    it.scoped("a custom handler's answer is encoded and sent", () =>
      Effect.gen(function*() {
        const handler: ServerRequests.Handler = (request) =>
          Effect.succeed(
            request.method === "item/commandExecution/requestApproval"
              ? ServerRequests.result(request.method, { decision: "acceptForSession" })
              : ServerRequests.refuse(request)
          )
        const { peer } = yield* connect({ rpc: { handler } })
        const reply = yield* peer.call("item/commandExecution/requestApproval", commandApprovalParams)
        assert.deepStrictEqual(reply._tag === "Response" ? reply.result : undefined, { decision: "acceptForSession" })
      }))

    it.scoped("a slow handler does not block the reader", () =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const handler: ServerRequests.Handler = (request) => Effect.as(Deferred.await(gate), ServerRequests.refuse(request))
        const { peer, rpc } = yield* connect({ rpc: { handler } })
        const notifications = yield* rpc.subscribe

        const pending = yield* peer.request("item/commandExecution/requestApproval", commandApprovalParams)
        yield* peer.notify("item/agentMessage/delta", deltaParams)
        const delivered = yield* succeededNow(
          yield* Effect.fork(Stream.runHead(notifications)),
          "the notification sent while the handler runs"
        )
        assert.strictEqual(Option.map(delivered, (n) => n.method).pipe(Option.getOrNull), "item/agentMessage/delta")
        assert.isFalse((yield* peer.history).some((m) => m._tag === "Response"), "the handler is still running")

        yield* Deferred.succeed(gate, undefined)
        const reply = yield* pending.reply
        assert.deepStrictEqual(reply._tag === "Response" ? reply.result : undefined, { decision: "decline" })
      }))

    it.scopedLive("a handler starts after the subscribers had the notifications that came before its request", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const handler: ServerRequests.Handler = (request) =>
          Effect.sync(() => {
            log.push(`handler:${request.method}`)
            return ServerRequests.refuse(request)
          })
        const { peer, rpc } = yield* connect({ rpc: { handler } })
        const notifications = yield* rpc.subscribe
        yield* Effect.fork(Stream.runForEach(notifications, (n) => Effect.sync(() => log.push(n.method))))
        yield* peer.sendRaw(
          [
            JSON.stringify({ method: "item/agentMessage/delta", params: deltaParams }),
            JSON.stringify({ id: 0, method: "item/commandExecution/requestApproval", params: commandApprovalParams })
          ].join("\n") + "\n"
        )
        yield* Effect.sleep("50 millis").pipe(Effect.repeat({ until: () => log.length >= 2 }), Effect.timeout("5 seconds"))
        assert.deepStrictEqual(log, ["item/agentMessage/delta", "handler:item/commandExecution/requestApproval"])
      }))
  })
})
