/**
 * Test doubles for effect-codex.
 *
 * @since 0.1.0
 */

/**
 * A scriptable fake of the OpenAI Responses API on loopback (plus an isolated `CODEX_HOME`) for
 * driving the real `codex app-server` binary in tests.
 *
 * @since 0.1.0
 * @category modules
 */
export * as FakeModel from "./FakeModel.js"
