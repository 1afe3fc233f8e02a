/**
 * The JSON-RPC connection over a `Transport`: the `initialize` handshake, typed requests with
 * deadlines and overload retries, notifications fanned out to subscribers, server requests
 * dispatched to a handler and always answered, and one typed failure for everything pending when
 * the peer goes away.
 *
 * Routing is by shape (see `JsonRpc.classify`): server-request ids start at 0 and collide with
 * ours. A line that is not JSON-RPC, or whose params do not decode, is a `ProtocolDecodeError` on
 * `diagnostics` and in the log, and the connection goes on; a notification whose params do not
 * decode is still delivered, raw, as an `UnknownNotification` (method `"$unknown"`, the real one in
 * `rawMethod`) with reason "undecodable".
 *
 * The reader runs in the transport's own read callback (`Transport.listen`): each batch of lines
 * is parsed, decoded and routed with a map lookup by thread id into the subscribers' mailboxes,
 * with no fiber and no queue in between.
 *
 * Buffering policy: each subscription has a bounded mailbox (`notificationBuffer`, default 16384
 * messages) with back-pressure. Nothing is dropped: a subscriber that falls that far behind pauses
 * the reads from the transport, and so the server. Subscriptions are scoped; close the ones you
 * stop reading. Diagnostics are kept in a sliding buffer of 256 (older ones are dropped, never the
 * connection).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Protocol from "@effect-codex/protocol/generated/Schemas"
import { codexVersion } from "@effect-codex/protocol/generated/Version"
import * as JsonRpc from "@effect-codex/protocol/JsonRpc"
import * as Registry from "@effect-codex/protocol/Registry"
import { type CodexConfig, defaultRequestTimeout } from "./CodexConfig.js"
import {
  excerpt,
  ExperimentalApiRequiredError,
  fromJsonRpcError,
  type JsonRpcError,
  MethodNotFoundError,
  type LineTooLongError,
  ProtocolDecodeError,
  type RequestTimeoutError,
  RequestTimeoutError as Timeout,
  TransportClosedError,
  VersionMismatchError
} from "./CodexError.js"
import { retryOnOverload } from "./Retry.js"
import * as ServerRequests from "./ServerRequests.js"
import { Transport, type TransportError } from "./Transport.js"

/**
 * Options of one request.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestOptions {
  /** Deadline of each attempt. Default: `requestTimeout` of the config (120 s). */
  readonly timeout?: Duration.DurationInput
  /** Overload retries for this request; `false` turns them off. Default: the config's policy. */
  readonly retry?: CodexConfig["retry"]
}

/**
 * The arguments after the method: params (optional for methods without them) and options.
 *
 * @since 0.1.0
 * @category models
 */
export type RequestArgs<M extends Registry.ClientRequestMethod> = M extends Registry.ClientRequestWithoutParams
  ? [params?: Registry.ClientRequestParams<M>, options?: RequestOptions]
  : [params: Registry.ClientRequestParams<M>, options?: RequestOptions]

/**
 * Why a request failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type RequestError =
  | JsonRpcError
  | RequestTimeoutError
  | TransportError
  | ProtocolDecodeError
  | ExperimentalApiRequiredError

/**
 * What subscribers receive: decoded notifications of known methods, and the others raw.
 *
 * @since 0.1.0
 * @category models
 */
export type Notification = Registry.ServerNotification | Registry.UnknownNotification

/**
 * Something that went wrong without stopping the connection.
 *
 * @since 0.1.0
 * @category models
 */
export type Diagnostic = ProtocolDecodeError | LineTooLongError

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace RpcConnection {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The server's answer to `initialize` (userAgent, codexHome, platform). */
    readonly server: Protocol.InitializeResponse
    /** The configuration the connection was started with (`experimentalApi`, `toolTimeout`, `turnIdleTimeout`, …). */
    readonly config: CodexConfig
    /** The server's version, read from its user agent (`undefined` if it does not say). */
    readonly serverVersion: string | undefined
    /** Sends a typed request and waits for its typed result. */
    readonly request: <M extends Registry.ClientRequestMethod>(
      method: M,
      ...args: RequestArgs<M>
    ) => Effect.Effect<Registry.ClientRequestResult<M>, RequestError>
    /**
     * Subscribes now (nothing published after this point is missed) and returns the stream of
     * notifications, to be consumed within the scope. It fails with the transport's error, after
     * everything received before it, when the connection goes away.
     */
    readonly subscribe: Effect.Effect<Stream.Stream<Notification, TransportError>, never, Scope.Scope>
    /**
     * Subscribes now to the notifications of one thread (those whose params carry its `threadId`,
     * and its `thread/started`), routed to the subscription by a map lookup.
     */
    readonly subscribeThread: (threadId: string) => Effect.Effect<Subscription, never, Scope.Scope>
    /**
     * `subscribeThread` without a scope and without a mailbox (no effect, no fiber): what arrives
     * is kept until `forward`; the caller closes it with `unsafeClose`. For a consumer that
     * forwards at once (`Thread.run`).
     */
    readonly unsafeSubscribeThread: (threadId: string) => DirectSubscription
    /** Every notification from the moment the stream is run (a subscription per run). */
    readonly notifications: Stream.Stream<Notification, TransportError>
    /** Decode errors and dropped lines, from the moment the stream is run. */
    readonly diagnostics: Stream.Stream<Diagnostic>
    /** Subscribes to decode errors now (nothing reported after this point is missed); scoped. */
    readonly subscribeDiagnostics: Effect.Effect<Stream.Stream<ProtocolDecodeError>, never, Scope.Scope>
    /** How many undecodable messages the connection has seen so far. */
    readonly decodeErrors: Effect.Effect<number>
    /** Completes, with the reason, when the connection is gone. */
    readonly closed: Effect.Effect<TransportError>
  }
}

/**
 * The connection to one `codex app-server`.
 *
 * @since 0.1.0
 * @category tags
 */
export class RpcConnection extends Context.Tag("@effect-codex/app-server/RpcConnection")<
  RpcConnection,
  RpcConnection.Service
>() {}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly config?: CodexConfig
  /** Answers server requests. Default: {@link ServerRequests.refuseAll} (fail closed). */
  readonly handler?: ServerRequests.Handler
  /** Capacity of each subscription's mailbox, in notifications (see the module docs). Default 16384. */
  readonly notificationBuffer?: number
}

/**
 * One subscription, and what the current batch of lines holds for it. Its notifications go to
 * its receiver once it has one, else to its mailbox (`subscribe`, `subscribeThread`), else (a
 * direct subscription, `unsafeSubscribeThread`) into `held` until it is forwarded.
 */
interface Subscriber {
  readonly mailbox: Mailbox.Mailbox<Notification, TransportError> | undefined
  batch: Array<Notification> | undefined
  /** Set by `Subscription.forward`: batches go to it, in the reader, instead of the mailbox. */
  receiver: Receiver | undefined
  held: Array<Notification>
  /** A direct subscription's end, before it was forwarded. */
  ended: TransportError | undefined
}

/**
 * Takes a subscription's notifications synchronously, in the connection's reader (see
 * `Subscription.forward`): keep it short and never block.
 *
 * @since 0.1.0
 * @category models
 */
export interface Receiver {
  readonly onBatch: (batch: ReadonlyArray<Notification>) => void
  /** The connection went away (after the last batch). */
  readonly onEnd: (error: TransportError) => void
}

/**
 * A subscription without a mailbox (`unsafeSubscribeThread`).
 *
 * @since 0.1.0
 * @category models
 */
export interface DirectSubscription {
  /** As `Subscription.forward`: what arrived so far, then each later batch, goes to `receiver`. */
  readonly forward: (receiver: Receiver) => Effect.Effect<void>
  /** Ends the subscription. */
  readonly unsafeClose: () => void
}

/**
 * A subscription to one thread's notifications (`subscribeThread`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Subscription {
  /**
   * The notifications (make it a stream with `Mailbox.toStream`). It fails with the transport's
   * error, after what it holds, when the connection goes away, and ends when the scope closes.
   */
  readonly mailbox: Mailbox.ReadonlyMailbox<Notification, TransportError>
  /**
   * Switches the subscription to a callback: what the mailbox holds, then each later batch, goes
   * to `receiver` synchronously, in the connection's reader, with no fiber in between (the mailbox
   * is not used any more). This is how `Turn.run` collects a turn with one wake-up per turn.
   */
  readonly forward: (receiver: Receiver) => Effect.Effect<void>
}

/** The thread a notification belongs to (`params.threadId`, or the thread of `thread/started`). */
const threadOf = (n: Notification): string | undefined => {
  // Hot path (every notification): no allocation.
  const params = n.params as { threadId?: unknown; thread?: { id?: unknown } } | null | undefined
  if (typeof params !== "object" || params === null) return undefined
  if (typeof params.threadId === "string") return params.threadId
  return n.method === "thread/started" && typeof params.thread?.id === "string" ? params.thread.id : undefined
}

interface Pending {
  readonly method: string
  readonly deferred: Deferred.Deferred<unknown, JsonRpcError | TransportError | RequestTimeoutError>
}

const defaultClientInfo = { name: "effect_codex", title: "effect-codex", version: "0.1.0" } as const

const versionOf = (userAgent: string): string | undefined => /\/(\d+\.\d+\.\d+[^\s(]*)/.exec(userAgent)?.[1]

/**
 * Starts a connection over the `Transport` in context: starts the reader, performs the
 * `initialize` / `initialized` handshake and checks the server's version. Scoped: closing the
 * scope stops the reader and the handlers (the transport is released by its own layer).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  RpcConnection.Service,
  RequestError | VersionMismatchError,
  Transport | Scope.Scope
> =>
  Effect.gen(function*() {
    const config = options.config ?? {}
    const handler = options.handler ?? ServerRequests.refuseAll
    const transport = yield* Transport
    const requestTimeout = config.requestTimeout === undefined ? defaultRequestTimeout : Duration.decode(config.requestTimeout)

    const capacity = options.notificationBuffer ?? 16384
    const diagnostics = yield* Effect.acquireRelease(PubSub.sliding<ProtocolDecodeError>(256), PubSub.shutdown)
    const closed = yield* Deferred.make<TransportError>()
    /** Runs handlers and reports off the read callback, each on a fiber of its own. */
    const runFork = yield* FiberSet.makeRuntime<never, void, never>()
    const pending = new Map<JsonRpc.RequestId, Pending>()
    let closedWith: TransportError | undefined
    let nextId = 1

    let decodeErrors = 0
    const report = (error: ProtocolDecodeError) =>
      Effect.suspend(() => {
        decodeErrors++
        return Effect.zipRight(
          Effect.logWarning("codex app-server: undecodable message", error.message),
          PubSub.publish(diagnostics, error)
        )
      })

    /** Requests whose caller gave up (timeout, interruption), so that a late answer is expected. */
    const abandoned = new Map<JsonRpc.RequestId, string>()
    const abandon = (id: JsonRpc.RequestId, method: string) => {
      abandoned.set(id, method)
      if (abandoned.size > 1024) abandoned.delete(abandoned.keys().next().value!) // oldest first
    }

    // ---- writing -------------------------------------------------------------------------

    const reply = (id: JsonRpc.RequestId, method: string, answer: ServerRequests.Answer) => {
      if (answer._tag === "Error") {
        return transport.send(JsonRpc.encodeErrorResponse(id, { code: answer.code, message: answer.message }))
      }
      const encoded = Registry.isServerRequestMethod(method)
        ? Registry.encodeServerRequestResult(method, answer.result)
        : Either.right(answer.result)
      return Either.isRight(encoded)
        ? transport.send(JsonRpc.encodeResponse(id, encoded.right))
        : Effect.zipRight(
          report(new ProtocolDecodeError({ line: excerpt(JSON.stringify(answer.result)), reason: `invalid answer to ${method}: ${encoded.left.message}` })),
          transport.send(JsonRpc.encodeErrorResponse(id, { code: -32603, message: "the client produced an invalid answer" }))
        )
    }

    /** Runs the handler for one server request on its own fiber; always answers. */
    const dispatch = (id: JsonRpc.RequestId, method: string, params: unknown) => {
      const decoded = Registry.decodeServerRequest(id, method, params)
      const answer: Effect.Effect<void, TransportError> = decoded === undefined
        ? transport.send(JsonRpc.encodeErrorResponse(id, { code: -32601, message: `unknown server request method ${method}` }))
        : Either.isLeft(decoded)
        ? Effect.zipRight(
          report(new ProtocolDecodeError({ line: excerpt(JSON.stringify({ id, method, params })), reason: decoded.left.message })),
          transport.send(JsonRpc.encodeErrorResponse(id, { code: -32602, message: `undecodable params for ${method}` }))
        )
        : handler(decoded.right).pipe(
          Effect.catchAllCause((cause) =>
            Effect.as(
              Effect.logError(`codex app-server: the handler of ${method} failed; answering with an error`, cause),
              ServerRequests.error(`the client's handler for ${method} failed`)
            )
          ),
          Effect.flatMap((a) => reply(id, method, a))
        )
      runFork(Effect.ignore(answer))
    }

    // ---- reading -------------------------------------------------------------------------

    const settle = (message: JsonRpc.Incoming & { _tag: "Response" | "ErrorResponse" }, line: string) => {
      const entry = message.id === null ? undefined : pending.get(message.id)
      if (entry === undefined) {
        const method = message.id === null ? undefined : abandoned.get(message.id)
        if (method === undefined) {
          runFork(report(new ProtocolDecodeError({ line: excerpt(line), reason: "a response to no pending request" })))
          return
        }
        abandoned.delete(message.id!)
        const late = new ProtocolDecodeError({ line: excerpt(line), reason: `a late response to ${method}, whose caller gave up` })
        runFork(Effect.zipRight(Effect.logDebug("codex app-server: late response", late.message), PubSub.publish(diagnostics, late)))
        return
      }
      pending.delete(message.id!)
      Deferred.unsafeDone(
        entry.deferred,
        message._tag === "Response" ? Exit.succeed(message.result) : Exit.fail(fromJsonRpcError(message.error, entry.method))
      )
    }

    // Subscriptions to every notification, and to the notifications of one thread. Arrays, replaced
    // on change, not sets: iterating them allocates nothing, a change during an iteration does not
    // disturb it, and they hold one or two subscribers.
    let everything: Array<Subscriber> = []
    const byThread = new Map<string, Array<Subscriber>>()
    /** The subscribers that received something from the batch being read. */
    let touched: Array<Subscriber> = []
    const add = (subscriber: Subscriber, n: Notification) => {
      if (subscriber.batch === undefined) {
        subscriber.batch = [n]
        touched.push(subscriber)
      } else {
        subscriber.batch.push(n)
      }
    }
    const route = (n: Notification) => {
      for (let i = 0; i < everything.length; i++) add(everything[i]!, n)
      if (byThread.size === 0) return
      const threadId = threadOf(n)
      const subscribers = threadId === undefined ? undefined : byThread.get(threadId)
      if (subscribers !== undefined) for (let i = 0; i < subscribers.length; i++) add(subscribers[i]!, n)
    }

    const deliverTo = (receiver: Receiver, batch: ReadonlyArray<Notification>) => {
      try {
        receiver.onBatch(batch)
      } catch (defect) {
        runFork(Effect.logError("codex app-server: a subscription's receiver threw", defect))
      }
    }

    /** The server requests of the batch being read. */
    let requests: Array<JsonRpc.Incoming & { readonly _tag: "Request" }> = []

    /** One batch of lines, in the transport's read callback; returns an Effect only to apply back-pressure. */
    const readLines = (lines: Array<string>): Effect.Effect<void> | undefined => {
      if (closedWith !== undefined) return undefined
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!
        let value: unknown
        try {
          value = JSON.parse(line)
        } catch (error) {
          runFork(report(new ProtocolDecodeError({ line: excerpt(line), reason: JsonRpc.invalidJson(error).reason })))
          continue
        }
        if (JsonRpc.isNotification(value)) {
          // the hot path: no envelope, no Either
          const { method, params } = value
          const emittedAtMs = typeof value.emittedAtMs === "number" ? value.emittedAtMs : undefined
          const decoded = Registry.decodeNotificationOrUndefined(method, params, emittedAtMs)
          if (decoded !== undefined) {
            route(decoded)
          } else {
            route(Registry.unknownNotification(method, params, emittedAtMs, "undecodable"))
            const error = Registry.decodeNotification(method, params, emittedAtMs)
            const reason = Either.isLeft(error) ? error.left.message : "undecodable params"
            runFork(report(new ProtocolDecodeError({ line: excerpt(line), reason })))
          }
          continue
        }
        const message = JsonRpc.classify(value)
        switch (message._tag) {
          case "Notification": // taken above
            break
          case "Request":
            requests.push(message)
            break
          case "Response":
          case "ErrorResponse":
            settle(message, line)
            break
          case "Malformed":
            runFork(report(new ProtocolDecodeError({ line: excerpt(line), reason: message.reason })))
        }
      }
      if (requests.length > 0) {
        // Handlers start once the subscribers have had their turn with what came before the
        // request (a live transcript shows the text before the approval prompt): after the
        // microtasks in which their fibers run.
        const batch = requests
        requests = []
        setImmediate(() => {
          for (const request of batch) dispatch(request.id, request.method, request.params)
        })
      }
      if (touched.length === 0) return undefined
      const receivers = touched
      touched = []
      let full: Array<Effect.Effect<unknown>> | undefined
      for (let i = 0; i < receivers.length; i++) {
        const subscriber = receivers[i]!
        const batch = subscriber.batch!
        subscriber.batch = undefined
        if (subscriber.receiver !== undefined) {
          deliverTo(subscriber.receiver, batch)
          continue
        }
        const mailbox = subscriber.mailbox
        if (mailbox === undefined) {
          for (let j = 0; j < batch.length; j++) subscriber.held.push(batch[j]!)
          continue
        }
        const rest = mailbox.unsafeOfferAll(batch)
        if (!Chunk.isEmpty(rest)) (full ??= []).push(mailbox.offerAll(rest))
      }
      return full === undefined ? undefined : Effect.all(full, { discard: true })
    }

    /** Fails everything pending and every subscriber with the same error, at once. */
    const shutdown = (error: TransportError) => {
      if (closedWith !== undefined) return
      closedWith = error
      for (const entry of pending.values()) Deferred.unsafeDone(entry.deferred, Exit.fail(error))
      pending.clear()
      Deferred.unsafeDone(closed, Exit.succeed(error))
      // after what each subscriber has not read yet
      const failed = Exit.fail(error)
      const end = (subscriber: Subscriber) => {
        if (subscriber.receiver !== undefined) subscriber.receiver.onEnd(error)
        else if (subscriber.mailbox !== undefined) subscriber.mailbox.unsafeDone(failed)
        else subscriber.ended = error
      }
      for (const subscriber of everything) end(subscriber)
      for (const subscribers of byThread.values()) for (const subscriber of subscribers) end(subscriber)
    }

    yield* transport.listen({
      onLines: readLines,
      onEnd: (error) => shutdown(error ?? new TransportClosedError({ reason: "the transport ended" }))
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => shutdown(new TransportClosedError({ reason: "the connection was closed" }))))

    // ---- requests ------------------------------------------------------------------------

    // Deadlines live in a table swept by one fiber per connection (sleeping on the Effect Clock,
    // so TestClock drives it) until the earliest deadline: no timer fiber per request. The clock
    // is the one in context when the connection was made.
    const connectionScope = yield* Effect.scope
    const clock = yield* Effect.clock
    const deadlines = new Map<JsonRpc.RequestId, { readonly deadline: number; readonly expire: () => void }>()
    let sweepAt = Infinity
    let sweeper: Fiber.RuntimeFiber<void> | undefined
    const sweep: Effect.Effect<void> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      let next = Infinity
      for (const [id, entry] of deadlines) {
        if (entry.deadline <= now) {
          deadlines.delete(id)
          entry.expire()
        } else if (entry.deadline < next) {
          next = entry.deadline
        }
      }
      sweepAt = next
      if (next === Infinity) {
        sweeper = undefined
        return Effect.void
      }
      return Effect.zipRight(Effect.sleep(Duration.millis(next - now)), sweep)
    })
    /** Replaces the sweeper with one that wakes up at `at` (earlier than the current plan). */
    const sweepFrom = (at: number, now: number) =>
      Effect.suspend(() => {
        const previous = sweeper
        sweepAt = at
        return Effect.map(
          Effect.forkIn(Effect.zipRight(Effect.sleep(Duration.millis(Math.max(0, at - now))), sweep), connectionScope),
          (fiber) => {
            sweeper = fiber
            if (previous !== undefined) previous.unsafeInterruptAsFork(fiber.id())
          }
        )
      })

    const attempt = (method: string, wireParams: unknown, timeout: Duration.Duration) =>
      Effect.suspend(() => {
        if (closedWith !== undefined) return Effect.fail(closedWith)
        const id = nextId++
        const deferred = Deferred.unsafeMake<unknown, JsonRpcError | TransportError | RequestTimeoutError>(FiberId.none)
        pending.set(id, { method, deferred })
        const now = clock.unsafeCurrentTimeMillis()
        const deadline = now + Duration.toMillis(timeout)
        deadlines.set(id, {
          deadline,
          expire: () => Deferred.unsafeDone(deferred, Exit.fail(new Timeout({ method, timeout })))
        })
        const exchange = transport.send(JsonRpc.encodeRequest(id, method, wireParams)).pipe(
          Effect.zipRight(Deferred.await(deferred)),
          Effect.ensuring(Effect.sync(() => {
            deadlines.delete(id)
            if (pending.delete(id)) abandon(id, method)
          }))
        )
        return deadline < sweepAt ? Effect.zipRight(sweepFrom(deadline, now), exchange) : exchange
      })

    const request = <M extends Registry.ClientRequestMethod>(
      method: M,
      ...args: RequestArgs<M>
    ): Effect.Effect<Registry.ClientRequestResult<M>, RequestError> =>
      Effect.suspend((): Effect.Effect<Registry.ClientRequestResult<M>, RequestError> => {
        const [params, requestOptions] = args as [Registry.ClientRequestParams<M> | undefined, RequestOptions | undefined]
        if (!Registry.isClientRequestMethod(method)) {
          // Only reachable from untyped callers (plain JavaScript); nothing is sent.
          return Effect.fail(new MethodNotFoundError({ message: `${method} is not a method of codex ${codexVersion}`, method }))
        }
        if (Registry.isExperimental(method) && config.experimentalApi !== true) {
          return Effect.fail(new ExperimentalApiRequiredError({ method }))
        }
        const encoded = params === undefined ? Either.right(undefined) : Registry.encodeRequestParams(method, params)
        if (Either.isLeft(encoded)) {
          return Effect.fail(new ProtocolDecodeError({ line: excerpt(String(method)), reason: `params of ${method} do not match its schema: ${encoded.left.message}` }))
        }
        const timeout = requestOptions?.timeout === undefined ? requestTimeout : Duration.decode(requestOptions.timeout)
        const retry = requestOptions?.retry ?? config.retry
        return attempt(method, encoded.right, timeout).pipe(
          retryOnOverload(retry === undefined ? {} : retry),
          Effect.flatMap((raw) => {
            const result = Registry.decodeRequestResult(method, raw)
            return Either.isRight(result)
              ? Effect.succeed(result.right)
              : Effect.fail(new ProtocolDecodeError({ line: excerpt(JSON.stringify(raw)), reason: `result of ${method}: ${result.left.message}` }))
          })
        )
      })

    // ---- subscriptions -------------------------------------------------------------------

    /** Opens a subscription, to every notification or to one thread's (`threadId`). */
    const open = (threadId: string | undefined, mailbox: Subscriber["mailbox"]): Subscriber => {
      const subscriber: Subscriber = { mailbox, batch: undefined, receiver: undefined, held: [], ended: closedWith }
      if (closedWith !== undefined) {
        mailbox?.unsafeDone(Exit.fail(closedWith))
      } else if (threadId === undefined) {
        everything = [...everything, subscriber]
      } else {
        const subscribers = byThread.get(threadId)
        byThread.set(threadId, subscribers === undefined ? [subscriber] : [...subscribers, subscriber])
      }
      return subscriber
    }
    /** Stops routing to a subscription. */
    const unregister = (threadId: string | undefined, subscriber: Subscriber): void => {
      subscriber.receiver = undefined
      if (threadId === undefined) {
        everything = everything.filter((s) => s !== subscriber)
      } else {
        const subscribers = byThread.get(threadId)?.filter((s) => s !== subscriber)
        if (subscribers === undefined || subscribers.length === 0) byThread.delete(threadId)
        else byThread.set(threadId, subscribers)
      }
    }
    /** A scoped subscription with a mailbox; closing it resumes a reader paused on that mailbox. */
    const subscribeTo = (threadId: string | undefined) =>
      Effect.acquireRelease(
        Effect.map(Mailbox.make<Notification, TransportError>({ capacity }), (mailbox) => open(threadId, mailbox)),
        (subscriber) => Effect.suspend(() => {
          unregister(threadId, subscriber)
          return subscriber.mailbox!.shutdown
        })
      )

    /** Switches a subscriber to a receiver, handing it what it holds first. */
    const forward = (subscriber: Subscriber, receiver: Receiver) =>
      Effect.sync(() => {
        if (subscriber.receiver !== undefined) throw new Error("RpcConnection: a subscription can be forwarded once")
        const held = subscriber.held
        subscriber.held = []
        let end = subscriber.ended
        if (subscriber.mailbox !== undefined) {
          for (;;) {
            const taken = Effect.runSyncExit(subscriber.mailbox.clear)
            if (Exit.isFailure(taken)) {
              const failure = Cause.failureOption(taken.cause)
              end = failure._tag === "Some" ? failure.value : closedWith
              break
            }
            if (Chunk.isEmpty(taken.value)) break
            for (const n of taken.value) held.push(n)
          }
          end ??= closedWith
        }
        subscriber.receiver = receiver
        if (held.length > 0) deliverTo(receiver, held)
        if (end !== undefined) receiver.onEnd(end)
      })

    /** A mailbox ends without a failure only when its subscription's scope closed. */
    const subscriptionClosed = Stream.suspend(() =>
      Stream.fail(closedWith ?? new TransportClosedError({ reason: "the subscription's scope was closed" }))
    )
    const subscribe = Effect.map(subscribeTo(undefined), (subscriber) => Stream.concat(Mailbox.toStream(subscriber.mailbox!), subscriptionClosed))

    // ---- handshake -----------------------------------------------------------------------

    const server = yield* request("initialize", {
      clientInfo: config.clientInfo ?? defaultClientInfo,
      capabilities: {
        experimentalApi: config.experimentalApi ?? false,
        ...(config.optOutNotificationMethods ? { optOutNotificationMethods: config.optOutNotificationMethods } : {})
      }
    })
    yield* transport.send(JsonRpc.encodeNotification("initialized", undefined))
    const serverVersion = versionOf(server.userAgent)
    if (serverVersion !== codexVersion) {
      const mismatch = new VersionMismatchError({ expected: codexVersion, actual: serverVersion ?? server.userAgent })
      if (config.strictVersion === true) return yield* Effect.fail(mismatch)
      yield* Effect.logWarning(mismatch.message)
    }

    return RpcConnection.of({
      config,
      server,
      serverVersion,
      request,
      subscribe,
      subscribeThread: (threadId) =>
        Effect.map(subscribeTo(threadId), (subscriber): Subscription => ({
          mailbox: subscriber.mailbox!,
          forward: (receiver) => forward(subscriber, receiver)
        })),
      unsafeSubscribeThread: (threadId) => {
        const subscriber = open(threadId, undefined)
        return {
          forward: (receiver) => forward(subscriber, receiver),
          unsafeClose: () => unregister(threadId, subscriber)
        }
      },
      notifications: Stream.unwrapScoped(subscribe),
      diagnostics: Stream.merge(Stream.fromPubSub(diagnostics), transport.diagnostics),
      subscribeDiagnostics: Effect.map(PubSub.subscribe(diagnostics), (queue) => Stream.fromQueue(queue)),
      decodeErrors: Effect.sync(() => decodeErrors),
      closed: Deferred.await(closed)
    })
  })

/**
 * A layer of the connection over the `Transport` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<RpcConnection, RequestError | VersionMismatchError, Transport> =>
  Layer.scoped(RpcConnection, make(options))
