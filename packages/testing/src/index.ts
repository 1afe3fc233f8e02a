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

/**
 * An in-memory `Transport` whose peer, a fake `codex app-server`, is scripted in Effect, for tests
 * without the binary.
 *
 * @since 0.1.0
 * @category modules
 */
export * as MockAppServer from "./MockAppServer.js"

/**
 * Wire payloads and server-side scripts for `MockAppServer` tests.
 *
 * @since 0.1.0
 */
export * as Fixtures from "./Fixtures.js"
