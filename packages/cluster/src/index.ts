/**
 * `@effect-codex/cluster`: Codex conversations as `@effect/cluster` entities, and durable agent
 * jobs with `@effect/workflow`.
 *
 * @since 0.1.0
 */
export {}
