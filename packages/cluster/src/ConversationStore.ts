/**
 * `ConversationStore`: which codex thread each conversation is, kept in the cluster's own SQL
 * database (SQLite or PostgreSQL, the `SqlClient` the runners share), so that a conversation
 * created again on another runner resumes the same thread.
 *
 * Two tables (created if missing):
 * - `effect_codex_conversations`: the conversation id, its thread id, the runner that last opened
 *   it, whether it was archived, and when the row last changed;
 * - `effect_codex_results`: the answer of each persisted request that completed (a turn's
 *   result), by the cluster's request id, so that a request the cluster delivers again (at least
 *   once: its reply was not stored before a shard moved) answers from here instead of running the
 *   turn a second time. Rows older than a day are dropped.
 *
 * The SQL is the subset SQLite and PostgreSQL share (`INSERT … ON CONFLICT …`).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/**
 * A conversation as stored.
 *
 * @since 0.1.0
 * @category models
 */
export interface Conversation {
  readonly conversationId: string
  readonly threadId: string
  /** The runner (`host:port`) that last opened the conversation's thread. */
  readonly runner: string
  readonly archived: boolean
  /** When the row last changed (Unix milliseconds). */
  readonly updatedAt: number
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ConversationStore extends Context.Tag("@effect-codex/cluster/ConversationStore")<
  ConversationStore,
  ConversationStore.Service
>() {}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace ConversationStore {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    readonly get: (conversationId: string) => Effect.Effect<Option.Option<Conversation>, SqlError>
    /** Records the conversation's thread and the runner that has it open now. */
    readonly save: (conversationId: string, threadId: string, runner: string) => Effect.Effect<void, SqlError>
    readonly archive: (conversationId: string) => Effect.Effect<void, SqlError>
    /** Every conversation, by id. */
    readonly list: Effect.Effect<ReadonlyArray<Conversation>, SqlError>
    /** The stored answer (JSON) of a request that completed, if any. */
    readonly result: (requestId: string) => Effect.Effect<Option.Option<string>, SqlError>
    /** Stores a completed request's answer (JSON); the first one stored wins. */
    readonly saveResult: (requestId: string, conversationId: string, json: string) => Effect.Effect<void, SqlError>
  }
}

interface Row {
  readonly conversation_id: string
  readonly thread_id: string
  readonly runner: string
  readonly archived: number | boolean
  readonly updated_at: number | string | bigint
}

const fromRow = (row: Row): Conversation => ({
  conversationId: row.conversation_id,
  threadId: row.thread_id,
  runner: row.runner,
  archived: row.archived === true || Number(row.archived) === 1,
  updatedAt: Number(row.updated_at)
})

// how long a completed request's answer is kept for a delivery again (a day)
const resultsKeptFor = 24 * 60 * 60 * 1000

/**
 * The store over the `SqlClient` in context; creates its table when missing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<ConversationStore.Service, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS effect_codex_conversations (
    conversation_id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    runner TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS effect_codex_results (
    request_id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL
  )`
  // every save drops the rows older than a day: by this index, not a scan of the table per turn
  yield* sql`CREATE INDEX IF NOT EXISTS effect_codex_results_created_at ON effect_codex_results (created_at)`
  return {
    get: (conversationId) =>
      sql<Row>`SELECT * FROM effect_codex_conversations WHERE conversation_id = ${conversationId}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), fromRow))
      ),
    save: (conversationId, threadId, runner) =>
      sql`INSERT INTO effect_codex_conversations (conversation_id, thread_id, runner, archived, updated_at)
        VALUES (${conversationId}, ${threadId}, ${runner}, 0, ${Date.now()})
        ON CONFLICT (conversation_id) DO UPDATE SET
          thread_id = excluded.thread_id, runner = excluded.runner, updated_at = excluded.updated_at`.pipe(Effect.asVoid),
    archive: (conversationId) =>
      sql`UPDATE effect_codex_conversations SET archived = 1, updated_at = ${Date.now()}
        WHERE conversation_id = ${conversationId}`.pipe(Effect.asVoid),
    list: sql<Row>`SELECT * FROM effect_codex_conversations ORDER BY conversation_id`.pipe(
      Effect.map((rows) => rows.map(fromRow))
    ),
    result: (requestId) =>
      sql<{ readonly result: string }>`SELECT result FROM effect_codex_results WHERE request_id = ${requestId}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (row) => row.result))
      ),
    saveResult: (requestId, conversationId, json) => {
      const now = Date.now()
      return sql`INSERT INTO effect_codex_results (request_id, conversation_id, result, created_at)
        VALUES (${requestId}, ${conversationId}, ${json}, ${now})
        ON CONFLICT (request_id) DO NOTHING`.pipe(
        Effect.zipRight(sql`DELETE FROM effect_codex_results WHERE created_at < ${now - resultsKeptFor}`),
        Effect.asVoid
      )
    }
  }
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<ConversationStore, SqlError, SqlClient.SqlClient> = Layer.effect(ConversationStore, make)
