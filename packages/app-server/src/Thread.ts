/**
 * A conversation with the agent: start turns (`turn`, streamed) or run them to the end (`run`),
 * rename, compact and read it, and list its turns (`turns`, a Stream over every page).
 *
 * One turn per thread, guarded by a `Semaphore(1)` per thread id: the server would quietly turn
 * a second `turn/start` on a busy thread into a steer, so a second `turn` (or `run`, or
 * `compact`) fails fast with `TurnBusyError` (`withPermitsIfAvailable`) until the first one
 * completed or its scope closed — or, with `{ queue: true }`, waits for it (`withPermits`; the
 * wait is interruptible, and a turn whose caller is interrupted while waiting never starts).
 * Turns of different threads of one connection run concurrently. Measured against the flag it
 * replaced (`bench/overhead.ts` on the stub, warm): about +0.01 ms per `run`; paired real turns
 * showed no difference beyond their noise (about ±1 ms between runs of the same code).
 *
 * A turn with an idle timeout (its `idleTimeout`, else the config's `turnIdleTimeout`) that
 * sends no event for that long is interrupted, and `run` / `stream` fail with `TurnStalledError`;
 * so does `compact` when its compaction goes quiet (see `Turn`).
 *
 * While a goal is pursued (`goal`, `runGoal`) the server starts the thread's turns itself and
 * the goal holds the thread's permit: a turn of the user's fails with `GoalActiveError` (or,
 * with `{ queue: true }`, waits until the goal stopped).
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Protocol from "@effect-codex/protocol/generated/Schemas"
import * as Registry from "@effect-codex/protocol/Registry"
import type { Approvals, Handlers } from "./Approvals.js"
import { GoalActiveError, type StructuredOutputError, TurnBusyError, TurnStalledError } from "./CodexError.js"
import * as Goal from "./Goal.js"
import * as Input from "./Input.js"
import { paginate } from "./internal/paginate.js"
import type { RequestError, RpcConnection } from "./RpcConnection.js"
import * as Tool from "./Tool.js"
import * as Turn from "./Turn.js"

/**
 * How the SDK runs a turn (not sent to the server).
 *
 * @since 0.1.0
 * @category models
 */
export interface TurnControl {
  /**
   * When the thread has a turn already, wait for it to end instead of failing with
   * `TurnBusyError`. The wait is interruptible. Default `false`.
   */
  readonly queue?: boolean
  /**
   * No event of the turn for this long: interrupt it (`turn/interrupt`) and fail with
   * `TurnStalledError`. Overrides the config's `turnIdleTimeout`; `Duration.infinity` turns it
   * off. Default: the config's (off unless set).
   */
  readonly idleTimeout?: Duration.DurationInput
}

/**
 * Per-turn settings, typed from `turn/start` (model, effort, summary, personality, cwd, approval
 * policy, sandbox policy, service tier, …), plus `outputSchema` as an Effect Schema and the SDK's
 * own {@link TurnControl} (`queue`, `idleTimeout`).
 *
 * @since 0.1.0
 * @category models
 */
export type TurnOptions = Omit<Registry.ClientRequestParams<"turn/start">, "threadId" | "input" | "outputSchema"> & TurnControl

/**
 * Turn options with a structured output: the final answer must be JSON matching `outputSchema`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StructuredTurnOptions<A, I> extends TurnOptions {
  readonly outputSchema: Schema.Schema<A, I>
}

/**
 * Options of {@link Thread.external}: the turn's settings, and the namespace of the tool the
 * message is presented as.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExternalOptions extends Omit<TurnOptions, "toolOutput"> {
  readonly namespace?: string
  /** Asks codex to keep the output in the thread's model history (`toolOutput.retain`). */
  readonly retain?: boolean
}

/**
 * The `output` of a `toolOutput`: a string as is, content items as the Responses API's
 * `input_text` / `input_image` / `input_audio`.
 *
 * @since 0.1.0
 * @category internal
 */
export const toolOutputBody = (content: Tool.Output): Protocol.FunctionCallOutputBody =>
  typeof content === "string"
    ? content
    : content.items.map((item): Protocol.FunctionCallOutputContentItem => {
      switch (item.type) {
        case "inputText":
          return { type: "input_text", text: item.text }
        case "inputImage":
          return { type: "input_image", imageUrl: item.imageUrl }
        case "inputAudio":
          return { type: "input_audio", audioUrl: item.audioUrl }
      }
    })

/**
 * The thread's effective settings as the server reported them when it was started, resumed or
 * forked: model, provider, cwd, approval policy, sandbox, reasoning effort, service tier.
 *
 * @since 0.1.0
 * @category models
 */
export type Settings = Pick<
  Protocol.ThreadStartResponse,
  "model" | "modelProvider" | "cwd" | "approvalPolicy" | "approvalsReviewer" | "sandbox" | "reasoningEffort" | "serviceTier"
>

/**
 * Options of `thread.turns`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TurnsOptions {
  /** `newestFirst` (the default, as the server) or `oldestFirst`. */
  readonly order?: "newestFirst" | "oldestFirst"
  /** Turns per `thread/turns/list` page (the server's default when left out). */
  readonly pageSize?: number
  /** How much of each turn's items to include (`summary` by default on the server, or `full`). */
  readonly itemsView?: Protocol.TurnItemsView
}

/**
 * Why starting a turn failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type TurnStartError = TurnBusyError | GoalActiveError | RequestError

/**
 * @since 0.1.0
 * @category models
 */
export interface Thread {
  readonly id: string
  /** The thread as the server described it when it was started, resumed or forked. */
  readonly info: Protocol.Thread
  /** The effective settings (model, sandbox, approval policy, …) reported at the same time. */
  readonly settings: Settings
  /** Starts a turn and returns its handle; the turn belongs to the scope (closing it interrupts an unfinished turn). */
  readonly turn: {
    <A, I>(input: Input.Input, options: StructuredTurnOptions<A, I>): Effect.Effect<
      Turn.TurnHandle<Turn.StructuredRunResult<A>, StructuredOutputError>,
      TurnStartError,
      Scope.Scope
    >
    (input: Input.Input, options?: TurnOptions): Effect.Effect<Turn.TurnHandle, TurnStartError, Scope.Scope>
  }
  /** Runs a turn to its end and returns the result. */
  readonly run: {
    <A, I>(input: Input.Input, options: StructuredTurnOptions<A, I>): Effect.Effect<
      Turn.StructuredRunResult<A>,
      TurnStartError | Turn.RunError | StructuredOutputError
    >
    (input: Input.Input, options?: TurnOptions): Effect.Effect<Turn.RunResult, TurnStartError | Turn.RunError>
  }
  /**
   * An ExternalMessage: output presented to the model as coming from the tool `toolName`, sent as
   * `turn/start` with `toolOutput` and no input. Codex 0.171.0 starts a turn with it (an item
   * `functionCallOutput`, then the model's answer), checks neither name nor namespace against the
   * thread's tools, and gives it no authority beyond being input. Like `run`, it waits for the end
   * of the turn; a thread with a turn running fails with `TurnBusyError` (the server would merge
   * the message into that turn).
   */
  readonly external: (toolName: string, content: Tool.Output, options?: ExternalOptions) => Effect.Effect<Turn.RunResult, TurnStartError | Turn.RunError>
  /** Sets the thread's name (`thread/name/set`). */
  readonly setName: (name: string) => Effect.Effect<void, RequestError>
  /**
   * Compacts the thread's history and waits for the compaction turn to complete (within the
   * config's `turnIdleTimeout` between its events, if set: `TurnStalledError` otherwise).
   */
  readonly compact: Effect.Effect<void, TurnStartError | Turn.RunError>
  /** Reads the thread (`thread/read`), with its turns when asked. */
  readonly read: (options?: { readonly includeTurns?: boolean }) => Effect.Effect<Protocol.Thread, RequestError>
  /**
   * Every turn of the thread over all pages of `thread/turns/list`, newest first unless asked,
   * each page requested when the stream needs it. A failed page fails the stream after the turns before it.
   */
  readonly turns: (options?: TurnsOptions) => Stream.Stream<Protocol.Turn, RequestError>
  /**
   * Sets a goal (`thread/goal/set`) that the server pursues over as many turns as it takes, and
   * returns its handle; the goal belongs to the scope (closing it pauses an unfinished goal).
   */
  readonly goal: (objective: string, options?: Goal.GoalOptions) => Effect.Effect<Goal.GoalHandle, Goal.StartError, Scope.Scope>
  /** `goal` + `run`: pursues a goal until it stops and returns what it did. */
  readonly runGoal: (objective: string, options?: Goal.GoalOptions) => Effect.Effect<Goal.GoalResult, Goal.StartError | Goal.RunError>
}

/**
 * The one-turn semaphore and the token total of one thread id, shared by every `Thread` value of
 * that id on a connection.
 *
 * @since 0.1.0
 * @category internal
 */
export interface Slot extends Turn.UsageTracker {
  readonly semaphore: Effect.Semaphore
  /** Set while a goal holds the permit (a busy thread then fails with `GoalActiveError`). */
  goal?: boolean
}

/**
 * The unfinished turns of a connection, by the finalizer that interrupts each (`Turn.makeHandle`):
 * the `Codex` service interrupts them all at once when it closes.
 *
 * @since 0.1.0
 * @category internal
 */
export type Running = Set<Effect.Effect<void>>

/**
 * Internal: builds a `Thread` over a connection.
 *
 * @since 0.1.0
 * @category internal
 */
export const make = (args: {
  readonly connection: RpcConnection.Service
  readonly approvals: Approvals.Service
  readonly response: Settings & { readonly thread: Protocol.Thread }
  readonly slot: Slot
  readonly running: Running
  readonly handlers?: Handlers | undefined
}): Effect.Effect<Thread, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { connection, running, slot } = args
    const { thread: info, ...reported } = args.response
    const settings: Settings = {
      model: reported.model,
      modelProvider: reported.modelProvider,
      cwd: reported.cwd,
      approvalPolicy: reported.approvalPolicy,
      approvalsReviewer: reported.approvalsReviewer,
      sandbox: reported.sandbox,
      ...(reported.reasoningEffort === undefined ? {} : { reasoningEffort: reported.reasoningEffort }),
      ...(reported.serviceTier === undefined ? {} : { serviceTier: reported.serviceTier })
    }
    const threadId = info.id
    if (args.handlers !== undefined) yield* args.approvals.forThread(threadId, args.handlers)

    const { semaphore } = slot
    const clock = yield* Effect.clock
    const configIdle = connection.config.turnIdleTimeout
    const idleOf = (options: TurnControl) => {
      const timeout = Turn.idleTimeoutOf(options.idleTimeout, configIdle)
      return timeout === undefined ? undefined : { timeout, clock }
    }
    /** Why the thread is busy: a goal holds it, or a turn. */
    const busy = () => (slot.goal === true ? new GoalActiveError({ threadId }) : new TurnBusyError({ threadId }))
    const orBusy = <A>(option: Option.Option<A>): Effect.Effect<A, TurnBusyError | GoalActiveError> =>
      Option.isSome(option) ? Effect.succeed(option.value) : Effect.fail(busy())
    /** Runs `effect` holding the thread's permit: at once or `TurnBusyError`, or after a wait with `queue`. */
    const withThread = <A, E>(queue: boolean | undefined, effect: Effect.Effect<A, E>): Effect.Effect<A, E | TurnBusyError | GoalActiveError> =>
      queue === true ? semaphore.withPermits(1)(effect) : Effect.flatMap(semaphore.withPermitsIfAvailable(1)(effect), orBusy)

    /**
     * Takes the thread's permit for a turn handle, whose turn outlives this call: a fiber of the
     * scope holds it until `release` is called (from the reader, when the turn completes) or the
     * scope closes; `freed` waits until it gave the permit back.
     */
    const holdThread = (queue: boolean | undefined) =>
      Effect.gen(function*() {
        const held = yield* Deferred.make<boolean>()
        const released = yield* Deferred.make<void>()
        const hold = Effect.zipRight(Deferred.succeed(held, true), Deferred.await(released))
        const holder = yield* Effect.forkScoped(
          queue === true
            ? semaphore.withPermits(1)(hold)
            : Effect.flatMap(semaphore.withPermitsIfAvailable(1)(hold), (o) => Option.isNone(o) ? Deferred.succeed(held, false) : Effect.void)
        )
        if (!(yield* Effect.onInterrupt(Deferred.await(held), () => Fiber.interrupt(holder)))) {
          return yield* Effect.fail(busy())
        }
        return {
          release: () => {
            Deferred.unsafeDone(released, Exit.void)
          },
          freed: Effect.asVoid(Fiber.await(holder))
        }
      })

    /** The params of `turn/start`. */
    const startParams = (input: Input.Input, options: TurnOptions & { readonly outputSchema?: Schema.Schema.Any }) => {
      const { idleTimeout: _idleTimeout, outputSchema, queue: _queue, ...rest } = options
      return {
        ...rest,
        threadId,
        input: Input.toItems(input),
        ...(outputSchema === undefined ? {} : { outputSchema: Turn.wireOutputSchema(outputSchema as Schema.Schema<unknown, unknown>) })
      }
    }

    /** Builds the handle of a started turn, listed in `running` until it completes. */
    const handleOf = (
      turnId: string,
      events: Parameters<typeof Turn.makeHandle>[0]["events"],
      idle: ReturnType<typeof idleOf>,
      permit?: { readonly release: () => void; readonly freed: Effect.Effect<void> }
    ): ReturnType<typeof Turn.makeHandle> => {
      const made = Turn.makeHandle({
        connection,
        threadId,
        turnId,
        events,
        usage: slot,
        idle,
        freed: permit?.freed,
        done: () => {
          running.delete(made.finalize)
          permit?.release()
        }
      })
      running.add(made.finalize)
      return made
    }

    /** A second subscription of the thread that only watches for the turn's completion (see `Turn.makeHandle`). */
    const watch = Effect.acquireRelease(
      Effect.sync(() => connection.unsafeSubscribeThread(threadId)),
      (subscription) => Effect.sync(subscription.unsafeClose)
    )

    const startTurn = (input: Input.Input, options: TurnOptions & { readonly outputSchema?: Schema.Schema.Any }) =>
      Effect.gen(function*() {
        const idle = idleOf(options) // decoded before anything is sent
        const permit = yield* holdThread(options.queue)
        const events = yield* connection.subscribeThread(threadId)
        const watched = yield* watch
        // Once `turn/start` is sent the turn exists on the server: wait for its id even if
        // interrupted, so that the finalizer that interrupts an unfinished turn is in place.
        return yield* Effect.uninterruptible(
          Effect.gen(function*() {
            const response = yield* connection.request("turn/start", startParams(input, options))
            const { finalize, handle, watcher } = handleOf(response.turn.id, events, idle, permit)
            yield* watched.forward(watcher)
            yield* Effect.addFinalizer(() => finalize)
            return handle
          })
        )
      })

    const turn = (input: Input.Input, options: TurnOptions & { readonly outputSchema?: Schema.Schema.Any } = {}) =>
      Effect.map(startTurn(input, options), (handle) => {
        const schema = options.outputSchema as Schema.Schema<unknown, unknown> | undefined
        if (schema === undefined) return handle
        const decode = Turn.decodeOutput(schema)
        return {
          ...handle,
          run: Effect.flatMap(handle.run, decode),
          runWith: (onEvent: Parameters<typeof handle.runWith>[0]) => Effect.flatMap(handle.runWith(onEvent), decode)
        }
      })

    /**
     * `turn` + `run` without a scope: the same steps (permit, subscription, `turn/start`, collect,
     * interrupt if interrupted), with as few effects as possible on the way to the request and
     * back from the completion, which are on every turn's critical path.
     */
    const run = (input: Input.Input, options: TurnOptions & { readonly outputSchema?: Schema.Schema.Any } = {}) =>
      withThread(options.queue, runHolding(input, options))

    const runHolding = (input: Input.Input, options: TurnOptions & { readonly outputSchema?: Schema.Schema.Any }) =>
      Effect.suspend((): Effect.Effect<Turn.RunResult, TurnStartError | Turn.RunError | StructuredOutputError> => {
        const idle = idleOf(options) // decoded before anything is sent
        const events = connection.unsafeSubscribeThread(threadId)
        const schema = options.outputSchema as Schema.Schema<unknown, unknown> | undefined
        // as in `startTurn`: once sent, the request is waited for even if interrupted
        return Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(connection.request("turn/start", startParams(input, options)), (response) => {
            const { finalize, handle } = handleOf(response.turn.id, events, idle)
            // registered here, while uninterruptible: an interruption that came during the request
            // (and takes effect at `restore`) still interrupts the turn on the server
            const result = Effect.ensuring(restore(handle.run), finalize)
            return schema === undefined ? result : Effect.flatMap(result, Turn.decodeOutput(schema))
          })
        ).pipe(Effect.ensuring(Effect.sync(events.unsafeClose)))
      })

    /**
     * `thread/compact/start`, then the compaction's turn up to its `turn/completed`. Its turn id
     * comes with its `turn/started`; with an idle timeout, a compaction gone quiet is interrupted
     * (when its turn id is known) and fails with `TurnStalledError`.
     */
    const compact = withThread(false, Effect.scoped(
      Effect.gen(function*() {
        const idle = idleOf({})
        const events = yield* connection.subscribeThread(threadId)
        yield* connection.request("thread/compact/start", { threadId })
        const activity = idle === undefined ? undefined : new Turn.Activity(idle.clock, idle.timeout)
        let turnId: string | null = null
        let completed = false
        const untilCompleted = (id: () => string | null) =>
          Mailbox.toStream(events.mailbox).pipe(
            Stream.filter((n) => {
              activity?.note(n.method)
              if (!Registry.isKnownNotification(n)) return false
              if (n.method === "turn/started") turnId ??= n.params.turn.id
              else if (n.method === "thread/tokenUsage/updated") slot.total = n.params.tokenUsage.total
              return n.method === "turn/completed" && (id() === null || n.params.turn.id === id())
            }),
            Stream.runHead,
            Effect.ensuring(Effect.sync(() => (completed = true)))
          )
        const wait = untilCompleted(() => null)
        if (activity === undefined) return yield* wait
        return yield* Effect.raceFirst(wait, activity.watch(threadId, () => turnId, () => !completed)).pipe(
          Effect.tapError((error) => {
            const id = turnId
            if (!(error instanceof TurnStalledError) || id === null) return Effect.void
            // as a turn's `abort`: interrupt it, and wait (bounded) for the server to end it
            return connection.request("turn/interrupt", { threadId, turnId: id }).pipe(
              Effect.zipRight(untilCompleted(() => id)),
              Effect.timeout(Turn.abortTimeout),
              Effect.ignore
            )
          })
        )
      })
    )).pipe(Effect.asVoid)

    /** The thread's permit, as a goal holds it while it is pursued (never queued: a busy thread refuses a goal). */
    const claim: Goal.Claim = {
      take: (scope) =>
        Effect.map(Scope.extend(holdThread(false), scope), (permit) => {
          slot.goal = true
          return Effect.suspend(() => {
            slot.goal = false
            permit.release()
            return permit.freed
          })
        })
    }
    const goal = (objective: string, options?: Goal.GoalOptions) =>
      Goal.make({ connection, threadId, claim, usage: slot, objective, options })

    return {
      id: threadId,
      info,
      settings,
      turn: turn as Thread["turn"],
      run: run as Thread["run"],
      external: (toolName, content, options = {}) => {
        const { namespace, retain, ...turnOptions } = options
        return run([], {
          ...turnOptions,
          toolOutput: {
            name: toolName,
            output: toolOutputBody(content),
            ...(namespace === undefined ? {} : { namespace }),
            ...(retain === undefined ? {} : { retain })
          }
        }) as Effect.Effect<Turn.RunResult, TurnStartError | Turn.RunError>
      },
      setName: (name) => Effect.asVoid(connection.request("thread/name/set", { threadId, name })),
      compact: compact as Effect.Effect<void, TurnStartError | Turn.RunError>,
      read: (options) =>
        Effect.map(connection.request("thread/read", { threadId, includeTurns: options?.includeTurns ?? false }), (r) => r.thread),
      turns: (options = {}) =>
        paginate((cursor) =>
          connection.request("thread/turns/list", {
            threadId,
            ...(options.order === undefined ? {} : { sortDirection: options.order === "oldestFirst" ? "asc" : "desc" }),
            ...(options.pageSize === undefined ? {} : { limit: options.pageSize }),
            ...(options.itemsView === undefined ? {} : { itemsView: options.itemsView }),
            ...(cursor === undefined ? {} : { cursor })
          })
        ),
      goal,
      runGoal: (objective, options) => Effect.scoped(Effect.flatMap(goal(objective, options), (handle) => handle.run))
    } satisfies Thread
  })
