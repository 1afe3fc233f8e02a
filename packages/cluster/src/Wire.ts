/**
 * The serialisable forms of what a conversation answers, so that they cross runners (the
 * cluster's MessagePack between processes, its SQL storage for persisted replies): a turn's
 * `RunResult`, a goal's `GoalResult`, the turn's notifications, and the one error a conversation
 * fails with.
 *
 * The notification schema sends each known notification in its wire form and decodes it again on
 * the receiving side with the SDK's own decoder, so a client's `stream` sees the same typed
 * `Notification`s as one on the runner (an unknown one stays unknown, kept raw).
 *
 * @since 0.1.0
 */
import * as Protocol from "@effect-codex/protocol/generated/Schemas"
import { ServerNotifications } from "@effect-codex/protocol/generated/Methods"
import * as Registry from "@effect-codex/protocol/Registry"
import type { RpcConnection, Turn } from "@effect-codex/app-server"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * Token counts by kind.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Tokens: Schema.Schema<Turn.Tokens, Protocol.TokenUsageBreakdown> = Protocol.TokenUsageBreakdown

/**
 * A turn's usage: the thread's totals, and what this turn used (`turn`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Usage: Schema.Schema<Turn.Usage, Protocol.ThreadTokenUsage & { readonly turn: Protocol.TokenUsageBreakdown }> = Schema
  .extend(Protocol.ThreadTokenUsage, Schema.Struct({ turn: Tokens }))

/**
 * A client-side tool call of a turn.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCall = Schema.Struct({
  callId: Schema.String,
  tool: Schema.String,
  namespace: Schema.UndefinedOr(Schema.String),
  arguments: Schema.Unknown,
  success: Schema.Boolean,
  contentItems: Schema.Array(Protocol.DynamicToolCallOutputContentItem),
  duration: Schema.OptionFromNullOr(Schema.DurationFromMillis)
})

/**
 * A turn's `RunResult`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunResult = Schema.Struct({
  finalResponse: Schema.OptionFromNullOr(Schema.String),
  items: Schema.Array(Protocol.ThreadItem),
  toolCalls: Schema.Array(ToolCall),
  usage: Schema.OptionFromNullOr(Usage),
  turn: Protocol.Turn
})

/**
 * A goal's `GoalResult`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const GoalResult = Schema.Struct({
  goal: Protocol.ThreadGoal,
  turns: Schema.Array(RunResult),
  finalResponse: Schema.OptionFromNullOr(Schema.String),
  usage: Tokens
})

const WireNotification = Schema.Struct({
  method: Schema.String,
  params: Schema.Unknown,
  emittedAtMs: Schema.optional(Schema.Number)
})

const isNotification = (u: unknown): u is RpcConnection.Notification =>
  Predicate.hasProperty(u, "method") && typeof u.method === "string" && Predicate.hasProperty(u, "params")

const encodeParams = (method: string, params: unknown): unknown => {
  const schema = (ServerNotifications as Record<string, { readonly params: Schema.Schema<any, any> } | undefined>)[method]?.params
  return schema === undefined ? params : Schema.encodeUnknownSync(schema)(params)
}

/**
 * A turn's notification: known ones typed as the SDK decodes them, unknown ones raw.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Notification: Schema.Schema<RpcConnection.Notification, typeof WireNotification.Encoded> = Schema.transformOrFail(
  WireNotification,
  Schema.declare(isNotification, { identifier: "Notification" }),
  {
    strict: true,
    decode: ({ emittedAtMs, method, params }) =>
      ParseResult.succeed(Either.getOrElse(
        Registry.decodeNotification(method, params, emittedAtMs),
        () => Registry.unknownNotification(method, params, emittedAtMs, "undecodable")
      )),
    encode: (n, _, ast) =>
      ParseResult.try({
        try: () => {
          const method = n.method === Registry.unknownMethod ? (n as Registry.UnknownNotification).rawMethod : n.method
          const params = n.method === Registry.unknownMethod ? n.params : encodeParams(n.method, n.params)
          return n.emittedAtMs === undefined ? { method, params } : { method, params, emittedAtMs: n.emittedAtMs }
        },
        catch: (e) => new ParseResult.Type(ast, n, e instanceof Error ? e.message : String(e))
      })
  }
)

/**
 * Why a conversation's request failed. `reason` is the `_tag` of the error on the runner:
 * `TurnFailedError`, `TurnBusyError`, `TurnStalledError`, `GoalActiveError`, `ProcessExitedError`,
 * `ServerBusyError`, `InvalidRequestError` (and the other JSON-RPC errors), `SqlError`, or
 * `ConversationArchived` / `NoActiveTurn` / `WriterLockHeld` (another process still has the thread
 * loaded, after `writerLockWait`) from the conversation itself.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConversationError extends Schema.TaggedError<ConversationError>("@effect-codex/cluster/ConversationError")(
  "ConversationError",
  {
    conversationId: Schema.String,
    reason: Schema.String,
    message: Schema.String,
    threadId: Schema.optional(Schema.String)
  }
) {}

/**
 * Wraps an error of the runner (anything with a `_tag`, else an `Error`) as a `ConversationError`.
 *
 * @since 0.1.0
 * @category errors
 */
export const toConversationError = (conversationId: string, threadId?: string) => (error: unknown): ConversationError => {
  const reason = Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : "Error"
  const message = error instanceof Error ? error.message : String(error)
  return new ConversationError(threadId === undefined ? { conversationId, reason, message } : { conversationId, reason, message, threadId })
}
