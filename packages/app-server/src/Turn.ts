/**
 * A turn in progress (`TurnHandle`) and its outcome (`RunResult`).
 *
 * With an idle timeout (`TurnOptions.idleTimeout`, `CodexConfig.turnIdleTimeout`), a turn that
 * sends no event for that long is interrupted and its consumer fails with `TurnStalledError`: one
 * watchdog per turn ({@link Activity}: the reader stamps the time of each batch of the turn's
 * events, and one sleeping fiber checks the stamp when the timeout could be due), no timer per
 * event; nothing of it runs without a timeout.
 *
 * A turn's `stream` carries only this turn's notifications (routed by thread id and turn id),
 * including those that arrived before the `turn/start` response (the subscription is taken
 * before the request is sent), and ends after its `turn/completed`. `stream` and `run` consume
 * the turn: only one of them, once (`TurnConsumedError` otherwise). Interrupting the fiber that
 * consumes a turn, or closing the scope of an unfinished turn, sends `turn/interrupt`, so the
 * turn also ends on the server.
 *
 * @since 0.1.0
 */
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as JSONSchema from "effect/JSONSchema"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Protocol from "@effect-codex/protocol/generated/Schemas"
import * as Registry from "@effect-codex/protocol/Registry"
import { StructuredOutputError, TransportClosedError, TurnConsumedError, TurnFailedError, TurnStalledError } from "./CodexError.js"
import * as Input from "./Input.js"
import type { DirectSubscription, Notification, Receiver, RequestError, RpcConnection, Subscription } from "./RpcConnection.js"
import type { TransportError } from "./Transport.js"

/**
 * Token counts by kind: input (and its cached part), output (and its reasoning part), total.
 *
 * @since 0.1.0
 * @category models
 */
export type Tokens = Protocol.TokenUsageBreakdown

/**
 * Token usage after a turn: `total` over the thread (as the server reports it), `last` of the
 * latest model call, and `turn`, what this turn used (its model calls and compactions).
 *
 * @since 0.1.0
 * @category models
 */
export interface Usage extends Protocol.ThreadTokenUsage {
  /** The tokens this turn used: `total` at the turn's end minus `total` at its start, by kind. */
  readonly turn: Tokens
}

/**
 * A thread's token total as last reported (`thread/tokenUsage/updated`), shared by its turns: a
 * turn takes it as its baseline when it starts, and moves it on as reports arrive. `undefined`
 * when unknown (a resumed or forked thread before its first turn here).
 *
 * @since 0.1.0
 * @category models
 */
export interface UsageTracker {
  total: Tokens | undefined
}

/**
 * No tokens: the total of a thread that was just started.
 *
 * @since 0.1.0
 * @category constants
 */
export const noTokens: Tokens = {
  totalTokens: 0,
  inputTokens: 0,
  cachedInputTokens: 0,
  cacheWriteInputTokens: 0,
  outputTokens: 0,
  reasoningOutputTokens: 0
}

/**
 * The tokens used between two totals of a thread (`end - start`, by kind).
 *
 * @since 0.1.0
 * @category results
 */
export const tokensBetween = (start: Tokens, end: Tokens): Tokens => ({
  totalTokens: end.totalTokens - start.totalTokens,
  inputTokens: end.inputTokens - start.inputTokens,
  cachedInputTokens: end.cachedInputTokens - start.cachedInputTokens,
  cacheWriteInputTokens: (end.cacheWriteInputTokens ?? 0) - (start.cacheWriteInputTokens ?? 0),
  outputTokens: end.outputTokens - start.outputTokens,
  reasoningOutputTokens: end.reasoningOutputTokens - start.reasoningOutputTokens
})

const sameTokens = (a: Tokens, b: Tokens): boolean =>
  a.totalTokens === b.totalTokens && a.inputTokens === b.inputTokens && a.cachedInputTokens === b.cachedInputTokens &&
  (a.cacheWriteInputTokens ?? 0) === (b.cacheWriteInputTokens ?? 0) && a.outputTokens === b.outputTokens &&
  a.reasoningOutputTokens === b.reasoningOutputTokens

/**
 * The thread's total when a turn started, from what was known then (`known`) and the turn's
 * first usage report. Observed on 0.171.0 (docs/PROTOCOL.md, "Token usage"): a report follows
 * every model call (`last` is that call, `total` includes it), so the total before the first
 * call is `total - last` of the first report; but a report can also repeat the total unchanged
 * (a response without usage, the start of a compaction), which `known` recognizes. A `known`
 * total that matches neither is stale (turns this SDK did not see) and is ignored.
 */
const baselineOf = (known: Tokens | undefined, first: Protocol.ThreadTokenUsage): Tokens =>
  known !== undefined && sameTokens(known, first.total) ? known : tokensBetween(first.last, first.total)

/**
 * One call of a client-side tool during a turn, from its `dynamicToolCall` item.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCall {
  readonly callId: string
  readonly tool: string
  readonly namespace: string | undefined
  /** The arguments as the model sent them (before any decoding). */
  readonly arguments: unknown
  /** Whether the tool answered `success: true` (false for a refusal, a fault, an unknown tool). */
  readonly success: boolean
  /** What the tool answered. */
  readonly contentItems: ReadonlyArray<Protocol.DynamicToolCallOutputContentItem>
  /** How long the call took, as codex measured it. */
  readonly duration: Option.Option<Duration.Duration>
}

/**
 * The tool calls among a turn's items, in order.
 *
 * @since 0.1.0
 * @category results
 */
export const toolCallsOf = (items: ReadonlyArray<Protocol.ThreadItem>): ReadonlyArray<ToolCall> => {
  const calls: Array<ToolCall> = []
  for (const item of items) {
    if (item.type !== "dynamicToolCall") continue
    const call = item as Extract<Protocol.ThreadItem, { type: "dynamicToolCall" }>
    calls.push({
      callId: call.id,
      tool: call.tool,
      namespace: call.namespace ?? undefined,
      arguments: call.arguments,
      success: call.success === true,
      contentItems: call.contentItems ?? [],
      duration: call.durationMs === null || call.durationMs === undefined ? Option.none() : Option.some(Duration.millis(call.durationMs))
    })
  }
  return calls
}

/**
 * The result of a turn from its items (the completed ones, else those `turn/completed` carried),
 * its usage and the turn itself: the final answer and the tool calls are read from the items.
 *
 * @since 0.1.0
 * @category results
 */
export const runResultOf = (
  items: ReadonlyArray<Protocol.ThreadItem>,
  usage: Option.Option<Usage>,
  turn: Protocol.Turn
): RunResult => ({ finalResponse: finalResponseOf(items), items, toolCalls: toolCallsOf(items), usage, turn })

/**
 * The outcome of a completed (or interrupted) turn.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunResult {
  /** The final answer: the last agent message of phase `final_answer`, else the last one without a phase. */
  readonly finalResponse: Option.Option<string>
  /** Every item the turn completed, in order (`item/completed`). */
  readonly items: ReadonlyArray<Protocol.ThreadItem>
  /** The client-side tool calls among the items (`dynamicToolCall`), in order. */
  readonly toolCalls: ReadonlyArray<ToolCall>
  /** Token usage reported during the turn (`thread/tokenUsage/updated`), if any. */
  readonly usage: Option.Option<Usage>
  /** The turn as `turn/completed` reported it (status `completed` or `interrupted`). */
  readonly turn: Protocol.Turn
}

/**
 * A {@link RunResult} with the final answer decoded by the turn's `outputSchema`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StructuredRunResult<A> extends RunResult {
  readonly output: A
}

/**
 * Why consuming a turn failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type StreamError = TransportError | TurnConsumedError | TurnStalledError

/**
 * Why `run` failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type RunError = StreamError | TurnFailedError

/**
 * A turn that has started.
 *
 * @since 0.1.0
 * @category models
 */
export interface TurnHandle<Result extends RunResult = RunResult, E = never> {
  readonly id: string
  readonly threadId: string
  /** This turn's notifications, ending after `turn/completed`. */
  readonly stream: Stream.Stream<Notification, StreamError>
  /** Waits for the end of the turn and collects its result. Fails with `TurnFailedError` if the turn failed. */
  readonly run: Effect.Effect<Result, RunError | E>
  /**
   * Like `run`, calling `onEvent` with each notification as it arrives (live output) — a stream
   * and a result in one pass. Consumes the turn, like `stream` and `run`.
   */
  readonly runWith: <E2, R2>(onEvent: (event: Notification) => Effect.Effect<void, E2, R2>) => Effect.Effect<Result, RunError | E | E2, R2>
  /** Adds input to the running turn (`turn/steer` with `expectedTurnId`). */
  readonly steer: (input: Input.Input) => Effect.Effect<void, RequestError>
  /** Asks the server to interrupt the turn; it then completes with status `interrupted`. */
  readonly interrupt: Effect.Effect<void, RequestError>
  /**
   * A fresh {@link Collector} for this turn, for consumers of `stream` who also want its
   * {@link RunResult}: `add` each event, then read `result` (what `run` does).
   */
  readonly collector: () => Collector
}

/**
 * Whether a notification belongs to the given turn of the given thread.
 *
 * @since 0.1.0
 * @category routing
 */
export const belongsTo = (threadId: string, turnId: string) => (n: Notification): boolean => {
  // Hot path (every event of every subscription): no allocation.
  const params = n.params as { threadId?: unknown; turnId?: unknown; turn?: { id?: unknown } } | null | undefined
  if (typeof params !== "object" || params === null || params.threadId !== threadId) return false
  const id = params.turnId ?? params.turn?.id
  return id === undefined || id === turnId
}

/**
 * Whether a notification is the `turn/completed` of the given turn.
 *
 * @since 0.1.0
 * @category routing
 */
export const isCompletion = (turnId: string) => (n: Notification): boolean =>
  n.method === "turn/completed" && Registry.isKnownNotification(n) && n.params.turn.id === turnId

/**
 * The final answer among the items: the last agent message of phase `final_answer`, else the last
 * agent message without a phase.
 *
 * @since 0.1.0
 * @category results
 */
export const finalResponseOf = (items: ReadonlyArray<Protocol.ThreadItem>): Option.Option<string> => {
  let final: string | undefined
  let plain: string | undefined
  for (const item of items) {
    if (item.type !== "agentMessage") continue
    const { phase, text } = item as Extract<Protocol.ThreadItem, { type: "agentMessage" }>
    if (phase === "final_answer") final = text
    else if (phase === null || phase === undefined) plain = text
  }
  return Option.fromNullable(final ?? plain)
}

/**
 * Folds a turn's notifications into its result as they pass: the items (`item/completed`), the
 * usage reports (`thread/tokenUsage/updated`) and the completed turn (`turn/completed`).
 *
 * `baseline` is the thread's total when the turn started, if known (see {@link Usage}'s `turn`);
 * `tracker`, when given, is moved on by every usage report.
 *
 * @since 0.1.0
 * @category results
 */
export class Collector {
  /**
   * The completed items, in order.
   *
   * @since 0.1.0
   */
  readonly items: Array<Protocol.ThreadItem> = []
  /**
   * The turn as `turn/completed` reported it, once it arrived.
   *
   * @since 0.1.0
   */
  turn: Protocol.Turn | undefined = undefined
  /**
   * The turn's first usage report.
   *
   * @since 0.1.0
   */
  #first: Protocol.ThreadTokenUsage | undefined = undefined
  /**
   * The turn's latest usage report.
   *
   * @since 0.1.0
   */
  #last: Protocol.ThreadTokenUsage | undefined = undefined
  /**
   * The thread's total when the turn started, if known.
   *
   * @since 0.1.0
   */
  readonly #baseline: Tokens | undefined
  /**
   * Moved on by every usage report, when given.
   *
   * @since 0.1.0
   */
  readonly #tracker: UsageTracker | undefined

  constructor(
    readonly threadId: string,
    readonly turnId: string,
    options?: { readonly baseline?: Tokens | undefined; readonly tracker?: UsageTracker | undefined }
  ) {
    this.#baseline = options?.baseline
    this.#tracker = options?.tracker
  }

  /**
   * Takes one notification of the turn into account.
   *
   * @since 0.1.0
   */
  add(n: Notification): void {
    if (!Registry.isKnownNotification(n)) return
    if (n.method === "item/completed") this.items.push(n.params.item)
    else if (n.method === "thread/tokenUsage/updated") {
      const usage = n.params.tokenUsage
      this.#first ??= usage
      this.#last = usage
      if (this.#tracker !== undefined) this.#tracker.total = usage.total
    } else if (n.method === "turn/completed") this.turn = n.params.turn
  }

  /**
   * The usage reported so far (the latest report, with what the turn used), if any.
   *
   * @since 0.1.0
   */
  get usage(): Option.Option<Usage> {
    const first = this.#first
    const last = this.#last
    if (first === undefined || last === undefined) return Option.none()
    return Option.some({ ...last, turn: tokensBetween(baselineOf(this.#baseline, first), last.total) })
  }

  /**
   * The result; fails with `TurnFailedError` if the turn failed.
   *
   * @since 0.1.0
   */
  get result(): Effect.Effect<RunResult, TurnFailedError> {
    return Effect.suspend(() => {
      const turn = this.turn
      // The stream ends only after turn/completed or with a failure; reaching this is a bug.
      if (turn === undefined) return Effect.dieMessage(`turn ${this.turnId} ended without turn/completed`)
      if (turn.status === "failed") {
        return Effect.fail(
          new TurnFailedError({
            turnId: this.turnId,
            threadId: this.threadId,
            message: turn.error?.message ?? "the turn failed",
            codexErrorInfo: turn.error?.codexErrorInfo ?? null
          })
        )
      }
      const items = this.items.length > 0 ? this.items : turn.items
      return Effect.succeed(runResultOf(items, this.usage, turn))
    })
  }
}

/**
 * Decodes the final answer with an output schema.
 *
 * @since 0.1.0
 * @category results
 */
export const decodeOutput = <A, I>(schema: Schema.Schema<A, I>) => (result: RunResult): Effect.Effect<StructuredRunResult<A>, StructuredOutputError> => {
  const raw = Option.getOrElse(result.finalResponse, () => "")
  return Effect.try({ try: () => JSON.parse(raw) as unknown, catch: (cause) => new StructuredOutputError({ raw, cause }) }).pipe(
    Effect.flatMap((json) => Schema.decodeUnknown(schema)(json)),
    Effect.mapError((cause) => (cause instanceof StructuredOutputError ? cause : new StructuredOutputError({ raw, cause }))),
    Effect.map((output) => ({ ...result, output }))
  )
}

/**
 * The JSON Schema sent as `outputSchema` for an Effect Schema (strict mode: no `$schema` key).
 *
 * @since 0.1.0
 * @category results
 */
export const wireOutputSchema = <A, I>(schema: Schema.Schema<A, I>): unknown => {
  const { $schema: _, ...rest } = JSONSchema.make(schema) as unknown as Record<string, unknown>
  return rest
}

/**
 * Picks a turn's events out of one chunk of a subscription: the events that belong to the turn, up
 * to its completion (included). `kept` is `items` itself when all of them belong (the usual case:
 * no copy); `completed` tells whether the completion was among them.
 *
 * @since 0.1.0
 * @category routing
 */
export const selectTurn = <A>(
  items: ReadonlyArray<A>,
  belongs: (a: A) => boolean,
  isDone: (a: A) => boolean
): { readonly kept: ReadonlyArray<A>; readonly completed: boolean } => {
  let kept: Array<A> | undefined
  for (let i = 0; i < items.length; i++) {
    const a = items[i]!
    if (!belongs(a)) {
      if (kept === undefined) kept = items.slice(0, i)
      continue
    }
    if (kept !== undefined) kept.push(a)
    if (isDone(a)) return { kept: kept ?? items.slice(0, i + 1), completed: true }
  }
  return { kept: kept ?? items, completed: false }
}

/**
 * A turn's events out of a subscription as a channel, one pass per chunk (see {@link selectTurn}):
 * ends after the completion (included) and calls `onDone` when it sees it. Chunks stay whole all
 * the way to the consumer.
 *
 * @since 0.1.0
 * @category routing
 */
export const takeTurn = <A, E>(
  belongs: (a: A) => boolean,
  isDone: (a: A) => boolean,
  onDone: () => void
): Channel.Channel<Chunk.Chunk<A>, Chunk.Chunk<A>, E, E, void, unknown> => {
  const loop: Channel.Channel<Chunk.Chunk<A>, Chunk.Chunk<A>, E, E, void, unknown> = Channel.readWithCause({
    onInput: (input: Chunk.Chunk<A>) => {
      const items = Chunk.toReadonlyArray(input)
      const { completed, kept } = selectTurn(items, belongs, isDone)
      const out = kept === items ? input : Chunk.unsafeFromArray(kept as Array<A>)
      if (completed) {
        onDone()
        return Channel.write(out)
      }
      return kept.length === 0 ? loop : Channel.zipRight(Channel.write(out), loop)
    },
    onFailure: Channel.failCause,
    onDone: () => Channel.void
  })
  return loop
}

/**
 * The last sign of life of a turn, for its idle watchdog: `note` stamps it (from the reader, once
 * per batch of the turn's events) and `watch` fails once `timeout` passed without one.
 *
 * @since 0.1.0
 * @category internal
 */
export class Activity {
  /**
   * When the last event arrived (epoch ms by `clock`), or when the watch started.
   *
   * @since 0.1.0
   */
  at: number
  /**
   * The method of the last event, `null` before the first.
   *
   * @since 0.1.0
   */
  event: string | null = null
  /**
   * The timeout in milliseconds.
   *
   * @since 0.1.0
   */
  readonly #timeoutMs: number

  constructor(readonly clock: Clock.Clock, readonly timeout: Duration.Duration) {
    this.at = clock.unsafeCurrentTimeMillis()
    this.#timeoutMs = Duration.toMillis(timeout)
  }

  /**
   * Records an event.
   *
   * @since 0.1.0
   */
  note(method: string): void {
    this.at = this.clock.unsafeCurrentTimeMillis()
    this.event = method
  }

  /**
   * Sleeps until the timeout could be due and checks the stamp, again and again; fails with
   * `TurnStalledError` once nothing came for `timeout` while `running()`. Never ends otherwise:
   * race it with the wait for the turn.
   *
   * @since 0.1.0
   */
  watch(threadId: string, turnId: () => string | null, running: () => boolean): Effect.Effect<never, TurnStalledError> {
    const check: Effect.Effect<never, TurnStalledError> = Effect.suspend(() => {
      if (!running()) return Effect.never
      const wait = this.at + this.#timeoutMs - this.clock.unsafeCurrentTimeMillis()
      if (wait > 0) return Effect.zipRight(this.clock.sleep(Duration.millis(wait)), check)
      return Effect.fail(
        new TurnStalledError({ threadId, turnId: turnId(), idleTimeout: this.timeout, lastEvent: this.event, lastEventAt: this.at })
      )
    })
    return check
  }
}

/**
 * The idle timeout of a turn: its own, else the connection's `turnIdleTimeout`; `undefined` when
 * off (neither given, or infinite).
 *
 * @since 0.1.0
 * @category internal
 */
export const idleTimeoutOf = (
  own: Duration.DurationInput | undefined,
  config: Duration.DurationInput | undefined
): Duration.Duration | undefined => {
  const input = own ?? config
  if (input === undefined) return undefined
  const timeout = Duration.decode(input)
  return Duration.isFinite(timeout) ? timeout : undefined
}

/** How long an interrupt refused with "no active turn" (see `makeHandle`) is retried. */
const interruptRetry = Schedule.spaced(Duration.millis(25)).pipe(Schedule.upTo(Duration.seconds(2)))
const isNotYetActive = (error: RequestError) => error._tag === "InvalidRequestError" && error.message.includes("no active turn")

/**
 * How long a finalizer of an unfinished turn waits for its interruption (the `turn/interrupt`
 * answer, then `turn/completed`) before it gives up and frees the thread anyway.
 *
 * @since 0.1.0
 * @category internal
 */
export const abortTimeout: Duration.Duration = Duration.seconds(10)

/**
 * Internal: builds a handle over a started turn. `events` is the thread's subscription, taken
 * before `turn/start` was sent; `done` is called once the turn completed (to free the thread),
 * and `freed`, when given, completes once the thread is free again: every consumer and the
 * finalizer wait for it, so that the next turn finds the thread free. `usage` is the thread's
 * token total (the turn's baseline now, moved on by its reports). With `idle`, the turn has an
 * idle watchdog (see the module docs) that starts now.
 *
 * `watcher` notices the turn's completion in the connection's reader, whoever reads `events`:
 * when `events` is a subscription with a mailbox, the caller forwards a second subscription of the
 * thread (a direct one, also taken before `turn/start`) to it. `finalize` relies on it to learn
 * that an interrupted turn completed while another fiber (the stream's consumer) holds the mailbox.
 *
 * @since 0.1.0
 * @category internal
 */
export const makeHandle = (args: {
  readonly connection: RpcConnection.Service
  readonly threadId: string
  readonly turnId: string
  readonly events: Subscription | DirectSubscription
  readonly done: () => void
  readonly freed?: Effect.Effect<void> | undefined
  readonly usage: UsageTracker
  readonly idle?: { readonly timeout: Duration.Duration; readonly clock: Clock.Clock } | undefined
}): { readonly handle: TurnHandle; readonly finalize: Effect.Effect<void>; readonly watcher: Receiver } => {
  const { connection, threadId, turnId } = args
  const tracker = args.usage
  const baseline = tracker.total
  const activity = args.idle === undefined ? undefined : new Activity(args.idle.clock, args.idle.timeout)
  let consumed = false
  let completed = false
  /** Set once `run` forwarded the subscription to its collector (the mailbox then stays empty). */
  let forwarded = false
  const completion = Deferred.unsafeMake<void, TransportError>(FiberId.none)

  const belongs = belongsTo(threadId, turnId)
  const isDone = isCompletion(turnId)
  const markCompleted = () => {
    if (!completed) {
      completed = true
      Deferred.unsafeDone(completion, Exit.void)
      args.done()
    }
  }
  /** The events as a mailbox: every handle has one but those of `Thread.run`, which only forward. */
  const mailbox = () => {
    if ("mailbox" in args.events) return args.events.mailbox
    throw new Error(`turn ${turnId}: a direct subscription has no mailbox`)
  }
  /** The subscription ended before the completion: the turn's scope was closed. */
  const scopeClosed = () => new TransportClosedError({ reason: `the scope of turn ${turnId} was closed before it completed` })

  /**
   * Takes the turn's events from the subscription, a chunk at a time, and hands each non-empty
   * selection to `onChunk` (which may return an Effect to run before the next take), up to the
   * completion. Runs in the consuming fiber: no stream machinery between the mailbox and `run`.
   */
  const pump = <E, R>(
    onChunk: (events: ReadonlyArray<Notification>) => Effect.Effect<void, E, R> | undefined
  ): Effect.Effect<void, E | TransportError, R> => {
    const loop: Effect.Effect<void, E | TransportError, R> = Effect.flatMap(mailbox().takeAll, ([chunk, end]) => {
      const { completed: last, kept } = selectTurn(Chunk.toReadonlyArray(chunk), belongs, isDone)
      if (last) markCompleted()
      const next: Effect.Effect<void, E | TransportError, R> = last ? Effect.void : end ? Effect.fail(scopeClosed()) : loop
      const handled = kept.length === 0 ? undefined : onChunk(kept)
      return handled === undefined ? next : Effect.zipRight(handled, next)
    })
    return loop
  }

  // The server registers a turn as active a moment after answering `turn/start`; an interrupt in
  // between is refused with "no active turn to interrupt". Retry that answer briefly (unless the
  // turn completed meanwhile).
  const sendInterrupt = Effect.suspend(() =>
    connection.request("turn/interrupt", { threadId, turnId }).pipe(
      Effect.retry({ schedule: interruptRetry, while: (error) => !completed && isNotYetActive(error) }),
      Effect.asVoid
    )
  )
  const interrupt = Effect.suspend(() => (completed ? Effect.void : sendInterrupt))

  /** Set by the first `abort`: the ones that run after it (or at the same time) only wait. */
  let aborting = false
  /**
   * From finalizers: interrupts an unfinished turn and waits for its `turn/completed`, so that the
   * thread is really idle before it is handed to the next turn. Bounded by `abortTimeout`: the
   * work is made interruptible because finalizers run uninterruptibly, where a timeout could not
   * stop it (it runs on the timeout's own fiber, so an interruption of the caller does not cut it
   * short).
   */
  const freed = args.freed ?? Effect.void
  /** Fails with `TurnStalledError` when the turn goes quiet for its idle timeout; never fails once it completed. */
  const watchdog = activity === undefined
    ? undefined
    : activity.watch(threadId, () => turnId, () => !completed)
  const abort = Effect.suspend(() => {
    if (completed) return freed
    const send = aborting ? Effect.void : sendInterrupt
    aborting = true
    return send.pipe(
      Effect.zipRight(awaitCompletion),
      Effect.interruptible,
      Effect.timeout(abortTimeout),
      Effect.ignore,
      Effect.ensuring(Effect.zipRight(Effect.sync(markCompleted), freed))
    )
  })

  /** Claims the turn for one consumer. */
  const consume = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | TurnConsumedError | TurnStalledError, R> =>
    Effect.suspend((): Effect.Effect<A, E | TurnConsumedError | TurnStalledError, R> => {
      if (consumed) return Effect.fail(new TurnConsumedError({ turnId }))
      consumed = true
      return Effect.ensuring(watchdog === undefined ? effect : Effect.raceFirst(effect, watchdog), abort)
    })

  const stream: Stream.Stream<Notification, StreamError> = Stream.suspend((): Stream.Stream<Notification, StreamError> => {
    if (consumed) return Stream.fail(new TurnConsumedError({ turnId }))
    consumed = true
    const events = Mailbox.toStream(mailbox()).pipe(
      Stream.concat(Stream.failSync(scopeClosed)),
      Stream.pipeThroughChannel(takeTurn(belongs, isDone, markCompleted))
    )
    return (watchdog === undefined ? events : Stream.interruptWhen(events, watchdog)).pipe(Stream.ensuring(abort))
  })

  /**
   * Forwards the subscription to a receiver that takes the turn's events (into `collector`, when
   * given) in the connection's reader and completes `completion`.
   */
  const forwardTo = (collector: Collector | undefined) =>
    Effect.suspend(() => {
      forwarded = true
      // its own flag, not `completed`: the `watcher` may see the completion first, in the same batch
      let collecting = true
      return args.events.forward({
        onBatch: (batch) => {
          if (!collecting) return
          const { completed: last, kept } = selectTurn(batch, belongs, isDone)
          if (activity !== undefined && kept.length > 0) activity.note(kept[kept.length - 1]!.method)
          if (collector !== undefined) for (let i = 0; i < kept.length; i++) collector.add(kept[i]!)
          if (last) {
            collecting = false
            markCompleted()
          }
        },
        onEnd: (error) => Deferred.unsafeDone(completion, Exit.fail(error))
      })
    })

  /**
   * Waits for the completion, never by reading the mailbox (a consumer may be reading it): the
   * `watcher` or the forwarded subscription sees it; a direct subscription not forwarded yet is
   * forwarded now.
   */
  const awaitCompletion: Effect.Effect<void, TransportError> = Effect.suspend(() =>
    forwarded || "mailbox" in args.events
      ? Deferred.await(completion)
      : Effect.zipRight(forwardTo(undefined), Deferred.await(completion))
  )

  const watcher: Receiver = {
    onBatch: (batch) => {
      if (completed) return
      let seen: Notification | undefined
      for (let i = 0; i < batch.length; i++) {
        const n = batch[i]!
        if (activity !== undefined && belongs(n)) seen = n
        if (n.method === "thread/tokenUsage/updated" && belongs(n)) tracker.total = (n.params as Protocol.ThreadTokenUsageUpdatedNotification).tokenUsage.total
        else if (isDone(n)) return markCompleted()
      }
      if (seen !== undefined) activity!.note(seen.method)
    },
    onEnd: (error) => Deferred.unsafeDone(completion, Exit.fail(error))
  }

  /**
   * `run`: the subscription is forwarded to the collector, which takes each batch in the
   * connection's reader; this fiber wakes up once, at the completion (or the connection's end).
   */
  const collect = Effect.suspend(() => {
    const collector = new Collector(threadId, turnId, { baseline, tracker })
    return Effect.zipRight(consume(Effect.zipRight(forwardTo(collector), Deferred.await(completion))), collector.result)
  })

  /** `runWith`: the events from the mailbox, each handed to `onEvent` as it is collected. */
  const collectWith = <E, R>(onEvent: (event: Notification) => Effect.Effect<void, E, R>) =>
    Effect.suspend(() => {
      const collector = new Collector(threadId, turnId, { baseline, tracker })
      const events = pump<E, R>((kept) =>
        Effect.forEach(kept, (n) => {
          collector.add(n)
          return onEvent(n)
        }, { discard: true })
      )
      return Effect.zipRight(consume(events), collector.result)
    })

  const handle: TurnHandle = {
    id: turnId,
    threadId,
    stream,
    run: collect,
    runWith: collectWith,
    steer: (input) =>
      connection.request("turn/steer", { threadId, expectedTurnId: turnId, input: Input.toItems(input) }).pipe(Effect.asVoid),
    interrupt,
    collector: () => new Collector(threadId, turnId, { baseline })
  }
  return { handle, finalize: abort, watcher }
}
