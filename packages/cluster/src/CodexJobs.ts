/**
 * `CodexJobs`: a batch of conversation turns ("review these 50 files", "solve these 200 eval
 * tasks") run as a durable `@effect/workflow` workflow over the cluster.
 *
 * ```ts
 * const reviews = CodexJobs.make("review")
 * const program = Effect.gen(function*() {
 *   const outcomes = yield* reviews.run({
 *     batchId: "pr-1234",
 *     tasks: files.map((file) => ({ id: file, input: `Review ${file}` })),
 *     concurrency: 4,
 *     retries: 2
 *   })
 * }).pipe(Effect.provide(CodexJobs.layer(reviews).pipe(Layer.provideMerge(CodexCluster.layerSingle({ … })))))
 * ```
 *
 * Semantics:
 *
 * - A batch is one workflow execution, identified by its `batchId` (per jobs name): starting the
 *   same batch again, from any process, joins the execution instead of running it twice.
 * - Each task is one activity: a turn of its conversation (`CodexCluster.conversation(id).run`;
 *   the id defaults to `<jobs name>/<batchId>/<task id>`, one fresh thread per task). At most
 *   `concurrency` tasks run at a time, started in task order. Task ids must be unique in a batch
 *   (`run` / `start` die otherwise).
 * - A failed turn (any `ConversationError`, a cluster delivery error, a timeout) is retried up to
 *   `retries` times, at once, as a new turn of the same conversation (the failed turn stays in the
 *   thread's history). A task that still fails is recorded as failed; the batch goes on. The batch
 *   itself never fails: its result lists each task's `ConversationResult` or `TaskError`, in order.
 * - Durability: every attempt's outcome is stored by the workflow engine in the cluster's SQL
 *   storage (SQLite or PostgreSQL). When the process running the batch dies, the batch resumes
 *   when a runner that registers the same jobs starts again over the same storage: finished
 *   tasks are replayed from storage, not run again. A task **in flight** when its process died is
 *   run again from its start: tasks are **at least once** (only the tasks running at the moment
 *   of the crash, at most `concurrency` of them, are run again). A conversation's `Run`
 *   is itself a persisted cluster message: the one in flight at the crash is delivered again to
 *   the conversation when the cluster restarts, and the re-run activity sends its own with the
 *   same idempotency key (batch, task, attempt), so the turn is run once more, not twice: the
 *   second of the two gets the first one's answer (turns are also sent with `queue: true` unless
 *   the batch or task says otherwise).
 * - Progress and partial results are kept in a table of the same database
 *   (`effect_codex_jobs`, written by the activities), so any process of the cluster can follow
 *   a batch: {@link Jobs.progress} polls it as a `Stream`, {@link Jobs.results} reads it.
 *
 * The engine is `@effect/cluster`'s `ClusterWorkflowEngine` on the cluster's `Sharding` and
 * `MessageStorage` ({@link layerEngine}); {@link layer} registers jobs on it. A process that only
 * starts batches and follows them (`CodexCluster.layerClient`) needs {@link layerEngine} only.
 *
 * @since 0.1.0
 */
import * as ClusterWorkflowEngine from "@effect/cluster/ClusterWorkflowEngine"
import type { MessageStorage } from "@effect/cluster/MessageStorage"
import type { Sharding } from "@effect/cluster/Sharding"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Activity from "@effect/workflow/Activity"
import * as Workflow from "@effect/workflow/Workflow"
import type { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import * as Protocol from "@effect-codex/protocol/generated/Schemas"
import { Input } from "@effect-codex/app-server"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { CodexCluster } from "./CodexCluster.js"
import { ConversationResult, TurnOptions } from "./CodexConversation.js"

// -------------------------------------------------------------------------------------------------
// schemas
// -------------------------------------------------------------------------------------------------

/**
 * One task of a batch as stored in the workflow's payload: its id (unique in the batch), its
 * input, and optionally its conversation and settings.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaskPayload = Schema.Struct({
  id: Schema.String,
  input: Schema.Array(Protocol.UserInput),
  /** Default `<jobs name>/<batchId>/<id>`. */
  conversationId: Schema.optional(Schema.String),
  /** The turn's settings, over the batch's `turn`. */
  turn: Schema.optional(TurnOptions),
  /** The thread's settings when the conversation has no thread yet, over the batch's `thread`. */
  thread: Schema.optional(Protocol.ThreadStartParams)
})

/**
 * A batch as the workflow stores it (the payload of its execution).
 *
 * @since 0.1.0
 * @category schemas
 */
export const BatchPayload = Schema.Struct({
  batchId: Schema.String,
  tasks: Schema.Array(TaskPayload),
  concurrency: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)),
  retries: Schema.Int.pipe(Schema.greaterThanOrEqualTo(0)),
  turn: Schema.optional(TurnOptions),
  thread: Schema.optional(Protocol.ThreadStartParams),
  /** Each attempt fails with reason `"Timeout"` after this long (milliseconds on the wire). */
  taskTimeout: Schema.optional(Schema.DurationFromMillis)
})

/**
 * Why an attempt of a task failed: `reason` is the conversation's (`TurnFailedError`,
 * `TurnStalledError`, …, see `Wire.ConversationError`), a cluster delivery error's tag
 * (`MailboxFull`, `PersistenceError`, …), `"Timeout"`, or `"SqlError"` (the progress table).
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskError extends Schema.TaggedError<TaskError>("@effect-codex/cluster/TaskError")("TaskError", {
  taskId: Schema.String,
  attempt: Schema.Number,
  reason: Schema.String,
  message: Schema.String
}) {}

/**
 * A task that succeeded: its turn's result, and how many attempts it took.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaskDone = Schema.TaggedStruct("Done", {
  taskId: Schema.String,
  conversationId: Schema.String,
  attempts: Schema.Number,
  result: ConversationResult
})

/**
 * A task that failed every attempt: the last attempt's error.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaskFailed = Schema.TaggedStruct("Failed", {
  taskId: Schema.String,
  conversationId: Schema.String,
  attempts: Schema.Number,
  error: TaskError
})

/**
 * How a task ended.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaskOutcome = Schema.Union(TaskDone, TaskFailed)

/**
 * How a task ended: `Done` with its `ConversationResult`, or `Failed` with its last `TaskError`.
 *
 * @since 0.1.0
 * @category models
 */
export type TaskOutcome = typeof TaskOutcome.Type

/**
 * What a batch's workflow returns: every task's outcome, in task order.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BatchResult = Schema.Array(TaskOutcome)

// -------------------------------------------------------------------------------------------------
// models
// -------------------------------------------------------------------------------------------------

/**
 * A task of a {@link Batch}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Task {
  /** Unique in the batch (it names the task's activity and, by default, its conversation). */
  readonly id: string
  readonly input: Input.Input
  /** The conversation the task's turn runs in. Default `<jobs name>/<batchId>/<id>`. */
  readonly conversationId?: string
  readonly turn?: typeof TurnOptions.Type
  readonly thread?: Protocol.ThreadStartParams
}

/**
 * A batch: its id (the idempotency key of its workflow execution), its tasks, and how to run them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Batch {
  readonly batchId: string
  readonly tasks: ReadonlyArray<Task>
  /** Tasks running at once. Default 4. */
  readonly concurrency?: number
  /** Further attempts of a failed task. Default 2. */
  readonly retries?: number
  /** Turn settings of every task (a task's own win). */
  readonly turn?: typeof TurnOptions.Type
  /** Thread settings of every task's new conversation (a task's own win). */
  readonly thread?: Protocol.ThreadStartParams
  /** A bound on each attempt. Default none (see also `turn.idleTimeout`). */
  readonly taskTimeout?: Duration.DurationInput
}

/**
 * Where a task is: `pending` (not started, or waiting for its next attempt), `running`, `done`,
 * `failed` (every attempt failed).
 *
 * @since 0.1.0
 * @category models
 */
export type TaskStatus = "pending" | "running" | "done" | "failed"

/**
 * A task as the progress table has it.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskState {
  readonly taskId: string
  readonly conversationId: string
  readonly status: TaskStatus
  /** The attempt running or last run (1 + the retries so far). */
  readonly attempts: number
  /**
   * Turns started for the task, over every attempt: more than `attempts` when an attempt in
   * flight was run again after its process died (at least once).
   */
  readonly runs: number
  /** The turn's result once `done`. */
  readonly result: Option.Option<ConversationResult>
  /** The last attempt's error (of a `failed` task, or of one waiting for a retry). */
  readonly error: Option.Option<TaskError>
  /** When the row last changed (Unix milliseconds). */
  readonly updatedAt: number
}

/**
 * Counts of a batch's tasks by status; `attempts`, the sum of the tasks' attempt numbers (more
 * than the tasks started when some were retried); `runs`, the turns started (more than `attempts`
 * when attempts in flight were run again after a crash). `finished` once every task is `done` or
 * `failed`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly batchId: string
  readonly total: number
  readonly pending: number
  readonly running: number
  readonly done: number
  readonly failed: number
  readonly attempts: number
  readonly runs: number
  readonly finished: boolean
}

/**
 * A named kind of batch: the workflow, the layer that registers it, and the ways to run and follow
 * its batches.
 *
 * @since 0.1.0
 * @category models
 */
export interface Jobs {
  readonly name: string
  /** The `@effect/workflow` workflow (`CodexJobs/<name>`), one execution per batch. */
  readonly workflow: Workflow.Workflow<`CodexJobs/${string}`, typeof BatchPayload, typeof BatchResult, typeof Schema.Never>
  /**
   * Registers the workflow on the engine (so this process runs batches and resumes interrupted
   * ones) and creates the progress table when missing.
   */
  readonly layer: Layer.Layer<never, SqlError, WorkflowEngine | CodexCluster | SqlClient.SqlClient>
  /** Runs the batch (or joins its execution) and waits for every task's outcome, in task order. */
  readonly run: (batch: Batch) => Effect.Effect<ReadonlyArray<TaskOutcome>, SqlError, WorkflowEngine | SqlClient.SqlClient>
  /** Starts the batch (or finds it started) and returns its id without waiting. */
  readonly start: (batch: Batch) => Effect.Effect<string, SqlError, WorkflowEngine | SqlClient.SqlClient>
  /** The batch's outcomes once its workflow completed; `None` while it runs or when unknown. */
  readonly poll: (batchId: string) => Effect.Effect<Option.Option<ReadonlyArray<TaskOutcome>>, never, WorkflowEngine>
  /** Waits (polling the engine every `interval`, default 500 ms) for the outcomes of a batch started anywhere. */
  readonly await: (
    batchId: string,
    options?: { readonly interval?: Duration.DurationInput }
  ) => Effect.Effect<ReadonlyArray<TaskOutcome>, never, WorkflowEngine>
  /**
   * The batch's progress, polled from the progress table every `interval` (default 250 ms),
   * emitted when it changes; ends once `finished`. An unknown batch shows `total: 0` until it starts.
   */
  readonly progress: (
    batchId: string,
    options?: { readonly interval?: Duration.DurationInput }
  ) => Stream.Stream<Progress, SqlError, SqlClient.SqlClient>
  /** Every task of the batch as the progress table has it now, in task order. */
  readonly results: (batchId: string) => Effect.Effect<ReadonlyArray<TaskState>, SqlError, SqlClient.SqlClient>
}

// -------------------------------------------------------------------------------------------------
// the progress table
// -------------------------------------------------------------------------------------------------

interface Row {
  readonly task_id: string
  readonly conversation_id: string
  readonly status: string
  readonly attempts: number | string | bigint
  readonly runs: number | string | bigint
  readonly result: string | null
  readonly error: string | null
  readonly updated_at: number | string | bigint
}

const ResultJson = Schema.parseJson(ConversationResult)
const ErrorJson = Schema.parseJson(TaskError)

const ensureTable = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql`CREATE TABLE IF NOT EXISTS effect_codex_jobs (
    jobs TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    conversation_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    runs INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (jobs, batch_id, task_id)
  )`).pipe(Effect.asVoid)

/** Writes of the progress table inside an activity: retried a few times (a busy SQLite file). */
const storeRetry = Schedule.exponential(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(5)))

const conversationIdOf = (name: string, batchId: string, task: { readonly id: string; readonly conversationId?: string | undefined }) =>
  task.conversationId ?? `${name}/${batchId}/${task.id}`

const registerRows = (name: string, payload: typeof BatchPayload.Type) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = Date.now()
    const rows = payload.tasks.map((task, position) => ({
      jobs: name,
      batch_id: payload.batchId,
      task_id: task.id,
      position,
      conversation_id: conversationIdOf(name, payload.batchId, task),
      status: "pending",
      attempts: 0,
      updated_at: now
    }))
    for (let i = 0; i < rows.length; i += 100) {
      yield* sql`INSERT INTO effect_codex_jobs ${sql.insert(rows.slice(i, i + 100))} ON CONFLICT DO NOTHING`
    }
  })

const setStatus = (
  name: string,
  batchId: string,
  taskId: string,
  fields: { readonly status: TaskStatus; readonly attempts: number; readonly result?: string | null; readonly error?: string | null }
) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`UPDATE effect_codex_jobs SET ${sql.update({ ...fields, updated_at: Date.now() })}
      WHERE jobs = ${name} AND batch_id = ${batchId} AND task_id = ${taskId}`).pipe(Effect.asVoid, Effect.retry(storeRetry))

const markRunning = (name: string, batchId: string, taskId: string, attempt: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`UPDATE effect_codex_jobs SET status = 'running', attempts = ${attempt}, runs = runs + 1, updated_at = ${Date.now()}
      WHERE jobs = ${name} AND batch_id = ${batchId} AND task_id = ${taskId}`).pipe(Effect.asVoid, Effect.retry(storeRetry))

const toState = (row: Row): Effect.Effect<TaskState> =>
  Effect.gen(function*() {
    const result = row.result === null ? Option.none() : Option.some(yield* Effect.orDie(Schema.decode(ResultJson)(row.result)))
    const error = row.error === null ? Option.none() : Option.some(yield* Effect.orDie(Schema.decode(ErrorJson)(row.error)))
    return {
      taskId: row.task_id,
      conversationId: row.conversation_id,
      status: row.status as TaskStatus,
      attempts: Number(row.attempts),
      runs: Number(row.runs),
      result,
      error,
      updatedAt: Number(row.updated_at)
    }
  })

const progressOf = (name: string, batchId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ readonly status: string; readonly n: number | string | bigint; readonly attempts: number | string | bigint | null; readonly runs: number | string | bigint | null }>`
      SELECT status, COUNT(*) AS n, SUM(attempts) AS attempts, SUM(runs) AS runs FROM effect_codex_jobs
      WHERE jobs = ${name} AND batch_id = ${batchId} GROUP BY status`).pipe(
      Effect.map((rows): Progress => {
        const count = (status: TaskStatus) => Number(rows.find((r) => r.status === status)?.n ?? 0)
        const total = rows.reduce((n, r) => n + Number(r.n), 0)
        const done = count("done")
        const failed = count("failed")
        return {
          batchId,
          total,
          pending: count("pending"),
          running: count("running"),
          done,
          failed,
          attempts: rows.reduce((n, r) => n + Number(r.attempts ?? 0), 0),
          runs: rows.reduce((n, r) => n + Number(r.runs ?? 0), 0),
          finished: total > 0 && done + failed === total
        }
      })
    )

// -------------------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------------------

const toTaskError = (taskId: string, attempt: number) => (error: unknown): TaskError =>
  new TaskError({
    taskId,
    attempt,
    reason: Predicate.hasProperty(error, "reason") && typeof error.reason === "string"
      ? error.reason
      : Predicate.hasProperty(error, "_tag") && typeof error._tag === "string"
      ? error._tag
      : "Error",
    message: Predicate.hasProperty(error, "message") && typeof error.message === "string" ? error.message : String(error)
  })

const toPayload = (batch: Batch): typeof BatchPayload.Type => {
  const seen = new Set<string>()
  for (const task of batch.tasks) {
    if (seen.has(task.id)) throw new Error(`CodexJobs: task id ${JSON.stringify(task.id)} appears twice in batch ${batch.batchId}`)
    seen.add(task.id)
  }
  return {
    batchId: batch.batchId,
    tasks: batch.tasks.map((task) => ({
      id: task.id,
      input: Input.toItems(task.input),
      ...(task.conversationId === undefined ? {} : { conversationId: task.conversationId }),
      ...(task.turn === undefined ? {} : { turn: task.turn }),
      ...(task.thread === undefined ? {} : { thread: task.thread })
    })),
    concurrency: batch.concurrency ?? 4,
    retries: batch.retries ?? 2,
    ...(batch.turn === undefined ? {} : { turn: batch.turn }),
    ...(batch.thread === undefined ? {} : { thread: batch.thread }),
    ...(batch.taskTimeout === undefined ? {} : { taskTimeout: Duration.decode(batch.taskTimeout) })
  }
}

/**
 * A kind of batch named `name` (the workflow `CodexJobs/<name>`). Every process that runs its
 * batches provides `jobs.layer` (or {@link layer}); the name and the task ids are what a resumed
 * batch is matched by, so keep them stable across deployments.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (name: string): Jobs => {
  const workflow = Workflow.make({
    name: `CodexJobs/${name}` as const,
    payload: BatchPayload,
    success: BatchResult,
    idempotencyKey: (payload) => payload.batchId
  })

  const runTask = (payload: typeof BatchPayload.Type, task: typeof TaskPayload.Type) => {
    const conversationId = conversationIdOf(name, payload.batchId, task)
    const maxAttempts = payload.retries + 1
    // queue: a turn of this conversation may still run (a persisted Run redelivered after a crash)
    const turn = { queue: true, ...payload.turn, ...task.turn }
    const thread = payload.thread === undefined && task.thread === undefined ? undefined : { ...payload.thread, ...task.thread }
    const activity = Activity.make({
      name: `task/${task.id}`,
      success: ConversationResult,
      error: TaskError,
      execute: Effect.gen(function*() {
        const attempt = yield* Activity.CurrentAttempt
        const fail = toTaskError(task.id, attempt)
        const cluster = yield* CodexCluster
        yield* markRunning(name, payload.batchId, task.id, attempt).pipe(Effect.mapError(fail))
        // the same key for a run of this attempt again after a crash: it gets the answer of the
        // redelivered Run of the killed process (or that one gets its), one turn instead of two
        const turnRun = cluster.conversation(conversationId).run(task.input, {
          turn,
          idempotencyKey: `CodexJobs/${name}/${payload.batchId}/${task.id}/${attempt}`,
          ...(thread === undefined ? {} : { thread })
        })
        const timeout = payload.taskTimeout
        return yield* (timeout === undefined ? turnRun : turnRun.pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => ({ reason: "Timeout", message: `Task ${task.id} took longer than ${Duration.format(timeout)}` })
          })
        )).pipe(
          Effect.mapError(fail),
          Effect.tap((result) =>
            Effect.flatMap(Effect.orDie(Schema.encode(ResultJson)(result)), (json) =>
              setStatus(name, payload.batchId, task.id, { status: "done", attempts: attempt, result: json, error: null })).pipe(
                Effect.mapError(fail)
              )
          ),
          Effect.tapError((error) =>
            Effect.flatMap(Effect.orDie(Schema.encode(ErrorJson)(error)), (json) =>
              setStatus(name, payload.batchId, task.id, {
                status: attempt >= maxAttempts ? "failed" : "pending",
                attempts: attempt,
                error: json
              })).pipe(Effect.ignoreLogged)
          )
        )
      })
    })
    return Effect.suspend(() => {
      let attempts = 0
      return Effect.flatMap(Activity.CurrentAttempt, (attempt) => {
        attempts = attempt
        return activity
      }).pipe(
        Activity.retry({ times: payload.retries }),
        Effect.match({
          onSuccess: (result): TaskOutcome => ({ _tag: "Done", taskId: task.id, conversationId, attempts, result }),
          onFailure: (error): TaskOutcome => ({ _tag: "Failed", taskId: task.id, conversationId, attempts, error })
        })
      )
    })
  }

  const layer = Layer.mergeAll(
    Layer.effectDiscard(ensureTable),
    workflow.toLayer((payload) =>
      Effect.gen(function*() {
        // idempotent: rows exist when the batch was started by `start` / `run`, or on a replay
        yield* registerRows(name, payload).pipe(Effect.retry(storeRetry), Effect.orDie)
        return yield* Effect.forEach(payload.tasks, (task) => runTask(payload, task), { concurrency: payload.concurrency })
      })
    )
  )

  const executionId = (batchId: string) => workflow.executionId({ batchId, tasks: [], concurrency: 1, retries: 0 })

  const prepare = (batch: Batch) =>
    Effect.suspend(() => {
      const payload = toPayload(batch)
      return Effect.as(Effect.zipRight(ensureTable, registerRows(name, payload)), payload)
    })

  const poll = (batchId: string) =>
    Effect.flatMap(executionId(batchId), (id) => workflow.poll(id)).pipe(
      Effect.flatMap((result) =>
        result === undefined || result._tag === "Suspended"
          ? Effect.succeed(Option.none<ReadonlyArray<TaskOutcome>>())
          : Effect.map(result.exit, Option.some)
      )
    )

  return {
    name,
    workflow,
    layer,
    run: (batch) => Effect.flatMap(prepare(batch), (payload) => workflow.execute(payload)),
    start: (batch) => Effect.flatMap(prepare(batch), (payload) => Effect.as(workflow.execute(payload, { discard: true }), payload.batchId)),
    poll,
    await: (batchId, options) => {
      const loop: Effect.Effect<ReadonlyArray<TaskOutcome>, never, WorkflowEngine> = Effect.flatMap(poll(batchId), (outcomes) =>
        Option.isSome(outcomes)
          ? Effect.succeed(outcomes.value)
          : Effect.zipRight(Effect.sleep(options?.interval ?? Duration.millis(500)), loop))
      return loop
    },
    progress: (batchId, options) =>
      Stream.unwrap(Effect.as(
        ensureTable,
        Stream.repeatEffectWithSchedule(progressOf(name, batchId), Schedule.spaced(options?.interval ?? Duration.millis(250)))
      )).pipe(
        Stream.changesWith((a, b) => Object.values(a).join(",") === Object.values(b).join(",")),
        Stream.takeUntil((p) => p.finished)
      ),
    results: (batchId) =>
      Effect.zipRight(
        ensureTable,
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql<Row>`SELECT task_id, conversation_id, status, attempts, runs, result, error, updated_at FROM effect_codex_jobs
            WHERE jobs = ${name} AND batch_id = ${batchId} ORDER BY position`).pipe(Effect.flatMap(Effect.forEach(toState)))
      )
  }
}

// -------------------------------------------------------------------------------------------------
// layers
// -------------------------------------------------------------------------------------------------

/**
 * The workflow engine on the cluster: `@effect/cluster`'s `ClusterWorkflowEngine` over the
 * `Sharding` and `MessageStorage` of a `CodexCluster` layer (`layerSingle`, `layerRunner`,
 * `layerClient` all give them).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEngine: Layer.Layer<WorkflowEngine, never, Sharding | MessageStorage> = ClusterWorkflowEngine.layer

/**
 * The engine with the given jobs registered on it: provide it over a `CodexCluster` runner
 * (`layerSingle` or `layerRunner`) with `Layer.provideMerge`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  ...jobs: ReadonlyArray<Jobs>
): Layer.Layer<WorkflowEngine, SqlError, Sharding | MessageStorage | CodexCluster | SqlClient.SqlClient> =>
  Layer.mergeAll(Layer.empty, ...jobs.map((j) => j.layer)).pipe(Layer.provideMerge(layerEngine))
