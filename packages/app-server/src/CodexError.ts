/**
 * Every failure the SDK can report, as tagged errors built with `Schema.TaggedError`.
 *
 * - The JSON-RPC error family, one class per code (`ParseError` -32700, `InvalidRequestError` -32600,
 *   `MethodNotFoundError` -32601, `InvalidParamsError` -32602, `InternalRpcError` -32603,
 *   `ServerBusyError` -32001) and `RpcError` for any other code. Each keeps the server's `code`,
 *   `message` and `data`, plus the `method` of the request that failed. Build them with
 *   {@link fromJsonRpcError}. Note that `codex app-server` (0.169.0 to 0.171.0) answers nearly every request error
 *   with -32600; the message text is what tells the cases apart.
 * - Transport and process failures: {@link TransportClosedError}, {@link ProcessExitedError},
 *   {@link ConnectionFailedError}, {@link ConnectionLostError}, {@link LineTooLongError}, {@link ProtocolDecodeError}, {@link CodexBinaryNotFoundError}.
 * - Client-side failures: {@link RequestTimeoutError}, {@link ExperimentalApiRequiredError},
 *   {@link VersionMismatchError}, {@link TurnBusyError}, {@link TurnConsumedError},
 *   {@link TurnStalledError}.
 * - Goals: {@link GoalActiveError}, {@link GoalClearedError}, {@link GoalConsumedError}.
 * - Tool calls: {@link ToolFailure}, the deliberate refusal of a client-side tool (`Tool.fail`).
 * - Turn outcomes: {@link TurnFailedError} (with the protocol's `codexErrorInfo`, see
 *   {@link classifyCodexErrorInfo}) and {@link StructuredOutputError}.
 * - Login outcomes: {@link LoginFailedError}, {@link LoginCancelledError}, {@link LoginTimeoutError}.
 *
 * All of them carry {@link TypeId}; {@link isCodexError} recognises them and {@link CodexError} is
 * their union.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * Marks every error of this module.
 *
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("@effect-codex/app-server/CodexError")

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId


// ---------------------------------------------------------------------------------------------
// JSON-RPC error family
// ---------------------------------------------------------------------------------------------

/**
 * The standard JSON-RPC and Codex error codes.
 *
 * @since 0.1.0
 * @category constants
 */
export const JsonRpcErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  Internal: -32603,
  ServerBusy: -32001
} as const

const jsonRpcFields = {
  message: Schema.String,
  data: Schema.optional(Schema.Unknown),
  method: Schema.String
}

/**
 * `-32700`: the server could not parse the request. (The tag is `JsonRpcParseError`, so that it
 * does not collide with `ParseResult.ParseError` of `effect/Schema`.)
 *
 * @since 0.1.0
 * @category errors
 */
export class ParseError extends Schema.TaggedError<ParseError>("@effect-codex/app-server/ParseError")(
  "JsonRpcParseError",
  { code: Schema.tag(JsonRpcErrorCode.ParseError), ...jsonRpcFields }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
}

/**
 * `-32600`: invalid request. Codex (0.169.0 to 0.171.0) uses it for nearly every request error (unknown method,
 * bad params, not initialized, unknown thread, missing experimental opt-in).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequestError extends Schema.TaggedError<InvalidRequestError>(
  "@effect-codex/app-server/InvalidRequestError"
)("InvalidRequestError", { code: Schema.tag(JsonRpcErrorCode.InvalidRequest), ...jsonRpcFields }) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
}

/**
 * `-32601`: method not found.
 *
 * @since 0.1.0
 * @category errors
 */
export class MethodNotFoundError extends Schema.TaggedError<MethodNotFoundError>(
  "@effect-codex/app-server/MethodNotFoundError"
)("MethodNotFoundError", { code: Schema.tag(JsonRpcErrorCode.MethodNotFound), ...jsonRpcFields }) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
}

/**
 * `-32602`: invalid params.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidParamsError extends Schema.TaggedError<InvalidParamsError>(
  "@effect-codex/app-server/InvalidParamsError"
)("InvalidParamsError", { code: Schema.tag(JsonRpcErrorCode.InvalidParams), ...jsonRpcFields }) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
}

/**
 * `-32603`: internal error of the server.
 *
 * @since 0.1.0
 * @category errors
 */
export class InternalRpcError extends Schema.TaggedError<InternalRpcError>(
  "@effect-codex/app-server/InternalRpcError"
)("InternalRpcError", { code: Schema.tag(JsonRpcErrorCode.Internal), ...jsonRpcFields }) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
}

/**
 * `-32001`: the server's ingress queue was full ("Server overloaded; retry later."). The request was
 * not processed, so it is safe to retry (see `Retry.retryOnOverload`).
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerBusyError extends Schema.TaggedError<ServerBusyError>("@effect-codex/app-server/ServerBusyError")(
  "ServerBusyError",
  { code: Schema.tag(JsonRpcErrorCode.ServerBusy), ...jsonRpcFields }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
}

/**
 * A JSON-RPC error with a code that has no class of its own.
 *
 * @since 0.1.0
 * @category errors
 */
export class RpcError extends Schema.TaggedError<RpcError>("@effect-codex/app-server/RpcError")("RpcError", {
  code: Schema.Number,
  ...jsonRpcFields
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
}

/**
 * Any error answer of the server.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonRpcError =
  | ParseError
  | InvalidRequestError
  | MethodNotFoundError
  | InvalidParamsError
  | InternalRpcError
  | ServerBusyError
  | RpcError

/**
 * The `error` member of a JSON-RPC response, as it arrives on the wire.
 *
 * @since 0.1.0
 * @category models
 */
export interface JsonRpcErrorObject {
  readonly code: number
  readonly message: string
  readonly data?: unknown
}

/**
 * Builds the error class matching `error.code`, keeping `message`, `data` and the request `method`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromJsonRpcError = (error: JsonRpcErrorObject, method: string): JsonRpcError => {
  const props = error.data === undefined
    ? { message: error.message, method }
    : { message: error.message, data: error.data, method }
  switch (error.code) {
    case JsonRpcErrorCode.ParseError:
      return new ParseError(props)
    case JsonRpcErrorCode.InvalidRequest:
      return new InvalidRequestError(props)
    case JsonRpcErrorCode.MethodNotFound:
      return new MethodNotFoundError(props)
    case JsonRpcErrorCode.InvalidParams:
      return new InvalidParamsError(props)
    case JsonRpcErrorCode.Internal:
      return new InternalRpcError(props)
    case JsonRpcErrorCode.ServerBusy:
      return new ServerBusyError(props)
    default:
      return new RpcError({ ...props, code: error.code })
  }
}

const jsonRpcTags: ReadonlySet<string> = new Set([
  "JsonRpcParseError",
  "InvalidRequestError",
  "MethodNotFoundError",
  "InvalidParamsError",
  "InternalRpcError",
  "ServerBusyError",
  "RpcError"
])

/**
 * Whether a value is one of the JSON-RPC error classes.
 *
 * @since 0.1.0
 * @category guards
 */
export const isJsonRpcError = (u: unknown): u is JsonRpcError =>
  Predicate.hasProperty(u, TypeId) && Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" &&
  jsonRpcTags.has(u._tag)

/**
 * Whether a value is a `-32001` overload answer.
 *
 * @since 0.1.0
 * @category guards
 */
export const isServerBusyError = (u: unknown): u is ServerBusyError => u instanceof ServerBusyError

// ---------------------------------------------------------------------------------------------
// Client, transport and process errors
// ---------------------------------------------------------------------------------------------

/**
 * A request got no answer within its deadline. It may still have run on the server, so it is never
 * retried automatically.
 *
 * @since 0.1.0
 * @category errors
 */
export class RequestTimeoutError extends Schema.TaggedError<RequestTimeoutError>(
  "@effect-codex/app-server/RequestTimeoutError"
)("RequestTimeoutError", {
  method: Schema.String,
  timeout: Schema.DurationFromSelf
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Request "${this.method}" got no response within ${Duration.format(this.timeout)}`
  }
}

/**
 * The transport is closed (by its owner, or because the connection broke) and cannot carry messages.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportClosedError extends Schema.TaggedError<TransportClosedError>(
  "@effect-codex/app-server/TransportClosedError"
)("TransportClosedError", {
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Transport closed: ${this.reason}`
  }
}

/**
 * The `codex app-server` process exited (or closed its stdout). Carries the exit code or the signal
 * that ended it and the last lines it wrote to stderr.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProcessExitedError extends Schema.TaggedError<ProcessExitedError>(
  "@effect-codex/app-server/ProcessExitedError"
)("ProcessExitedError", {
  exitCode: Schema.NullOr(Schema.Number),
  signal: Schema.NullOr(Schema.String),
  stderrTail: Schema.Array(Schema.String)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const how = this.signal !== null
      ? `was killed by ${this.signal}`
      : this.exitCode !== null
      ? `exited with code ${this.exitCode}`
      : "closed its output"
    const tail = this.stderrTail.slice(-5)
    return tail.length === 0
      ? `codex app-server ${how}`
      : `codex app-server ${how}; last stderr lines:\n${tail.join("\n")}`
  }
}

/**
 * Connecting to a running app-server failed at start: the connection was refused, the socket does
 * not exist, the server rejected the upgrade (a wrong or missing token gets HTTP 401), or the
 * handshake did not finish within its timeout. `endpoint` names what was dialled (a URL or a socket
 * path, never a token).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionFailedError extends Schema.TaggedError<ConnectionFailedError>(
  "@effect-codex/app-server/ConnectionFailedError"
)("ConnectionFailedError", {
  endpoint: Schema.String,
  reason: Schema.Literal("refused", "notFound", "unauthorized", "rejected", "timeout", "error"),
  status: Schema.optional(Schema.Number),
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const status = this.status === undefined ? "" : ` (HTTP ${this.status})`
    return `Cannot connect to codex app-server at ${this.endpoint}: ${this.reason}${status}: ${this.detail}`
  }
}

/**
 * An established connection to a running app-server dropped (the server died, closed the
 * connection, or the network broke). The SDK does not reconnect: every pending request and turn
 * fails with this error. `code` and `closeReason` are the WebSocket close code and reason (1006: no
 * close frame, the peer vanished).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionLostError extends Schema.TaggedError<ConnectionLostError>(
  "@effect-codex/app-server/ConnectionLostError"
)("ConnectionLostError", {
  endpoint: Schema.String,
  code: Schema.NullOr(Schema.Number),
  closeReason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const code = this.code === null ? "" : ` (close code ${this.code}${this.closeReason === "" ? "" : `: ${this.closeReason}`})`
    return `The connection to codex app-server at ${this.endpoint} was lost${code}`
  }
}

/**
 * Shortens a wire line for error reports (the default keeps 200 characters).
 *
 * @since 0.1.0
 * @category utils
 */
export const excerpt = (line: string, max = 200): string =>
  line.length <= max ? line : `${line.slice(0, max)}… (${line.length} chars)`

/**
 * An incoming line that is not a valid protocol message (not JSON, or not of a known shape).
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolDecodeError extends Schema.TaggedError<ProtocolDecodeError>(
  "@effect-codex/app-server/ProtocolDecodeError"
)("ProtocolDecodeError", {
  /** An excerpt of the offending line (see {@link excerpt}). */
  line: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Undecodable protocol line (${this.reason}): ${this.line}`
  }
}

/**
 * An incoming line exceeded the configured maximum size; it was dropped.
 *
 * @since 0.1.0
 * @category errors
 */
export class LineTooLongError extends Schema.TaggedError<LineTooLongError>(
  "@effect-codex/app-server/LineTooLongError"
)("LineTooLongError", {
  /** Size of the dropped line in bytes (without its line terminator). */
  bytes: Schema.Number,
  limit: Schema.Number
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Dropped an incoming line of ${this.bytes} bytes (limit ${this.limit} bytes)`
  }
}

/**
 * No `codex` executable could be found.
 *
 * @since 0.1.0
 * @category errors
 */
export class CodexBinaryNotFoundError extends Schema.TaggedError<CodexBinaryNotFoundError>(
  "@effect-codex/app-server/CodexBinaryNotFoundError"
)("CodexBinaryNotFoundError", {
  /** Every location that was tried. */
  searched: Schema.Array(Schema.String),
  /** How to fix it. */
  hint: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `codex executable not found (looked for: ${this.searched.join(", ")}). ${this.hint}`
  }
}

/**
 * A method or field needs `experimentalApi: true` in the configuration; raised before sending.
 *
 * @since 0.1.0
 * @category errors
 */
export class ExperimentalApiRequiredError extends Schema.TaggedError<ExperimentalApiRequiredError>(
  "@effect-codex/app-server/ExperimentalApiRequiredError"
)("ExperimentalApiRequiredError", {
  method: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `"${this.method}" is experimental: set experimentalApi: true in the CodexConfig to use it`
  }
}

/**
 * The server reports a version other than the one this SDK is pinned to.
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionMismatchError extends Schema.TaggedError<VersionMismatchError>(
  "@effect-codex/app-server/VersionMismatchError"
)("VersionMismatchError", {
  expected: Schema.String,
  actual: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `codex app-server version ${this.actual} does not match the pinned version ${this.expected}`
  }
}

/**
 * A thread already has an active turn consumer.
 *
 * @since 0.1.0
 * @category errors
 */
export class TurnBusyError extends Schema.TaggedError<TurnBusyError>("@effect-codex/app-server/TurnBusyError")(
  "TurnBusyError",
  { threadId: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Thread ${this.threadId} already has an active turn; wait for it or steer it`
  }
}

/**
 * A turn (or a compaction) sent no event for `idleTimeout`: it was interrupted on the server
 * (`turn/interrupt`, when its id was known) and its consumer failed with this error. `lastEvent`
 * is the method of the last event of the turn (`null`: none since it started) and `lastEventAt`
 * when it arrived (epoch ms, by the Effect `Clock`; the turn's start when there was none).
 * `turnId` is `null` for a compaction that never announced its turn.
 *
 * @since 0.1.0
 * @category errors
 */
export class TurnStalledError extends Schema.TaggedError<TurnStalledError>("@effect-codex/app-server/TurnStalledError")(
  "TurnStalledError",
  {
    threadId: Schema.String,
    turnId: Schema.NullOr(Schema.String),
    idleTimeout: Schema.DurationFromSelf,
    lastEvent: Schema.NullOr(Schema.String),
    lastEventAt: Schema.Number
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const last = this.lastEvent === null ? "no event since it started" : `last event ${this.lastEvent}`
    return `Turn ${this.turnId ?? "(compaction)"} of thread ${this.threadId} stalled: nothing for ${
      Duration.format(this.idleTimeout)
    } (${last}, at ${new Date(this.lastEventAt).toISOString()}); it was interrupted`
  }
}

/**
 * A client-side tool refused the call on purpose (`Tool.fail(message)`): the model is answered
 * `success: false` with `message` as the text.
 *
 * @since 0.1.0
 * @category errors
 */
export class ToolFailure extends Schema.TaggedError<ToolFailure>("@effect-codex/app-server/ToolFailure")(
  "ToolFailure",
  { reason: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return this.reason
  }
}

/**
 * A turn ended with `status: "failed"`. `codexErrorInfo` is the protocol's value as received; see
 * {@link classifyCodexErrorInfo} and the `info` getter.
 *
 * @since 0.1.0
 * @category errors
 */
export class TurnFailedError extends Schema.TaggedError<TurnFailedError>("@effect-codex/app-server/TurnFailedError")(
  "TurnFailedError",
  {
    turnId: Schema.String,
    threadId: Schema.optional(Schema.String),
    message: Schema.String,
    codexErrorInfo: Schema.Unknown
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * The classified `codexErrorInfo`.
   *
   * @since 0.1.0
   */
  get info(): CodexErrorInfoSummary {
    return classifyCodexErrorInfo(this.codexErrorInfo)
  }
}

/**
 * A turn's `stream` or `run` was used after the turn had already been consumed (they are mutually
 * exclusive, and each can be used once).
 *
 * @since 0.1.0
 * @category errors
 */
export class TurnConsumedError extends Schema.TaggedError<TurnConsumedError>("@effect-codex/app-server/TurnConsumedError")(
  "TurnConsumedError",
  { turnId: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Turn ${this.turnId} was already consumed: use either its stream or its run, once`
  }
}

/**
 * The final answer of a turn with an output schema could not be decoded with that schema.
 *
 * @since 0.1.0
 * @category errors
 */
export class StructuredOutputError extends Schema.TaggedError<StructuredOutputError>(
  "@effect-codex/app-server/StructuredOutputError"
)("StructuredOutputError", {
  /** The final text as the model produced it. */
  raw: Schema.String,
  cause: Schema.Defect
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const reason = Predicate.hasProperty(this.cause, "message") && typeof this.cause.message === "string"
      ? this.cause.message
      : String(this.cause)
    return `The final answer does not match the output schema: ${reason}\nraw: ${excerpt(this.raw)}`
  }
}

// ---------------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------------

/**
 * A login attempt ended without success: the server's `account/login/completed` said
 * `success: false` (its `error` is the message), or `account/login/start` answered with a type
 * other than the one asked for.
 *
 * @since 0.1.0
 * @category errors
 */
export class LoginFailedError extends Schema.TaggedError<LoginFailedError>("@effect-codex/app-server/LoginFailedError")(
  "LoginFailedError",
  { loginId: Schema.NullOr(Schema.String), reason: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Login ${this.loginId ?? "(no id)"} failed: ${this.reason}`
  }
}

/**
 * A login attempt was cancelled through its handle (`cancel`) before it completed.
 *
 * @since 0.1.0
 * @category errors
 */
export class LoginCancelledError extends Schema.TaggedError<LoginCancelledError>("@effect-codex/app-server/LoginCancelledError")(
  "LoginCancelledError",
  { loginId: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Login ${this.loginId} was cancelled`
  }
}

/**
 * A login attempt did not complete within its deadline (the user never finished signing in). The
 * attempt is cancelled on the server.
 *
 * @since 0.1.0
 * @category errors
 */
export class LoginTimeoutError extends Schema.TaggedError<LoginTimeoutError>("@effect-codex/app-server/LoginTimeoutError")(
  "LoginTimeoutError",
  { loginId: Schema.String, timeout: Schema.DurationFromSelf }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Login ${this.loginId} did not complete within ${Duration.format(this.timeout)}`
  }
}

/**
 * The thread is pursuing a goal (`thread.goal`): the server starts its turns by itself, so a turn
 * of the user's (`turn`, `run`, `compact`) or a second goal would interfere with it. Pause or
 * clear the goal first, or wait for it to end.
 *
 * @since 0.1.0
 * @category errors
 */
export class GoalActiveError extends Schema.TaggedError<GoalActiveError>("@effect-codex/app-server/GoalActiveError")(
  "GoalActiveError",
  { threadId: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Thread ${this.threadId} is pursuing a goal; pause or clear it, or wait for it to end`
  }
}

/**
 * The goal was cleared (`thread/goal/cleared`) before it reached a status of its own, by
 * `GoalHandle.clear` or by another client of the thread.
 *
 * @since 0.1.0
 * @category errors
 */
export class GoalClearedError extends Schema.TaggedError<GoalClearedError>("@effect-codex/app-server/GoalClearedError")(
  "GoalClearedError",
  { threadId: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The goal of thread ${this.threadId} was cleared`
  }
}

/**
 * A goal's `stream` or `run` is already being consumed: one consumer at a time.
 *
 * @since 0.1.0
 * @category errors
 */
export class GoalConsumedError extends Schema.TaggedError<GoalConsumedError>("@effect-codex/app-server/GoalConsumedError")(
  "GoalConsumedError",
  { threadId: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The goal of thread ${this.threadId} is already being followed: use its stream or its run, one at a time`
  }
}

/**
 * Every error of the SDK.
 *
 * @since 0.1.0
 * @category models
 */
export type CodexError =
  | TurnConsumedError
  | JsonRpcError
  | RequestTimeoutError
  | TransportClosedError
  | ProcessExitedError
  | ConnectionFailedError
  | ConnectionLostError
  | ProtocolDecodeError
  | LineTooLongError
  | CodexBinaryNotFoundError
  | ExperimentalApiRequiredError
  | VersionMismatchError
  | TurnBusyError
  | TurnStalledError
  | TurnFailedError
  | StructuredOutputError
  | LoginFailedError
  | LoginCancelledError
  | LoginTimeoutError
  | GoalActiveError
  | GoalClearedError
  | GoalConsumedError
  | ToolFailure

/**
 * Whether a value is one of the errors of this module.
 *
 * @since 0.1.0
 * @category guards
 */
export const isCodexError = (u: unknown): u is CodexError => Predicate.hasProperty(u, TypeId)

// ---------------------------------------------------------------------------------------------
// codexErrorInfo
// ---------------------------------------------------------------------------------------------

/**
 * A compact reading of the protocol's `CodexErrorInfo` (found in `error` notifications and failed
 * turns).
 *
 * - `kind`: the string value (`"contextWindowExceeded"`, `"usageLimitExceeded"`, …), or the single key
 *   of the object form (`"httpConnectionFailed"`, `"responseTooManyFailedAttempts"`, …), or
 *   `"unknown"` when the value is absent or of another shape.
 * - `httpStatusCode`: the upstream HTTP status when the object form carries one.
 * - `retryable`: whether running the same turn again later may succeed (see
 *   {@link classifyCodexErrorInfo} for the rule).
 *
 * @since 0.1.0
 * @category models
 */
export interface CodexErrorInfoSummary {
  readonly kind: string
  readonly httpStatusCode?: number
  readonly retryable: boolean
}

/** Kinds that are transient on the server side whatever the status code. */
const retryableKinds: ReadonlySet<string> = new Set([
  "serverOverloaded",
  "internalServerError",
  "rateLimitExceeded",
  "flexUnavailable",
  "policyCapacityUnavailable"
])

/** Kinds that describe a failed HTTP exchange; retryable depends on the status code. */
const httpKinds: ReadonlySet<string> = new Set([
  "httpConnectionFailed",
  "responseStreamConnectionFailed",
  "responseStreamDisconnected",
  "responseTooManyFailedAttempts"
])

const isTransientStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500

/**
 * Classifies a `codexErrorInfo` value.
 *
 * The rule for `retryable`:
 * 1. `serverOverloaded`, `internalServerError`, `rateLimitExceeded`, `flexUnavailable` and
 *    `policyCapacityUnavailable` are capacity / transient server problems: retryable.
 * 2. The HTTP variants (`httpConnectionFailed`, `responseStreamConnectionFailed`,
 *    `responseStreamDisconnected`, `responseTooManyFailedAttempts`) are retryable when no status
 *    code is known (a network failure) or the status is 408, 429 or 5xx; any other status (400,
 *    401, 403, 404, …) means the request itself is wrong and is not retryable.
 * 3. Everything else is not retryable: limits of the conversation or the account
 *    (`contextWindowExceeded`, `sessionBudgetExceeded`, `usageLimitExceeded`), policy decisions
 *    (`cyberPolicy`, `misalignmentPolicyViolation`, `inferenceHookDenied`, `tooManyDenials`), client
 *    mistakes (`badRequest`, `unauthorized`, `modelNotFound`, `activeTurnNotSteerable`), local
 *    failures (`sandboxError`, `threadRollbackFailed`), `other` and unknown values.
 *
 * @since 0.1.0
 * @category utils
 */
export const classifyCodexErrorInfo = (info: unknown): CodexErrorInfoSummary => {
  if (typeof info === "string") {
    return { kind: info, retryable: retryableKinds.has(info) }
  }
  if (Predicate.isRecord(info)) {
    const keys = Object.keys(info)
    if (keys.length === 1) {
      const kind = keys[0]
      const inner = info[kind]
      const status = Predicate.isRecord(inner) && typeof inner.httpStatusCode === "number"
        ? inner.httpStatusCode
        : undefined
      const retryable = retryableKinds.has(kind) ||
        (httpKinds.has(kind) && (status === undefined || isTransientStatus(status)))
      return status === undefined ? { kind, retryable } : { kind, httpStatusCode: status, retryable }
    }
  }
  return { kind: "unknown", retryable: false }
}
