/**
 * `CodexConversation`: a codex thread as an `@effect/cluster` entity, addressed by a conversation
 * id the user chooses (`"review:pr-1234"`). The cluster keeps one live instance per id over all
 * runners, which is codex's own rule (one writer per thread).
 *
 * - On its first message an instance opens its thread: it resumes the thread stored for the id in
 *   the `ConversationStore` (`thread/resume`, from the rollout in the runners' `CODEX_HOME`), or
 *   starts one (the message's thread params over the runner's defaults) and stores its id. So a
 *   conversation created again, on another runner after its runner died or after idling out, goes
 *   on with its history.
 * - A resume refused because another process still holds the thread's writer lock is retried
 *   for `writerLockWait` (90 s), then fails with reason `WriterLockHeld`. That is a conversation
 *   moved between two live runners (a runner joined): the old runner's instance stopped and sent
 *   `thread/unsubscribe`, but codex 0.171.0 keeps the thread loaded, and its lock held, for about
 *   60 s more. Such a conversation answers about a minute late; letting the shards settle before
 *   sending (`CodexCluster.shardsHeld`) avoids it, and so does `release: "archive"` (a hand-over
 *   by `thread/archive`, then `thread/unarchive` on the next runner). A runner that dies frees its
 *   locks at once.
 * - When the instance stops (idle for `maxIdleTime`, or its shard moves), it releases the thread
 *   (`thread/unsubscribe`).
 * - `Run` and `Stream` run one turn each (one at a time: a second fails with `TurnBusyError`
 *   unless `queue` is set); `Steer` and `Interrupt` act on the turn running; `Read`, `SetName`,
 *   `Archive` and `RunGoal` act on the thread. After `Archive`, requests fail with
 *   `ConversationArchived`.
 * - `Run`, `Stream`, `RunGoal`, `SetName` and `Archive` are persisted messages: stored in the
 *   cluster's SQL before they are delivered, and delivered again to the conversation's next
 *   instance when theirs stopped before answering (its runner died, or its shard moved while the
 *   shard locks were unhealthy). So a turn is run at least once: one cut short on a dead runner is
 *   run again from the start on another (the cut one stays in the thread's history, interrupted).
 *   A `Run` or `RunGoal` that completed is answered once: its answer is stored by request id (or
 *   by the `Run`'s `idempotencyKey`) in the `ConversationStore` before it is sent, and a delivery
 *   again (or a `Run` with the same key) gets the stored answer.
 *   `Steer`, `Interrupt` and `Read` act on what runs now and are not persisted.
 * - Approvals and client-side tools run on the runner, given to {@link layer}: a callback cannot
 *   cross machines.
 *
 * @since 0.1.0
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as Rpc from "@effect/rpc/Rpc"
import * as Protocol from "@effect-codex/protocol/generated/Schemas"
import { Codex, type Approvals, type Thread, type Tool, type Turn } from "@effect-codex/app-server"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { ConversationStore } from "./ConversationStore.js"
import * as Wire from "./Wire.js"

/**
 * The settings of a turn: those of `turn/start` (model, effort, cwd, sandbox policy, …) and the
 * SDK's `queue` and `idleTimeout`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TurnOptions = Schema.extend(
  Protocol.TurnStartParams.pipe(Schema.omit("threadId", "input", "outputSchema")),
  Schema.Struct({
    queue: Schema.optionalWith(Schema.Boolean, { exact: true }),
    idleTimeout: Schema.optionalWith(Schema.DurationFromMillis, { exact: true })
  })
)

/**
 * What a turn request carries: the input, the turn's settings, and the thread's settings for a
 * conversation that has no thread yet (ignored otherwise).
 *
 * @since 0.1.0
 * @category schemas
 */
export const TurnRequest = {
  input: Schema.Array(Protocol.UserInput),
  /**
   * Makes the turn happen once per key for this conversation: a second `Run` with a key whose
   * turn completed gets that turn's answer (for a day), and one sent while it runs waits for it.
   * Without a key, a request is its own key (a delivery again of it is answered from storage).
   */
  idempotencyKey: Schema.optional(Schema.String),
  turn: Schema.optional(TurnOptions),
  thread: Schema.optional(Protocol.ThreadStartParams)
}

/**
 * A turn's result, with where it ran.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ConversationResult = Schema.extend(
  Wire.RunResult,
  Schema.Struct({
    conversationId: Schema.String,
    threadId: Schema.String,
    /** The runner (`host:port`) that ran the turn. */
    runner: Schema.String
  })
)

/**
 * The `ConversationResult` type.
 *
 * @since 0.1.0
 * @category models
 */
export type ConversationResult = typeof ConversationResult.Type

/**
 * Runs a turn to its end.
 *
 * @since 0.1.0
 * @category rpcs
 */
export const Run = Rpc.make("Run", { payload: TurnRequest, success: ConversationResult, error: Wire.ConversationError })
  .annotate(ClusterSchema.Persisted, true)

/**
 * Runs a turn and streams its notifications, ending after `turn/completed`.
 *
 * @since 0.1.0
 * @category rpcs
 */
export const StreamTurn = Rpc.make("Stream", {
  payload: TurnRequest,
  success: Wire.Notification,
  error: Wire.ConversationError,
  stream: true
}).annotate(ClusterSchema.Persisted, true)

/**
 * Adds input to the running turn (`turn/steer`); `NoActiveTurn` when none runs.
 *
 * @since 0.1.0
 * @category rpcs
 */
export const Steer = Rpc.make("Steer", { payload: { input: Schema.Array(Protocol.UserInput) }, error: Wire.ConversationError })

/**
 * Interrupts the running turn, if any; answers whether one was running.
 *
 * @since 0.1.0
 * @category rpcs
 */
export const Interrupt = Rpc.make("Interrupt", { success: Schema.Boolean, error: Wire.ConversationError })

/**
 * Reads the thread (`thread/read`), with its turns unless `includeTurns` is `false`.
 *
 * @since 0.1.0
 * @category rpcs
 */
export const Read = Rpc.make("Read", {
  payload: { includeTurns: Schema.optional(Schema.Boolean) },
  success: Protocol.Thread,
  error: Wire.ConversationError
})

/**
 * Sets the thread's name.
 *
 * @since 0.1.0
 * @category rpcs
 */
export const SetName = Rpc.make("SetName", { payload: { name: Schema.String }, error: Wire.ConversationError })
  .annotate(ClusterSchema.Persisted, true)

/**
 * Archives the thread; the conversation then refuses every request (`ConversationArchived`).
 *
 * @since 0.1.0
 * @category rpcs
 */
export const Archive = Rpc.make("Archive", { error: Wire.ConversationError }).annotate(ClusterSchema.Persisted, true)

/**
 * Pursues a goal on the thread until it stops (`thread.runGoal`).
 *
 * @since 0.1.0
 * @category rpcs
 */
export const RunGoal = Rpc.make("RunGoal", {
  payload: {
    objective: Schema.String,
    tokenBudget: Schema.optional(Schema.Number),
    thread: Schema.optional(Protocol.ThreadStartParams)
  },
  success: Wire.GoalResult,
  error: Wire.ConversationError
}).annotate(ClusterSchema.Persisted, true)

/**
 * The entity.
 *
 * @since 0.1.0
 * @category entities
 */
export const CodexConversation = Entity.make("CodexConversation", [Run, StreamTurn, Steer, Interrupt, Read, SetName, Archive, RunGoal])

/**
 * How a runner hosts conversations.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Tools extends ReadonlyArray<Tool.Definition<unknown>> = readonly []> {
  /** Defaults of every new thread (a request's own thread params win). */
  readonly thread?: Codex.ThreadStartParams
  /** Params of every `thread/resume`. */
  readonly resume?: Codex.ThreadResumeParams
  /** Client-side tools served for every conversation's thread (needs `experimentalApi`). */
  readonly tools?: Tools
  /** Approval handlers of every conversation's thread (else the runner's `Approvals`). */
  readonly approvals?: Approvals.Handlers
  /** An instance without messages for this long stops and releases its thread. Default 5 minutes. */
  readonly maxIdleTime?: Duration.DurationInput
  /**
   * How long a resume waits for another process to give up the thread's writer lock. Default
   * 90 s: codex 0.171.0 unloads a thread (and frees its lock) about 60 s after its last
   * subscriber unsubscribed, which is what a conversation moved between two live runners waits for.
   */
  readonly writerLockWait?: Duration.DurationInput
  /**
   * How an instance that stops gives its thread up.
   * - `"unsubscribe"` (the default): `thread/unsubscribe`. codex unloads the thread, and frees
   *   its writer lock, 60 s later, so a conversation moved between two live runners waits that long.
   * - `"archive"`: `thread/archive`, which unloads it (and frees the lock) at once; the next
   *   instance unarchives it before resuming it (a hand-over of about 50 ms). Meanwhile the thread
   *   is listed as archived by codex (`thread/list`), also while the conversation is idle.
   */
  readonly release?: "unsubscribe" | "archive"
}

const isWriterLockHeld = (error: unknown): boolean =>
  error instanceof Error && /already has an active writer/.test(error.message)

// codex 0.171.0: "session <id> is archived. Run `codex unarchive <id>` to unarchive it first."
const isArchivedThread = (error: unknown): boolean => error instanceof Error && /is archived/.test(error.message)

/**
 * Hosts the entity on this runner, over the `Codex` service in context (a `CodexPool`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <const Tools extends ReadonlyArray<Tool.Definition<unknown>> = readonly []>(
  options: Options<Tools> = {}
) =>
  CodexConversation.toLayer(
    Effect.gen(function*() {
      const address = yield* Entity.CurrentAddress
      const runner = yield* Entity.CurrentRunnerAddress
      const codex = yield* Codex.Codex
      const store = yield* ConversationStore
      const scope = yield* Effect.scope
      const conversationId = address.entityId
      const runnerName = `${runner.host}:${runner.port}`
      const fail = Wire.toConversationError(conversationId)
      const threadOptions = {
        ...(options.tools === undefined ? {} : { tools: options.tools }),
        ...(options.approvals === undefined ? {} : { approvals: options.approvals })
      }
      const lockWait = Schedule.spaced(Duration.millis(250)).pipe(
        Schedule.upTo(options.writerLockWait ?? Duration.seconds(90))
      )

      let thread: Thread.Thread | undefined
      let current: Turn.TurnHandle | undefined
      const opening = yield* Effect.makeSemaphore(1)

      const open = (params: Codex.ThreadStartParams | undefined) =>
        Effect.gen(function*() {
          const stored = yield* store.get(conversationId)
          if (Option.isSome(stored) && stored.value.archived) {
            return yield* new Wire.ConversationError({
              conversationId,
              reason: "ConversationArchived",
              message: `Conversation ${conversationId} was archived`,
              threadId: stored.value.threadId
            })
          }
          // a thread archived by a hand-over (`release: "archive"`; the conversation itself is not
          // archived, checked above) is unarchived first
          const resume = (threadId: string) =>
            codex.threadResume(threadId, options.resume, threadOptions).pipe(
              Effect.catchIf(isArchivedThread, () =>
                codex.threadUnarchive(threadId).pipe(
                  Effect.zipRight(codex.threadResume(threadId, options.resume, threadOptions))
                ))
            )
          const opened = Option.isSome(stored)
            ? yield* resume(stored.value.threadId).pipe(
              Effect.retry({ schedule: lockWait, while: isWriterLockHeld }),
              Effect.catchIf(isWriterLockHeld, (error) =>
                new Wire.ConversationError({
                  conversationId,
                  reason: "WriterLockHeld",
                  message: `Thread ${stored.value.threadId} of conversation ${conversationId} is still loaded by another ` +
                    `app-server process (last opened on ${stored.value.runner}); codex keeps a thread's writer lock until ` +
                    `that process unloads the thread (about 60 s after its last subscriber left) or exits. ` +
                    `${error instanceof Error ? error.message : String(error)}`,
                  threadId: stored.value.threadId
                }))
            )
            : yield* codex.threadStart({ ...options.thread, ...params }, threadOptions)
          yield* store.save(conversationId, opened.id, runnerName)
          return opened
        }).pipe(Scope.extend(scope))

      const threadFor = (params?: Codex.ThreadStartParams) =>
        opening.withPermits(1)(
          Effect.suspend(() => thread === undefined ? Effect.tap(open(params), (t) => (thread = t)) : Effect.succeed(thread))
        ).pipe(Effect.mapError((e) => e instanceof Wire.ConversationError ? e : fail(e)))

      // releasing the thread when the instance stops: idle, its shard moved, or the runner closes
      yield* Effect.addFinalizer(() =>
        thread === undefined
          ? Effect.void
          : (options.release === "archive"
            ? codex.threadArchive(thread.id)
            : codex.request("thread/unsubscribe", { threadId: thread.id })).pipe(Effect.timeout(Duration.seconds(5)), Effect.ignore)
      )

      const startTurn = (payload: typeof Run.payloadSchema.Type) =>
        Effect.gen(function*() {
          const opened = yield* threadFor(payload.thread)
          const handle = yield* opened.turn(payload.input, payload.turn ?? {}).pipe(Effect.mapError(fail))
          current = handle
          yield* Effect.addFinalizer(() => Effect.sync(() => { if (current === handle) current = undefined }))
          return { thread: opened, handle }
        })

      // A persisted request can be delivered again after it completed (its reply was not stored
      // before its shard moved): its stored answer is given again instead of a second turn. The
      // same for requests that share an idempotency key; those also run one at a time.
      const keyLocks = new Map<string, Effect.Semaphore>()
      const once = <A, I, R>(
        schema: Schema.Schema<A, I>,
        key: string,
        work: Effect.Effect<A, Wire.ConversationError, R>
      ): Effect.Effect<A, Wire.ConversationError, R> => {
        const json = Schema.parseJson(schema)
        const answer = store.result(key).pipe(
          Effect.mapError(fail),
          Effect.flatMap(Option.match({
            onSome: (stored) => Schema.decode(json)(stored).pipe(Effect.mapError(fail)),
            onNone: () =>
              Effect.tap(work, (answer) =>
                Schema.encode(json)(answer).pipe(
                  Effect.flatMap((encoded) => store.saveResult(key, conversationId, encoded)),
                  // the answer still goes out; only a delivery again would run the request twice
                  Effect.catchAll((error) => Effect.logWarning(`could not store the answer of request ${key}`, error))
                ))
          }))
        )
        return Effect.suspend(() => {
          const lock = keyLocks.get(key) ?? Effect.unsafeMakeSemaphore(1)
          keyLocks.set(key, lock)
          return lock.withPermits(1)(answer).pipe(Effect.ensuring(Effect.sync(() => keyLocks.delete(key))))
        })
      }
      const keyOf = (requestId: bigint, idempotencyKey: string | undefined) =>
        idempotencyKey === undefined ? String(requestId) : `key:${idempotencyKey}`

      return CodexConversation.of({
        Run: ({ payload, requestId }) =>
          once(ConversationResult, keyOf(requestId, payload.idempotencyKey), Effect.scoped(
            Effect.flatMap(startTurn(payload), ({ handle, thread }) =>
              handle.run.pipe(
                Effect.map((result) => ({ ...result, conversationId, threadId: thread.id, runner: runnerName })),
                Effect.mapError(Wire.toConversationError(conversationId, thread.id))
              ))
          )),
        Stream: ({ payload }) =>
          Stream.unwrapScoped(
            Effect.map(startTurn(payload), ({ handle, thread }) =>
              handle.stream.pipe(Stream.mapError(Wire.toConversationError(conversationId, thread.id))))
          ),
        Steer: ({ payload }) =>
          current === undefined
            ? Effect.fail(
              new Wire.ConversationError({ conversationId, reason: "NoActiveTurn", message: `Conversation ${conversationId} has no turn running` })
            )
            : current.steer(payload.input).pipe(Effect.mapError(fail)),
        Interrupt: () => current === undefined ? Effect.succeed(false) : Effect.as(Effect.mapError(current.interrupt, fail), true),
        Read: ({ payload }) =>
          Effect.flatMap(threadFor(), (t) => t.read({ includeTurns: payload.includeTurns ?? true }).pipe(Effect.mapError(fail))),
        SetName: ({ payload }) => Effect.flatMap(threadFor(), (t) => t.setName(payload.name).pipe(Effect.mapError(fail))),
        Archive: () =>
          Effect.flatMap(threadFor(), (t) =>
            codex.threadArchive(t.id).pipe(
              Effect.zipRight(store.archive(conversationId)),
              Effect.mapError(fail),
              Effect.zipRight(Effect.sync(() => (thread = undefined)))
            )),
        RunGoal: ({ payload, requestId }) =>
          once(
            Wire.GoalResult,
            String(requestId),
            Effect.flatMap(threadFor(payload.thread), (t) =>
              t.runGoal(payload.objective, payload.tokenBudget === undefined ? {} : { tokenBudget: payload.tokenBudget }).pipe(
                Effect.mapError(Wire.toConversationError(conversationId, t.id))
              ))
          )
      })
    }),
    { concurrency: "unbounded", maxIdleTime: options.maxIdleTime ?? Duration.minutes(5) }
  )
