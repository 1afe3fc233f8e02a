/**
 * An in-memory `Transport` whose other end, the fake `codex app-server`, is scripted in Effect:
 * tests of the SDK and of user programs run without the binary, deterministically, under the
 * `TestClock`.
 *
 * The client side is a regular `Transport.Service` (put `RpcConnection.layer()` or `Codex` on top
 * of it). The server side is a {@link Peer}: it reads what the client sent, already parsed and
 * classified by shape ({@link ClientMessage}), and writes responses, notifications, server
 * requests, raw garbage, or dies like a crashed process.
 *
 * ```ts
 * import { MockAppServer } from "@effect-codex/testing"
 *
 * it.scoped("thread/start", () =>
 *   Effect.gen(function*() {
 *     const peer = yield* MockAppServer.MockAppServer
 *     const rpc = yield* RpcConnection.RpcConnection // the handshake is answered by the peer
 *     const fiber = yield* Effect.fork(rpc.request("thread/loaded/list", {}))
 *     const request = yield* peer.expectRequest("thread/loaded/list")
 *     yield* peer.respond(request.id, { data: ["t-1"] })
 *     assert.deepStrictEqual((yield* Fiber.join(fiber)).data, ["t-1"])
 *   }).pipe(Effect.provide(RpcConnection.layer().pipe(Layer.provideMerge(MockAppServer.layer())))))
 * ```
 *
 * Behaviour:
 * - Everything is event-driven (mailboxes and deferreds): nothing polls and nothing sleeps, so the
 *   mock works the same under the `TestClock` and the live clock.
 * - By default (`autoInitialize`) the peer answers `initialize` with {@link defaultInitializeResponse}
 *   (a second `initialize` gets `-32600 "Already initialized"`, like the real server) and swallows
 *   the `initialized` notification; both still appear in {@link Peer.history}.
 * - Client messages go to one queue read by {@link Peer.take}, {@link Peer.received} and the
 *   `expect…` helpers, except those answered elsewhere: requests of a method with a
 *   {@link Peer.handle} handler, the handshake under `autoInitialize`, and the client's replies to
 *   {@link Peer.request} (they resolve that request). {@link Peer.history} records all of them.
 * - {@link Peer.die} fails the transport's `incoming` with a `ProcessExitedError` after the lines
 *   already written, completes `closed` with it, and makes `send` fail with it; {@link Peer.close}
 *   ends `incoming` cleanly (`closed` and `send` then report a `TransportClosedError`). Closing the
 *   scope of {@link make} does the same as `close`. After either, what the peer writes is dropped
 *   (as the output of a dead process), and {@link Peer.take} dies once the queue is empty instead
 *   of waiting forever.
 *
 * @since 0.1.0
 */
import { LineTooLongError, ProcessExitedError, TransportClosedError } from "@effect-codex/app-server/CodexError"
import { Transport } from "@effect-codex/app-server/Transport"
import * as TransportModule from "@effect-codex/app-server/Transport"
import { codexVersion } from "@effect-codex/protocol/generated/Version"
import * as JsonRpc from "@effect-codex/protocol/JsonRpc"
import type * as Registry from "@effect-codex/protocol/Registry"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

// -------------------------------------------------------------------------------------------------
// models
// -------------------------------------------------------------------------------------------------

/**
 * A request the client sent (`id` and `method`). `params` is the wire JSON (snake_case keys where
 * the protocol has them), `undefined` when the client left them out.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientRequest {
  readonly _tag: "Request"
  readonly id: JsonRpc.RequestId
  readonly method: string
  readonly params: unknown
  /** The line as the client wrote it. */
  readonly line: string
}

/**
 * A notification the client sent (`method` without `id`), e.g. `initialized`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientNotification {
  readonly _tag: "Notification"
  readonly method: string
  readonly params: unknown
  readonly line: string
}

/**
 * The client's successful reply to a server request.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientResponse {
  readonly _tag: "Response"
  readonly id: JsonRpc.RequestId
  readonly result: unknown
  readonly line: string
}

/**
 * The client's error reply to a server request.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientErrorResponse {
  readonly _tag: "ErrorResponse"
  readonly id: JsonRpc.RequestId | null
  readonly error: JsonRpc.ErrorObject
  readonly line: string
}

/**
 * A line from the client that is not a JSON-RPC message (an SDK bug; kept so tests can see it).
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientMalformed {
  readonly _tag: "Malformed"
  readonly reason: string
  readonly line: string
}

/**
 * A reply of the client to a server request.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientReply = ClientResponse | ClientErrorResponse

/**
 * Anything the client sent, classified by shape.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientMessage = ClientRequest | ClientNotification | ClientReply | ClientMalformed

/**
 * A server request sent by {@link Peer.request}: its id, and an effect that waits for the client's
 * reply (it fails with the transport's error if the transport closes first).
 *
 * @since 0.1.0
 * @category models
 */
export interface PendingServerRequest {
  readonly id: JsonRpc.RequestId
  readonly reply: Effect.Effect<ClientReply, TransportModule.TransportError>
}

/**
 * Answers a client request in the background (see {@link Peer.handle}): succeed with the wire
 * `result`, or fail with a JSON-RPC error object. A defect is answered with `-32603`.
 *
 * @since 0.1.0
 * @category models
 */
export type RequestHandler = (params: unknown, request: ClientRequest) => Effect.Effect<unknown, JsonRpc.ErrorObject>

/**
 * How the fake process dies (see {@link Peer.die}).
 *
 * @since 0.1.0
 * @category models
 */
export interface DieOptions {
  /** Default `1`, or `null` when a `signal` is given. */
  readonly exitCode?: number | null
  /** E.g. `"SIGKILL"`. Default `null`. */
  readonly signal?: string | null
  /** The last lines of stderr. Default `[]`. */
  readonly stderrTail?: ReadonlyArray<string>
}

/**
 * Method names with autocompletion, any string accepted.
 *
 * @since 0.1.0
 * @category models
 */
export type MethodName<M extends string> = M | (string & {})

/**
 * The scripted server side of the transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface Peer {
  /**
   * The queued client messages as a stream, one per pull (it shares the queue with `take`, and a
   * partial run leaves the rest queued); ends once the transport is closed and the queue is empty.
   */
  readonly received: Stream.Stream<ClientMessage>
  /** Waits for the next queued client message. Dies if the transport closes while the queue is empty. */
  readonly take: Effect.Effect<ClientMessage>
  /** The next queued client message if there is one, without waiting. */
  readonly poll: Effect.Effect<Option.Option<ClientMessage>>
  /** Every message the client sent so far, in order, queued or not (handshake, handled requests, replies). */
  readonly history: Effect.Effect<ReadonlyArray<ClientMessage>>
  /** Takes queued messages until a request of `method` arrives (the others are discarded) and returns it. */
  readonly expectRequest: (method: MethodName<Registry.ClientRequestMethod>) => Effect.Effect<ClientRequest>
  /** Takes queued messages until a notification of `method` arrives (the others are discarded) and returns it. */
  readonly expectNotification: (method: MethodName<Registry.ClientNotificationMethod>) => Effect.Effect<ClientNotification>
  /** Answers a client request with a wire `result` (`undefined` is sent as `null`). */
  readonly respond: (id: JsonRpc.RequestId, result: unknown) => Effect.Effect<void>
  /** Answers a client request with an error (`data` is sent when present). */
  readonly respondError: (id: JsonRpc.RequestId | null, error: JsonRpc.ErrorObject) => Effect.Effect<void>
  /**
   * Sends a notification with wire `params` (left out when `undefined`) and `emittedAtMs` (default:
   * the current `Clock` time, so 0 under a fresh `TestClock`).
   */
  readonly notify: (
    method: MethodName<Registry.ServerNotificationMethod>,
    params?: unknown,
    options?: { readonly emittedAtMs?: number }
  ) => Effect.Effect<void>
  /**
   * Sends a server request with wire `params`. Ids are the peer's own, from 0 like the real server,
   * unless `options.id` is given (to collide with a client id on purpose). The client's reply
   * resolves `reply` and is not queued.
   */
  readonly request: (
    method: MethodName<Registry.ServerRequestMethod>,
    params?: unknown,
    options?: { readonly id?: JsonRpc.RequestId }
  ) => Effect.Effect<PendingServerRequest>
  /** `request` followed by waiting for the reply. */
  readonly call: (
    method: MethodName<Registry.ServerRequestMethod>,
    params?: unknown,
    options?: { readonly id?: JsonRpc.RequestId }
  ) => Effect.Effect<ClientReply, TransportModule.TransportError>
  /**
   * Writes raw text (garbage, partial JSON, …). It is split on `"\n"` like the real framing (a
   * trailing `"\r"` is stripped, an empty piece after a final `"\n"` is not a line).
   */
  readonly sendRaw: (text: string) => Effect.Effect<void>
  /**
   * Answers every later client request of `method` in the background with `handler` (replacing
   * an earlier handler of that method, the built-in `initialize` one included). Such requests are
   * not queued.
   */
  readonly handle: (method: MethodName<Registry.ClientRequestMethod>, handler: RequestHandler) => Effect.Effect<void>
  /**
   * The handshake by hand (for `autoInitialize: false`): waits for `initialize`, answers it with
   * {@link defaultInitializeResponse} (overridden by `response`), then waits for `initialized`.
   * Returns the `initialize` request.
   */
  readonly handshake: (response?: Partial<InitializeResult>) => Effect.Effect<ClientRequest>
  /** Kills the fake process (see the module docs) and returns the error the client sees; no effect once closed. */
  readonly die: (options?: DieOptions) => Effect.Effect<ProcessExitedError>
  /** Ends the output cleanly, like a server that closed its stdout and stopped reading. */
  readonly close: Effect.Effect<void>
  /** Completes, with the reason, when the transport is closed. */
  readonly closed: Effect.Effect<TransportModule.TransportError>
}

/**
 * The peer of the {@link layer}'s transport.
 *
 * @since 0.1.0
 * @category tags
 */
export class MockAppServer extends Context.Tag("@effect-codex/testing/MockAppServer")<MockAppServer, Peer>() {}

/**
 * The wire result of `initialize`.
 *
 * @since 0.1.0
 * @category models
 */
export interface InitializeResult {
  readonly userAgent: string
  readonly codexHome: string
  readonly platformFamily: string
  readonly platformOs: string
}

/**
 * The built-in answer to `initialize`: `{userAgent: "mock/<pinned version> (test)", codexHome:
 * "/mock", platformFamily: "unix", platformOs: "linux"}`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultInitializeResponse: InitializeResult = {
  userAgent: `mock/${codexVersion} (test)`,
  codexHome: "/mock",
  platformFamily: "unix",
  platformOs: "linux"
}

/**
 * Options of {@link make} and {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Answer `initialize` and swallow `initialized` automatically. Default `true`. */
  readonly autoInitialize?: boolean
  /** `userAgent` of the built-in `initialize` answer (e.g. `"mock/0.170.0 (test)"` for version mismatches). */
  readonly userAgent?: string
  /** Other fields of the built-in `initialize` answer. */
  readonly initializeResponse?: Partial<InitializeResult>
  /**
   * Lines the peer writes that are longer than this (UTF-8 bytes) are dropped and reported as a
   * `LineTooLongError` on the transport's `diagnostics`, like the stdio framing does. Default: no limit.
   */
  readonly maxLineBytes?: number
}

/**
 * Options of {@link layer}: {@link Options} and a script.
 *
 * @since 0.1.0
 * @category models
 */
export interface LayerOptions extends Options {
  /**
   * Runs in the background for the life of the layer. If it fails or dies, the fake process dies
   * (exit code 101, the failure in the stderr tail), so the client sees it.
   */
  readonly script?: (peer: Peer) => Effect.Effect<unknown, unknown>
}

/**
 * A mock transport and its peer.
 *
 * @since 0.1.0
 * @category models
 */
export interface MockAppServerPair {
  readonly transport: TransportModule.Service
  readonly peer: Peer
}

// -------------------------------------------------------------------------------------------------
// implementation
// -------------------------------------------------------------------------------------------------

const parseClientLine = (line: string): ClientMessage => {
  const message = JsonRpc.parseLine(line)
  switch (message._tag) {
    case "Request":
      return { _tag: "Request", id: message.id, method: message.method, params: message.params, line }
    case "Notification":
      return { _tag: "Notification", method: message.method, params: message.params, line }
    case "Response":
      return { _tag: "Response", id: message.id, result: message.result, line }
    case "ErrorResponse":
      return { _tag: "ErrorResponse", id: message.id, error: message.error, line }
    case "Malformed":
      return { _tag: "Malformed", reason: message.reason, line }
  }
}

const utf8 = new TextEncoder()

const splitText = (text: string): Array<string> => {
  const pieces = text.split("\n")
  if (pieces.length > 1 && pieces[pieces.length - 1] === "") pieces.pop()
  return pieces.map((piece) => piece.endsWith("\r") ? piece.slice(0, -1) : piece)
}

const causeLines = (cause: Cause.Cause<unknown>): Array<string> => Cause.pretty(cause).split("\n")

/**
 * Creates a mock transport and its peer. Scoped: closing the scope closes the transport (as
 * {@link Peer.close}) and interrupts the background handlers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<MockAppServerPair, never, Scope.Scope> =>
  Effect.gen(function*() {
    const autoInitialize = options.autoInitialize ?? true
    const initializeResult: InitializeResult = {
      ...defaultInitializeResponse,
      ...options.initializeResponse,
      ...(options.userAgent === undefined ? {} : { userAgent: options.userAgent })
    }
    const maxLineBytes = options.maxLineBytes

    /** Client messages for the peer's script. */
    const inbox = yield* Mailbox.make<ClientMessage>()
    const diagnostics = yield* Effect.acquireRelease(
      PubSub.unbounded<TransportModule.Diagnostic | null>(),
      PubSub.shutdown
    )
    const closedDeferred = yield* Deferred.make<TransportModule.TransportError>()
    const runFork = yield* FiberSet.makeRuntime<never, unknown, unknown>()
    /** Lines from the peer to the client, delivered like StdioTransport delivers stdout (memory: never paused). */
    const incoming = TransportModule.makeDelivery({ pause: () => {}, resume: () => {}, fork: (effect) => void runFork(effect) })

    const history: Array<ClientMessage> = []
    const handlers = new Map<string, RequestHandler>()
    const serverRequests = new Map<JsonRpc.RequestId, Deferred.Deferred<ClientReply, TransportModule.TransportError>>()
    let closedWith: TransportModule.TransportError | undefined
    let nextServerId = 0
    let initialized = false

    // ---- the peer writes -------------------------------------------------------------------

    const writeLine = (line: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (closedWith !== undefined) return Effect.void
        if (maxLineBytes !== undefined) {
          const bytes = utf8.encode(line).length
          if (bytes > maxLineBytes) {
            return PubSub.publish(diagnostics, new LineTooLongError({ bytes, limit: maxLineBytes }))
          }
        }
        incoming.push([line])
        return Effect.void
      })

    const respond = (id: JsonRpc.RequestId, result: unknown) =>
      writeLine(JsonRpc.encodeResponse(id, result === undefined ? null : result))

    const respondError = (id: JsonRpc.RequestId | null, error: JsonRpc.ErrorObject) =>
      writeLine(JSON.stringify({ id, error }))

    const notify = (method: string, params?: unknown, notifyOptions?: { readonly emittedAtMs?: number }) =>
      Effect.flatMap(
        notifyOptions?.emittedAtMs === undefined ? Clock.currentTimeMillis : Effect.succeed(notifyOptions.emittedAtMs),
        (emittedAtMs) =>
          writeLine(JSON.stringify(params === undefined ? { method, emittedAtMs } : { method, params, emittedAtMs }))
      )

    const request = (method: string, params?: unknown, requestOptions?: { readonly id?: JsonRpc.RequestId }) =>
      Effect.suspend(() => {
        const id = requestOptions?.id ?? nextServerId++
        const deferred = Deferred.unsafeMake<ClientReply, TransportModule.TransportError>(FiberId.none)
        if (closedWith !== undefined) {
          Deferred.unsafeDone(deferred, Exit.fail(closedWith))
        } else {
          serverRequests.set(id, deferred)
        }
        const pending: PendingServerRequest = { id, reply: Deferred.await(deferred) }
        return Effect.as(writeLine(JsonRpc.encodeRequest(id, method, params)), pending)
      })

    const sendRaw = (text: string) => Effect.forEach(splitText(text), writeLine, { discard: true })

    // ---- the client writes -----------------------------------------------------------------

    const runHandler = (handler: RequestHandler, message: ClientRequest) =>
      runFork(
        Effect.suspend(() => handler(message.params, message)).pipe(
          Effect.matchCauseEffect({
            onSuccess: (result) => respond(message.id, result),
            onFailure: (cause) => {
              const failure = Cause.failureOption(cause)
              if (Option.isSome(failure)) return respondError(message.id, failure.value)
              if (Cause.isInterruptedOnly(cause)) return Effect.void
              return respondError(message.id, {
                code: -32603,
                message: `MockAppServer: the handler of ${message.method} died`,
                data: causeLines(cause)
              })
            }
          })
        )
      )

    /** Routes one client message; returns whether it goes to the inbox. */
    const route = (message: ClientMessage): boolean => {
      switch (message._tag) {
        case "Request": {
          const handler = handlers.get(message.method)
          if (handler !== undefined) {
            runHandler(handler, message)
            return false
          }
          if (autoInitialize && message.method === "initialize") {
            incoming.push([
              initialized
                ? JSON.stringify({ id: message.id, error: { code: -32600, message: "Already initialized" } })
                : JsonRpc.encodeResponse(message.id, initializeResult)
            ])
            initialized = true
            return false
          }
          return true
        }
        case "Notification":
          return !(autoInitialize && message.method === "initialized")
        case "Response":
        case "ErrorResponse": {
          const deferred = message.id === null ? undefined : serverRequests.get(message.id)
          if (deferred === undefined || message.id === null) return true
          serverRequests.delete(message.id)
          Deferred.unsafeDone(deferred, Exit.succeed(message))
          return false
        }
        case "Malformed":
          return true
      }
    }

    const send = (line: string): Effect.Effect<void, TransportModule.TransportError> =>
      Effect.suspend(() => {
        if (closedWith !== undefined) return Effect.fail(closedWith)
        if (line.includes("\n")) return Effect.dieMessage("Transport.send: a line must not contain \"\\n\"")
        const message = parseClientLine(line)
        history.push(message)
        if (route(message)) inbox.unsafeOffer(message)
        return Effect.void
      })

    // ---- closing ---------------------------------------------------------------------------

    const shutdown = (error: TransportModule.TransportError, exit: Exit.Exit<void, TransportModule.TransportError>) =>
      Effect.suspend(() => {
        if (closedWith !== undefined) return Effect.void
        closedWith = error
        incoming.end(Exit.isSuccess(exit) ? undefined : error)
        inbox.unsafeDone(Exit.void)
        for (const deferred of serverRequests.values()) Deferred.unsafeDone(deferred, Exit.fail(error))
        serverRequests.clear()
        return Effect.zipRight(Deferred.succeed(closedDeferred, error), PubSub.publish(diagnostics, null))
      })

    const die = (dieOptions: DieOptions = {}): Effect.Effect<ProcessExitedError> =>
      Effect.suspend(() => {
        const signal = dieOptions.signal ?? null
        const error = new ProcessExitedError({
          exitCode: dieOptions.exitCode === undefined ? (signal === null ? 1 : null) : dieOptions.exitCode,
          signal,
          stderrTail: [...(dieOptions.stderrTail ?? [])]
        })
        return Effect.as(shutdown(error, Exit.fail(error)), error)
      })

    const close = shutdown(new TransportClosedError({ reason: "the mock app-server closed the connection" }), Exit.void)

    yield* Effect.addFinalizer(() =>
      shutdown(new TransportClosedError({ reason: "the mock transport was released by its owner" }), Exit.void)
    )

    // ---- reading the inbox -----------------------------------------------------------------

    const take: Effect.Effect<ClientMessage> = Effect.catchTag(
      inbox.take,
      "NoSuchElementException",
      () => Effect.dieMessage("MockAppServer: the transport closed before the client sent another message")
    )

    const expectRequest = (method: string): Effect.Effect<ClientRequest> =>
      Effect.flatMap(take, (message) =>
        message._tag === "Request" && message.method === method ? Effect.succeed(message) : expectRequest(method))

    const expectNotification = (method: string): Effect.Effect<ClientNotification> =>
      Effect.flatMap(take, (message) =>
        message._tag === "Notification" && message.method === method
          ? Effect.succeed(message)
          : expectNotification(method))

    // a non-empty mailbox answers `take` at once, so this never waits
    const poll: Effect.Effect<Option.Option<ClientMessage>> = Effect.suspend(() =>
      Option.getOrElse(inbox.unsafeSize(), () => 0) > 0 ? Effect.asSome(take) : Effect.succeedNone
    )

    const handshake = (response?: Partial<InitializeResult>) =>
      Effect.gen(function*() {
        const init = yield* expectRequest("initialize")
        yield* respond(init.id, { ...initializeResult, ...response })
        initialized = true
        yield* expectNotification("initialized")
        return init
      })

    const peer: Peer = {
      // one message per pull, so that a partial run (`Stream.take(n)`) leaves the rest queued
      received: Stream.repeatEffectOption(
        Effect.catchTag(inbox.take, "NoSuchElementException", () => Effect.fail(Option.none()))
      ),
      take,
      poll,
      history: Effect.sync(() => history.slice()),
      expectRequest,
      expectNotification,
      respond,
      respondError,
      notify,
      request,
      call: (method, params, requestOptions) =>
        Effect.flatMap(request(method, params, requestOptions), (pending) => pending.reply),
      sendRaw,
      handle: (method, handler) => Effect.sync(() => void handlers.set(method, handler)),
      handshake,
      die,
      close,
      closed: Deferred.await(closedDeferred)
    }

    const transport: TransportModule.Service = {
      send,
      incoming: incoming.incoming,
      listen: incoming.listen,
      closed: Deferred.await(closedDeferred),
      diagnostics: Stream.unwrapScoped(
        Effect.map(PubSub.subscribe(diagnostics), (queue): Stream.Stream<TransportModule.Diagnostic> =>
          closedWith !== undefined
            ? Stream.empty
            : Stream.fromQueue(queue).pipe(
              Stream.takeWhile((item): item is TransportModule.Diagnostic => item !== null)
            ))
      )
    }

    return { transport, peer }
  })

/**
 * The mock as layers: `Transport` for the SDK (put `RpcConnection.layer()` on top) and
 * {@link MockAppServer} for the test. `script`, when given, runs in the background for the life of
 * the layer (see {@link LayerOptions.script}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: LayerOptions = {}): Layer.Layer<Transport | MockAppServer> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const { peer, transport } = yield* make(options)
      const script = options.script
      if (script !== undefined) {
        yield* Effect.suspend(() => script(peer)).pipe(
          Effect.catchAllCause((cause) =>
            Cause.isInterruptedOnly(cause)
              ? Effect.void
              : Effect.asVoid(peer.die({ exitCode: 101, stderrTail: ["MockAppServer: the script failed", ...causeLines(cause)] }))
          ),
          Effect.forkScoped
        )
        // let the script run up to its first wait, so that the handlers it registers are in place
        // before the layer is handed out (a forked fiber starts only on the next scheduler tick)
        yield* Effect.yieldNow()
      }
      return Context.make(Transport, transport).pipe(Context.add(MockAppServer, peer))
    })
  )
