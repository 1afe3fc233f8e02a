/**
 * `CodexCluster`: runners that host `CodexConversation`s on a `CodexPool`, and clients that talk
 * to conversations from any process.
 *
 * - {@link layerRunner}: one runner process. It hosts conversations on its own pool of app-server
 *   processes, listens for other runners on `address`, and shares the cluster's state (shards,
 *   messages, the conversation → thread table) with them in SQL storage.
 * - {@link layerClient}: a process that only sends (no entities, no pool), over the same storage.
 * - {@link layerSingle}: runner and client in one process (SQL storage, no sockets), for one
 *   machine and for tests.
 *
 * Storage is SQLite (`sqlite(filename)`: one file, one machine, nothing to install) or PostgreSQL
 * (`postgres(url)`: many machines); the code is the same. Each layer also gives `CodexCluster`,
 * whose `conversation(id)` is a typed client of one conversation.
 *
 * Approvals and client-side tools are given to the runner and run there: a callback cannot
 * cross machines. For a conversation to survive its runner, every runner must see the threads'
 * rollouts: one `CODEX_HOME` shared by the runners (`pool.config.codexHome`, same machine or a
 * shared volume).
 *
 * @since 0.1.0
 */
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import type { AlreadyProcessingMessage, MailboxFull, PersistenceError } from "@effect/cluster/ClusterError"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardId from "@effect/cluster/ShardId"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SingleRunner from "@effect/cluster/SingleRunner"
import type { RpcClientError } from "@effect/rpc/RpcClientError"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as Protocol from "@effect-codex/protocol/generated/Schemas"
import { CodexPool, Input, type Goal, type RpcConnection, type Tool } from "@effect-codex/app-server"
import type { ConfigError } from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Stream from "effect/Stream"
import * as CodexConversation from "./CodexConversation.js"
import * as ConversationStore from "./ConversationStore.js"
import type { ConversationError } from "./Wire.js"

/**
 * Where the cluster keeps its state.
 *
 * @since 0.1.0
 * @category models
 */
export type Storage =
  | { readonly _tag: "Sqlite"; readonly filename: string }
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted<string> }

/**
 * SQLite storage in a file (WAL mode; every process of the cluster opens the same file).
 *
 * @since 0.1.0
 * @category storage
 */
export const sqlite = (filename: string): Storage => ({ _tag: "Sqlite", filename })

/**
 * PostgreSQL storage; the URL (it may hold a password) is kept `Redacted`.
 *
 * @since 0.1.0
 * @category storage
 */
export const postgres = (url: string | Redacted.Redacted<string>): Storage => ({
  _tag: "Postgres",
  url: Redacted.isRedacted(url) ? url : Redacted.make(url)
})

/**
 * The `SqlClient` of a storage.
 *
 * @since 0.1.0
 * @category storage
 */
export const layerSql = (storage: Storage): Layer.Layer<SqlClient.SqlClient, ConfigError | SqlError> =>
  storage._tag === "Sqlite"
    ? Layer.effectDiscard(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`PRAGMA busy_timeout = ${sql.literal(String(sqliteBusyTimeout))}`))
      .pipe(Layer.provideMerge(SqliteClient.layer({ filename: storage.filename })))
    : PgClient.layer({ url: storage.url })

/**
 * How long a SQLite statement waits for another process's write lock (ms). better-sqlite3's 5 s
 * would outlast the 1 s shard lock refresh of {@link fastFailover}: a runner stuck that long could
 * lose its shards.
 */
const sqliteBusyTimeout = 1000

/**
 * What a conversation's requests fail with beyond its own `ConversationError`: the cluster's
 * delivery errors.
 *
 * @since 0.1.0
 * @category errors
 */
export type DeliveryError = MailboxFull | AlreadyProcessingMessage | PersistenceError | RpcClientError

/**
 * A turn request's options: the turn's settings, and the thread's for a conversation that has no
 * thread yet.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  readonly turn?: typeof CodexConversation.TurnOptions.Type
  readonly thread?: Protocol.ThreadStartParams
  /**
   * One turn per key for the conversation (`Run` only): a later `run` with a key whose turn
   * completed gets that turn's result, one sent while it runs waits for it. For retries of your own
   * (a timeout, a restarted process) that must not run the turn twice.
   */
  readonly idempotencyKey?: string
}

/**
 * A client of one conversation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Conversation {
  readonly id: string
  /** Runs a turn to its end. */
  readonly run: (input: Input.Input, options?: RunOptions) => Effect.Effect<CodexConversation.ConversationResult, ConversationError | DeliveryError>
  /** Runs a turn, streaming its notifications (ending after `turn/completed`). */
  readonly stream: (input: Input.Input, options?: RunOptions) => Stream.Stream<RpcConnection.Notification, ConversationError | DeliveryError>
  /** Adds input to the running turn. */
  readonly steer: (input: Input.Input) => Effect.Effect<void, ConversationError | DeliveryError>
  /** Interrupts the running turn; whether one was running. */
  readonly interrupt: Effect.Effect<boolean, ConversationError | DeliveryError>
  /** Reads the thread, with its turns unless `includeTurns` is `false`. */
  readonly read: (options?: { readonly includeTurns?: boolean }) => Effect.Effect<Protocol.Thread, ConversationError | DeliveryError>
  readonly setName: (name: string) => Effect.Effect<void, ConversationError | DeliveryError>
  /** Archives the thread; the conversation refuses requests afterwards. */
  readonly archive: Effect.Effect<void, ConversationError | DeliveryError>
  /** Pursues a goal until it stops. */
  readonly runGoal: (
    objective: string,
    options?: Goal.GoalOptions & { readonly thread?: Protocol.ThreadStartParams }
  ) => Effect.Effect<Goal.GoalResult, ConversationError | DeliveryError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class CodexCluster extends Context.Tag("@effect-codex/cluster/CodexCluster")<CodexCluster, CodexCluster.Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace CodexCluster {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** A client of the conversation `id` (created on its first request). */
    readonly conversation: (id: string) => Conversation
    /** Every conversation the cluster has stored: its thread and the runner that last opened it. */
    readonly conversations: Effect.Effect<ReadonlyArray<ConversationStore.Conversation>, SqlError>
  }
}

const makeClient = Effect.gen(function*() {
  const clientFor = yield* CodexConversation.CodexConversation.client
  const store = yield* ConversationStore.ConversationStore
  const turnRequest = (input: Input.Input, options: RunOptions | undefined) => ({
    input: Input.toItems(input),
    ...(options?.turn === undefined ? {} : { turn: options.turn }),
    ...(options?.thread === undefined ? {} : { thread: options.thread }),
    ...(options?.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey })
  })
  const conversation = (id: string): Conversation => {
    const client = clientFor(id)
    return {
      id,
      run: (input, options) => client.Run(turnRequest(input, options)),
      stream: (input, options) => client.Stream(turnRequest(input, options)),
      steer: (input) => client.Steer({ input: Input.toItems(input) }),
      interrupt: client.Interrupt(),
      read: (options) => client.Read(options?.includeTurns === undefined ? {} : { includeTurns: options.includeTurns }),
      setName: (name) => client.SetName({ name }),
      archive: client.Archive(),
      runGoal: (objective, options) =>
        client.RunGoal({
          objective,
          ...(options?.tokenBudget === undefined ? {} : { tokenBudget: options.tokenBudget }),
          ...(options?.thread === undefined ? {} : { thread: options.thread })
        })
    }
  }
  return CodexCluster.of({ conversation, conversations: store.list })
})

/**
 * The `CodexCluster` client over the `Sharding` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClientOf: Layer.Layer<CodexCluster, never, Sharding.Sharding | ConversationStore.ConversationStore> = Layer
  .effect(CodexCluster, makeClient)

/**
 * Cluster timings for a small cluster that fails over in seconds: shard locks refreshed every
 * second and taken over 5 s after their runner stopped refreshing them, runners' health checked
 * every second. `@effect/cluster`'s own defaults (10 s, 35 s, 1 min: a failover of about 40 s)
 * suit large clusters with slow networks. Below 3 s, a live runner of a loaded machine may lose
 * its shards.
 *
 * @since 0.1.0
 * @category config
 */
export const fastFailover: Partial<ShardingConfig.ShardingConfig["Type"]> = {
  shardLockRefreshInterval: Duration.seconds(1),
  shardLockExpiration: Duration.seconds(5),
  refreshAssignmentsInterval: Duration.millis(500),
  runnerHealthCheckInterval: Duration.seconds(1),
  entityMessagePollInterval: Duration.millis(500),
  entityReplyPollInterval: Duration.millis(100)
}

/**
 * How many of the default group's shards this runner holds now (0 on a client): for a runner's
 * readiness report. Once every runner holds its share, conversations stop moving between live
 * runners (see the README: a conversation moved between two live runners waits for its thread's
 * writer lock).
 *
 * @since 0.1.0
 * @category accessors
 */
export const shardsHeld: Effect.Effect<number, never, Sharding.Sharding | ShardingConfig.ShardingConfig> = Effect.gen(
  function*() {
    const sharding = yield* Sharding.Sharding
    const config = yield* ShardingConfig.ShardingConfig
    let held = 0
    for (let id = 1; id <= config.shardsPerGroup; id++) {
      if (sharding.hasShardId(ShardId.make("default", id))) held++
    }
    return held
  }
)

/**
 * Options of {@link layerRunner}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunnerOptions<Tools extends ReadonlyArray<Tool.Definition<unknown>> = readonly []>
  extends CodexConversation.Options<Tools>
{
  /** The runner's pool of app-server processes. */
  readonly pool: CodexPool.Options
  readonly storage: Storage
  /** Where other runners and clients reach this runner (it listens there too). */
  readonly address: { readonly host: string; readonly port: number }
  /** `@effect/cluster` settings over {@link fastFailover}. */
  readonly sharding?: Partial<ShardingConfig.ShardingConfig["Type"]>
}

const shardingConfig = (
  address: { readonly host: string; readonly port: number } | undefined,
  sharding: Partial<ShardingConfig.ShardingConfig["Type"]> | undefined
): Partial<ShardingConfig.ShardingConfig["Type"]> => ({
  ...fastFailover,
  ...(address === undefined ? {} : { runnerAddress: Option.some(RunnerAddress.make(address.host, address.port)) }),
  ...sharding
})

const hosted = <const Tools extends ReadonlyArray<Tool.Definition<unknown>>>(options: CodexConversation.Options<Tools> & { readonly pool: CodexPool.Options }) =>
  Layer.mergeAll(CodexConversation.layer(options), layerClientOf).pipe(
    Layer.provide(CodexPool.layer(options.pool)),
    Layer.provide(ConversationStore.layer)
  )

/**
 * A runner: hosts conversations on a `CodexPool`, serves other runners over a socket at
 * `address`, and gives `CodexCluster` (a runner is a client too).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRunner = <const Tools extends ReadonlyArray<Tool.Definition<unknown>> = readonly []>(options: RunnerOptions<Tools>) =>
  hosted(options).pipe(
    Layer.provideMerge(NodeClusterSocket.layer({ storage: "sql", shardingConfig: shardingConfig(options.address, options.sharding) })),
    // the same settings as the runner's, for `shardsHeld`
    Layer.merge(ShardingConfig.layerFromEnv(shardingConfig(options.address, options.sharding))),
    Layer.provideMerge(layerSql(options.storage))
  )

/**
 * Options of {@link layerClient}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  readonly storage: Storage
  readonly sharding?: Partial<ShardingConfig.ShardingConfig["Type"]>
}

/**
 * A client only: sends to conversations on the runners found in the storage.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (options: ClientOptions) =>
  layerClientOf.pipe(
    Layer.provide(ConversationStore.layer),
    Layer.provideMerge(
      NodeClusterSocket.layer({ clientOnly: true, storage: "sql", shardingConfig: shardingConfig(undefined, options.sharding) })
    ),
    Layer.provideMerge(layerSql(options.storage))
  )

/**
 * Options of {@link layerSingle}.
 *
 * @since 0.1.0
 * @category models
 */
export interface SingleOptions<Tools extends ReadonlyArray<Tool.Definition<unknown>> = readonly []>
  extends CodexConversation.Options<Tools>
{
  readonly pool: CodexPool.Options
  readonly storage: Storage
  readonly sharding?: Partial<ShardingConfig.ShardingConfig["Type"]>
}

/**
 * Runner and client in one process, with SQL storage and no sockets (`SingleRunner`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSingle = <const Tools extends ReadonlyArray<Tool.Definition<unknown>> = readonly []>(options: SingleOptions<Tools>) =>
  hosted(options).pipe(
    Layer.provideMerge(SingleRunner.layer({ shardingConfig: shardingConfig(undefined, options.sharding) })),
    Layer.provideMerge(layerSql(options.storage))
  )
