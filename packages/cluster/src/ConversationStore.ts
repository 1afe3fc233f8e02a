/**
 * `ConversationStore`: which codex thread each conversation is, kept in the cluster's own SQL
 * database (SQLite or PostgreSQL, the `SqlClient` the runners share), so that a conversation
 * created again on another runner resumes the same thread.
 *
 * One table, `effect_codex_conversations` (created if missing): the conversation id, its thread
 * id, the runner that last opened it, whether it was archived, and when the row last changed. The
 * SQL is the subset SQLite and PostgreSQL share (`INSERT … ON CONFLICT … DO UPDATE`).
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
    )
  }
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<ConversationStore, SqlError, SqlClient.SqlClient> = Layer.effect(ConversationStore, make)
