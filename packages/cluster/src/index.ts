/**
 * `@effect-codex/cluster`: Codex conversations as `@effect/cluster` entities, and durable agent
 * jobs with `@effect/workflow`.
 *
 * @since 0.1.0
 */

/**
 * A codex thread as a cluster entity addressed by a conversation id.
 *
 * @since 0.1.0
 */
export * as CodexConversation from "./CodexConversation.js"

/**
 * Which codex thread each conversation is, in the cluster's SQL database.
 *
 * @since 0.1.0
 */
export * as ConversationStore from "./ConversationStore.js"

/**
 * The serialisable forms of results, notifications and errors.
 *
 * @since 0.1.0
 */
export * as Wire from "./Wire.js"

/**
 * Runners hosting conversations on a `CodexPool`, and clients of conversations.
 *
 * @since 0.1.0
 */
export * as CodexCluster from "./CodexCluster.js"

/**
 * Batches of conversation turns as durable `@effect/workflow` workflows: retries, a concurrency
 * limit, progress as a `Stream`, results collected, resumed after a crash.
 *
 * @since 0.1.0
 */
export * as CodexJobs from "./CodexJobs.js"
