/**
 * `@effect-codex/app-server/ai`: interop with `@effect/ai` (an optional peer dependency, 0.37).
 * `CodexTools.fromToolkit(toolkit)` serves the tools of an `@effect/ai` `Toolkit`, with the
 * handlers of `toolkit.toLayer(...)`, to Codex as client-side tools.
 *
 * @since 0.1.0
 */

/**
 * The tools of an `@effect/ai` `Toolkit` as Codex client-side tools: `CodexTools.fromToolkit`.
 *
 * @since 0.1.0
 */
export * as CodexTools from "./CodexTools.js"
