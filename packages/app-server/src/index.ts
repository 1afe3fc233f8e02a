/**
 * `@effect-codex/app-server`: drive the Codex agent through `codex app-server` with Effect.
 * Every module is exported as a namespace.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as CodexBinary from "./CodexBinary.js"

/**
 * @since 0.1.0
 */
export * as CodexConfig from "./CodexConfig.js"

/**
 * @since 0.1.0
 */
export * as CodexError from "./CodexError.js"

/**
 * @since 0.1.0
 */
export * as Retry from "./Retry.js"

import * as Retry from "./Retry.js"

/**
 * The registry of started `codex app-server` processes and `reapOrphans`, which ends those whose
 * owner is gone.
 * @since 0.1.0
 */
export * as ProcessRegistry from "./ProcessRegistry.js"

/**
 * @since 0.1.0
 */
export * as StdioTransport from "./StdioTransport.js"

/**
 * @since 0.1.0
 */
export * as Transport from "./Transport.js"

/**
 * A running `codex app-server --listen ws://…` as a `Transport` (token auth, bounded handshake).
 *
 * @since 0.1.0
 */
export * as WebSocketTransport from "./WebSocketTransport.js"

/**
 * A running `codex app-server --listen unix://PATH` as a `Transport`.
 *
 * @since 0.1.0
 */
export * as UnixSocketTransport from "./UnixSocketTransport.js"

/**
 * A running app-server daemon, through `codex app-server proxy --sock PATH`, as a `Transport`.
 *
 * @since 0.1.0
 */
export * as ProxyTransport from "./ProxyTransport.js"

/**
 * Retries an effect while it fails with `ServerBusyError` (-32001); see `Retry.retryOnOverload`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const retryOnOverload: typeof Retry.retryOnOverload = Retry.retryOnOverload

/**
 * The `Codex` service and its layers.
 *
 * @since 0.1.0
 */
export * as Codex from "./Codex.js"

/**
 * The `Codex` service over a pool of `codex app-server` processes, thread-affine: `CodexPool.layer`,
 * and the `CodexPool` tag (stats, events).
 *
 * @since 0.1.0
 */
export * as CodexPool from "./CodexPool.js"

/**
 * Threads: `run`, `turn`, `setName`, `compact`, `read`.
 *
 * @since 0.1.0
 */
export * as Thread from "./Thread.js"

/**
 * Turn handles (`stream`, `run`, `steer`, `interrupt`) and run results.
 *
 * @since 0.1.0
 */
export * as Turn from "./Turn.js"

/**
 * Goals: an objective the server pursues over many turns (`thread.goal`, `thread.runGoal`),
 * followed as one run (`GoalHandle`: `stream`, `run`, `pause`, `resume`, `clear`, `status`).
 *
 * @since 0.1.0
 */
export * as Goal from "./Goal.js"

/**
 * Turn input: text, images, skills, mentions.
 *
 * @since 0.1.0
 */
export * as Input from "./Input.js"

/**
 * Approval policies for the requests the server sends.
 *
 * @since 0.1.0
 */
export * as Approvals from "./Approvals.js"

/**
 * Client-side tools the agent calls inside a turn: `Tool.make`, `Tool.namespace`, content, faults.
 *
 * @since 0.1.0
 */
export * as Tool from "./Tool.js"

/**
 * The JSON-RPC connection.
 *
 * @since 0.1.0
 */
export * as RpcConnection from "./RpcConnection.js"

/**
 * Fail-closed answers to server requests.
 *
 * @since 0.1.0
 */
export * as ServerRequests from "./ServerRequests.js"

/**
 * Logging in: an API key, ChatGPT in a browser or with a device code (`codex.login`).
 *
 * @since 0.1.0
 */
export * as Login from "./Login.js"

/**
 * Sandbox presets: `Sandbox.readOnly`, `Sandbox.workspaceWrite(options)`, `Sandbox.fullAccess`.
 *
 * @since 0.1.0
 */
export * as Sandbox from "./Sandbox.js"

/**
 * Approval presets (`approvalPolicy` + `approvalsReviewer`): `ApprovalMode.denyAll`, `autoReview`, ….
 *
 * @since 0.1.0
 */
export * as ApprovalMode from "./ApprovalMode.js"
