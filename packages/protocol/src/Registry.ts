/**
 * Types and decoders over the generated method registries: `request("thread/start", params)` gets
 * its params and result types from the method literal; incoming notifications and server requests
 * decode through the Schema of their method, and unknown methods pass through untouched.
 *
 * @since 0.1.0
 */
import type * as ParseResult from "effect/ParseResult"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { ClientNotifications, ClientRequests, ServerNotifications, ServerRequests } from "./generated/Methods.js"
import * as FastDecode from "./internal/FastDecode.js"
import type { RequestId } from "./JsonRpc.js"

type Entry = { readonly params: Schema.Schema.Any; readonly paramsRequired: boolean; readonly experimental: boolean }

/**
 * @since 0.1.0
 * @category client requests
 */
export type ClientRequestMethod = keyof typeof ClientRequests
/**
 * @since 0.1.0
 * @category client requests
 */
export type ClientRequestParams<M extends ClientRequestMethod> = Schema.Schema.Type<(typeof ClientRequests)[M]["params"]>
/**
 * @since 0.1.0
 * @category client requests
 */
export type ClientRequestResult<M extends ClientRequestMethod> = Schema.Schema.Type<(typeof ClientRequests)[M]["result"]>
/**
 * Methods whose params may be left out (`request("account/logout")`).
 *
 * @since 0.1.0
 * @category client requests
 */
export type ClientRequestWithoutParams = {
  [M in ClientRequestMethod]: (typeof ClientRequests)[M]["paramsRequired"] extends false ? M : never
}[ClientRequestMethod]

/**
 * @since 0.1.0
 * @category server notifications
 */
export type ServerNotificationMethod = keyof typeof ServerNotifications
/**
 * @since 0.1.0
 * @category server notifications
 */
export type ServerNotificationParams<M extends ServerNotificationMethod> = Schema.Schema.Type<(typeof ServerNotifications)[M]["params"]>
/**
 * A decoded notification of a known method; switch on `method` to narrow `params`.
 *
 * @since 0.1.0
 * @category server notifications
 */
export type ServerNotification = {
  readonly [M in ServerNotificationMethod]: {
    readonly method: M
    readonly params: ServerNotificationParams<M>
    readonly emittedAtMs: number | undefined
  }
}[ServerNotificationMethod]

/**
 * The `method` of every {@link UnknownNotification}; the real method is in `rawMethod`. A literal of
 * its own, so that narrowing a notification on its method never lets an unknown one through.
 *
 * @since 0.1.0
 * @category server notifications
 */
export const unknownMethod = "$unknown" as const

/**
 * A notification this SDK does not know (a newer server) or could not decode: kept raw, never dropped.
 *
 * @since 0.1.0
 * @category server notifications
 */
export interface UnknownNotification {
  readonly method: typeof unknownMethod
  /** The method as the server sent it. */
  readonly rawMethod: string
  readonly params: unknown
  readonly emittedAtMs: number | undefined
  /** Why it is unknown: a method this SDK does not know, or params that did not decode. */
  readonly reason: "unknownMethod" | "undecodable"
}

/**
 * @since 0.1.0
 * @category server requests
 */
export type ServerRequestMethod = keyof typeof ServerRequests
/**
 * @since 0.1.0
 * @category server requests
 */
export type ServerRequestParams<M extends ServerRequestMethod> = Schema.Schema.Type<(typeof ServerRequests)[M]["params"]>
/**
 * @since 0.1.0
 * @category server requests
 */
export type ServerRequestResult<M extends ServerRequestMethod> = Schema.Schema.Type<(typeof ServerRequests)[M]["result"]>
/**
 * A decoded server request of a known method.
 *
 * @since 0.1.0
 * @category server requests
 */
export type ServerRequest = {
  readonly [M in ServerRequestMethod]: { readonly id: RequestId; readonly method: M; readonly params: ServerRequestParams<M> }
}[ServerRequestMethod]

/**
 * @since 0.1.0
 * @category client notifications
 */
export type ClientNotificationMethod = keyof typeof ClientNotifications

const has = <T extends object>(table: T, method: string): method is Extract<keyof T, string> => Object.hasOwn(table, method)

/**
 * Whether a client request method exists in the registry.
 *
 * @since 0.1.0
 * @category client requests
 */
export const isClientRequestMethod = (method: string): method is ClientRequestMethod => has(ClientRequests, method)

/**
 * Whether a server request method exists in the registry.
 *
 * @since 0.1.0
 * @category server requests
 */
export const isServerRequestMethod = (method: string): method is ServerRequestMethod => has(ServerRequests, method)

/**
 * Whether a method (of any registry) needs the `experimentalApi` capability.
 *
 * @since 0.1.0
 * @category registries
 */
export const isExperimental = (method: string): boolean => {
  for (const table of [ClientRequests, ServerNotifications, ServerRequests, ClientNotifications] as ReadonlyArray<Record<string, Entry>>) {
    if (Object.hasOwn(table, method)) return table[method]!.experimental
  }
  return false
}

type Codec = (u: unknown) => Either.Either<unknown, ParseResult.ParseError>
/** The decoder or encoder of a Schema, built once (with the fast path in front, see `FastDecode`). */
const cachedBy = (make: (schema: Schema.Schema.Any) => Codec) => {
  const cache = new Map<Schema.Schema.Any, Codec>()
  return (schema: Schema.Schema.Any): Codec => {
    let codec = cache.get(schema)
    if (codec === undefined) {
      codec = make(schema)
      cache.set(schema, codec)
    }
    return codec
  }
}
const decoderOf = cachedBy(FastDecode.decoder)
/** The hot path's decoder of each notification method's params, found with one lookup. */
const notificationDecoders = new Map<string, FastDecode.Fast>()
const addNotificationDecoder = (method: ServerNotificationMethod): FastDecode.Fast => {
  const decode = FastDecode.valueDecoder(ServerNotifications[method].params)
  notificationDecoders.set(method, decode)
  return decode
}
const encoderOf = cachedBy(FastDecode.encoder)

/**
 * Decodes the params of a notification. An unknown method gives an {@link UnknownNotification};
 * params that fail their Schema give `Left` with the parse error (the caller reports it and may
 * still forward the raw message).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeNotification = (
  method: string,
  params: unknown,
  emittedAtMs: number | undefined
): Either.Either<ServerNotification | UnknownNotification, ParseResult.ParseError> => {
  if (!has(ServerNotifications, method)) return Either.right(unknownNotification(method, params, emittedAtMs, "unknownMethod"))
  return Either.map(decoderOf(ServerNotifications[method].params)(params), (decoded) => ({ method, params: decoded, emittedAtMs }) as ServerNotification)
}

/**
 * {@link decodeNotification} for the hot path: the notification, or `undefined` when its params do
 * not decode (then call `decodeNotification` for the error), with no `Either` on the way.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeNotificationOrUndefined = (
  method: string,
  params: unknown,
  emittedAtMs: number | undefined
): ServerNotification | UnknownNotification | undefined => {
  const decode = notificationDecoders.get(method) ??
    (has(ServerNotifications, method) ? addNotificationDecoder(method) : undefined)
  if (decode === undefined) return unknownNotification(method, params, emittedAtMs, "unknownMethod")
  const decoded = decode(params)
  return decoded === FastDecode.FAIL ? undefined : ({ method, params: decoded, emittedAtMs } as ServerNotification)
}

/**
 * Whether a decoded notification is one this SDK knows.
 *
 * @since 0.1.0
 * @category guards
 */
export const isKnownNotification = (n: ServerNotification | UnknownNotification): n is ServerNotification => n.method !== unknownMethod

/**
 * Builds an {@link UnknownNotification}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unknownNotification = (
  rawMethod: string,
  params: unknown,
  emittedAtMs: number | undefined,
  reason: UnknownNotification["reason"]
): UnknownNotification => ({ method: unknownMethod, rawMethod, params, emittedAtMs, reason })

/**
 * Decodes the params of a server request; `undefined` for a method this SDK does not know.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeServerRequest = (
  id: RequestId,
  method: string,
  params: unknown
): Either.Either<ServerRequest, ParseResult.ParseError> | undefined => {
  if (!has(ServerRequests, method)) return undefined
  return Either.map(decoderOf(ServerRequests[method].params)(params), (decoded) => ({ id, method, params: decoded }) as ServerRequest)
}

/**
 * Encodes the params of a client request to wire JSON.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeRequestParams = <M extends ClientRequestMethod>(
  method: M,
  params: ClientRequestParams<M>
): Either.Either<unknown, ParseResult.ParseError> => encoderOf(ClientRequests[method].params)(params)

/**
 * Decodes the result of a client request from wire JSON.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeRequestResult = <M extends ClientRequestMethod>(
  method: M,
  result: unknown
): Either.Either<ClientRequestResult<M>, ParseResult.ParseError> =>
  decoderOf(ClientRequests[method].result)(result) as Either.Either<ClientRequestResult<M>, ParseResult.ParseError>

/**
 * Encodes the answer to a server request to wire JSON.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeServerRequestResult = <M extends ServerRequestMethod>(
  method: M,
  result: ServerRequestResult<M>
): Either.Either<unknown, ParseResult.ParseError> => encoderOf(ServerRequests[method].result)(result)
