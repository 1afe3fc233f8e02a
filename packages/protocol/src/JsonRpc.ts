/**
 * JSON-RPC envelopes as `codex app-server` (0.169.0 to 0.171.0) speaks them on stdio: no `jsonrpc` field from
 * the server, `emittedAtMs` on notifications, ids that are numbers or strings, server requests
 * with ids of their own (from 0, so they collide with ours), errors with `code`, `message`, `data`.
 *
 * Incoming messages are routed by shape, never by id alone: `method` + `id` is a server request,
 * `method` alone a notification, `id` + `result` / `error` a response.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { JsonValue } from "./Json.js"

/**
 * A request id: a number or a string.
 *
 * @since 0.1.0
 * @category models
 */
export type RequestId = number | string

/**
 * Schema of {@link RequestId}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RequestId: Schema.Schema<RequestId> = Schema.Union(Schema.Int, Schema.String)

/**
 * The error object of a failed response.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorObject {
  readonly code: number
  readonly message: string
  readonly data?: unknown
}

/**
 * Schema of {@link ErrorObject}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorObject: Schema.Schema<ErrorObject> = Schema.Struct({
  code: Schema.Int,
  message: Schema.String,
  data: Schema.optionalWith(JsonValue, { exact: true })
})

/**
 * A message from the server, classified by shape; `params` and `result` are still raw JSON.
 *
 * @since 0.1.0
 * @category models
 */
export type Incoming =
  | { readonly _tag: "Notification"; readonly method: string; readonly params: unknown; readonly emittedAtMs: number | undefined }
  | { readonly _tag: "Request"; readonly id: RequestId; readonly method: string; readonly params: unknown }
  | { readonly _tag: "Response"; readonly id: RequestId; readonly result: unknown }
  | { readonly _tag: "ErrorResponse"; readonly id: RequestId | null; readonly error: ErrorObject }

/**
 * Why a line is not a JSON-RPC message.
 *
 * @since 0.1.0
 * @category models
 */
export interface Malformed {
  readonly _tag: "Malformed"
  readonly reason: string
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const isId = (u: unknown): u is RequestId => typeof u === "string" || (typeof u === "number" && Number.isInteger(u))

/**
 * Classifies a parsed JSON value by shape. Hand-written (no Schema pass) because it runs once per
 * incoming line on the hot path; the params are decoded later, per method.
 *
 * @since 0.1.0
 * @category decoding
 */
export const classify = (value: unknown): Incoming | Malformed => {
  if (!isRecord(value)) return { _tag: "Malformed", reason: "not a JSON object" }
  const { id, method } = value
  if (typeof method === "string") {
    if (id === undefined) {
      const emitted = value.emittedAtMs
      return { _tag: "Notification", method, params: value.params, emittedAtMs: typeof emitted === "number" ? emitted : undefined }
    }
    return isId(id) ? { _tag: "Request", id, method, params: value.params } : { _tag: "Malformed", reason: "request id is neither a number nor a string" }
  }
  if (method !== undefined) return { _tag: "Malformed", reason: "method is not a string" }
  if ("error" in value) {
    const error = value.error
    if (!isRecord(error) || typeof error.code !== "number" || typeof error.message !== "string") {
      return { _tag: "Malformed", reason: "error response without code and message" }
    }
    if (id !== null && !isId(id)) return { _tag: "Malformed", reason: "response id is neither a number nor a string" }
    return { _tag: "ErrorResponse", id, error: { code: error.code, message: error.message, ...("data" in error ? { data: error.data } : {}) } }
  }
  if ("result" in value) {
    return isId(id) ? { _tag: "Response", id, result: value.result } : { _tag: "Malformed", reason: "response id is neither a number nor a string" }
  }
  return { _tag: "Malformed", reason: "neither a request, a notification nor a response" }
}

/**
 * Whether a parsed JSON value is a notification (a `method` string and no `id`): the hot path's
 * shortcut around {@link classify}, which builds an envelope object.
 *
 * @since 0.1.0
 * @category decoding
 */
export const isNotification = (value: unknown): value is { readonly method: string; readonly params?: unknown; readonly emittedAtMs?: unknown } =>
  typeof value === "object" && value !== null && typeof (value as { method?: unknown }).method === "string" &&
  (value as { id?: unknown }).id === undefined && !Array.isArray(value)

/**
 * The `Malformed` message for a line that is not JSON.
 *
 * @since 0.1.0
 * @category decoding
 */
export const invalidJson = (error: unknown): Malformed => ({
  _tag: "Malformed",
  reason: `invalid JSON: ${error instanceof Error ? error.message : String(error)}`
})

/**
 * Parses one line and classifies it.
 *
 * @since 0.1.0
 * @category decoding
 */
export const parseLine = (line: string): Incoming | Malformed => {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (e) {
    return invalidJson(e)
  }
  return classify(value)
}

/**
 * Serializes a request (params omitted when `undefined`).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeRequest = (id: RequestId, method: string, params: unknown): string =>
  JSON.stringify(params === undefined ? { id, method } : { id, method, params })

/**
 * Serializes a notification (params omitted when `undefined`).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeNotification = (method: string, params: unknown): string =>
  JSON.stringify(params === undefined ? { method } : { method, params })

/**
 * Serializes a successful response to a server request.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeResponse = (id: RequestId, result: unknown): string => JSON.stringify({ id, result })

/**
 * Serializes an error response to a server request.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeErrorResponse = (id: RequestId, error: ErrorObject): string => JSON.stringify({ id, error })
