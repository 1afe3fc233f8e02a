/**
 * A running `codex app-server --listen ws://127.0.0.1:PORT` as a scoped `Transport`, and the
 * WebSocket core that `UnixSocketTransport` and `ProxyTransport` share (`fromSocket`).
 *
 * On the wire (0.171.0, see docs/PROTOCOL.md "Transports"): one JSON-RPC message per WebSocket
 * text frame, the same JSON as on stdio. With `--ws-auth capability-token` the upgrade request
 * must carry `Authorization: Bearer <token>`; a missing or wrong token gets HTTP 401 before the
 * upgrade. An upgrade request with an `Origin` header gets HTTP 403, so none is sent.
 *
 * Why the `ws` package and not `@effect/platform`'s `Socket`: the SDK's transports keep the hot path
 * out of the fiber runtime (each frame is handed to the connection's listener in the socket's
 * callback, see `StdioTransport`), `Socket.makeWebSocket` takes a constructor without upgrade
 * headers (the global `WebSocket` cannot send `Authorization`) and does not report the HTTP status
 * of a refused upgrade, and `ws` (already under `@effect/platform-node`) does all three, dials a
 * unix socket or any duplex stream (`createConnection`) and supports `pause`/`resume`.
 *
 * Behaviour:
 * - Start: the connection and the opening handshake are bounded by `handshakeTimeout` (default
 *   10 s). A refused connection, a missing socket, an HTTP 401 (token), any other refused upgrade
 *   or the timeout fail the start with `ConnectionFailedError` naming the endpoint.
 * - Each text frame received is one line for the connection (frames are messages: the newline
 *   framing of stdio does not apply). A frame larger than `maxLineBytes` closes the connection.
 * - A connection that drops (server killed: close code 1006), or misses a pong when
 *   `heartbeatInterval` is set, ends the lines with
 *   `ConnectionLostError`; `closed` completes with it and `send` fails with it. There is no
 *   reconnection: every pending request fails.
 * - Release: a close frame (1000), up to `shutdownTimeout` (default 2 s) for the server's answer,
 *   then the socket is destroyed. The server keeps running.
 * - The token is `Redacted`: it is only put in the upgrade request, never logged or put in an error.
 * - `--ws-auth signed-bearer-token`: with `signedBearer` (the shared secret, `Redacted`) the
 *   transport mints an HS256 JWT for each connection (`exp` = now + `ttl`, `iat`, and `iss` / `aud`
 *   when the server checks them) and sends it as the bearer token. The server's refusals (an
 *   expired or not-yet-valid token, a wrong signature, issuer or audience) are HTTP 401 with a
 *   plain-text reason, so they fail the start as `ConnectionFailedError` (`reason: "unauthorized"`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Crypto from "node:crypto"
import type { Duplex } from "node:stream"
import WebSocket from "ws"
import { defaultMaxLineBytes, defaultShutdownTimeout } from "./CodexConfig.js"
import { ConnectionFailedError, ConnectionLostError, TransportClosedError } from "./CodexError.js"
import * as Transport from "./Transport.js"

/**
 * Default bound of the connection + opening handshake.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultHandshakeTimeout: Duration.DurationInput = "10 seconds"

/**
 * Options shared by every WebSocket-based transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface SocketOptions {
  /** Bound of the connection and the opening handshake. Default 10 s. */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /** How long the release waits for the server's close frame. Default 2 s. */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
  /** Largest accepted message in bytes. Default 64 MiB. */
  readonly maxLineBytes?: number | undefined
  /**
   * Sends a WebSocket ping this often; a pong that has not come back by the next ping counts as a
   * lost connection (`ConnectionLostError`, close code 1006). Default: off for `ws://` and unix
   * sockets (the kernel reports a dead peer), 5 s for `ProxyTransport` (the proxy does not exit
   * when the daemon dies, so only a heartbeat notices).
   */
  readonly heartbeatInterval?: Duration.DurationInput | undefined
}

/**
 * How to sign the bearer token of a server started with `--ws-auth signed-bearer-token
 * --ws-shared-secret-file FILE [--ws-issuer ISS] [--ws-audience AUD]`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SignedBearer {
  /** The content of the server's `--ws-shared-secret-file` (the server wants at least 32 bytes). */
  readonly secret: Redacted.Redacted<string>
  /** The `iss` claim, required when the server was given `--ws-issuer`. */
  readonly issuer?: string | undefined
  /** The `aud` claim, required when the server was given `--ws-audience`. */
  readonly audience?: string | undefined
  /** How long a minted token is valid (the server checks it at the upgrade only). Default 60 s. */
  readonly ttl?: Duration.DurationInput | undefined
}

/**
 * Options of {@link make}: the URL, and at most one of `token` and `signedBearer`.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = SocketOptions & {
  /** `ws://HOST:PORT` of `codex app-server --listen ws://…` (the server binds loopback only). */
  readonly url: string
} & (
  | {
    /**
     * The capability token of `--ws-auth capability-token` (sent as `Authorization: Bearer …`),
     * or a ready-made signed bearer token. Omit for a server without `--ws-auth`.
     */
    readonly token?: Redacted.Redacted<string> | undefined
    readonly signedBearer?: undefined
  }
  | {
    readonly token?: undefined
    /** Mint a signed bearer token (HS256 JWT) for `--ws-auth signed-bearer-token` at each connection. */
    readonly signedBearer: SignedBearer
  }
)

const base64url = (value: string | Buffer): string => Buffer.from(value).toString("base64url")

/**
 * An HS256 JWT for `--ws-auth signed-bearer-token`, valid from `now` (epoch milliseconds) for
 * `ttl` (claims `iat`, `exp`, and `iss` / `aud` when given). What {@link make} sends with
 * `signedBearer`; exported for a client that passes the token some other way.
 *
 * @since 0.1.0
 * @category constructors
 */
export const signBearerToken = (signed: SignedBearer, now: number): Redacted.Redacted<string> => {
  const iat = Math.floor(now / 1000)
  const ttlSeconds = Math.max(1, Math.ceil(Duration.toSeconds(Duration.decode(signed.ttl ?? "60 seconds"))))
  const claims = {
    iat,
    exp: iat + ttlSeconds,
    ...(signed.issuer === undefined ? {} : { iss: signed.issuer }),
    ...(signed.audience === undefined ? {} : { aud: signed.audience })
  }
  const data = `${base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${base64url(JSON.stringify(claims))}`
  const signature = Crypto.createHmac("sha256", Redacted.value(signed.secret)).update(data).digest("base64url")
  return Redacted.make(`${data}.${signature}`)
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace WebSocketTransport {
  /**
   * A `Transport.Service` over a WebSocket, with the endpoint it is connected to.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service extends Transport.Transport.Service {
    /** What was dialled: the URL, or the socket path (never a token). */
    readonly endpoint: string
  }
}

/**
 * The WebSocket transport with its endpoint. The layers provide it next to `Transport.Transport`.
 *
 * @since 0.1.0
 * @category tags
 */
export class WebSocketTransport extends Context.Tag("@effect-codex/app-server/WebSocketTransport")<
  WebSocketTransport,
  WebSocketTransport.Service
>() {}

/**
 * How {@link fromSocket} dials: the URL for the upgrade request, its headers, and optionally the
 * stream to speak it over (a unix socket, a subprocess's stdio).
 *
 * @since 0.1.0
 * @category models
 */
export interface Dial {
  /** What the errors name: a URL or a socket path. */
  readonly endpoint: string
  /** The URL of the upgrade request (`ws://localhost/` when `createConnection` provides the stream). */
  readonly url: string
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Provides the byte stream instead of a TCP connection to `url`'s host. */
  readonly createConnection?: (() => Duplex) | undefined
  /** Maps a connection error (before the upgrade) to the start failure; default by `code`. */
  readonly classify?: ((error: NodeJS.ErrnoException) => ConnectionFailedError | undefined) | undefined
}

const LOW_WATER = 1024 * 1024
/** After the byte stream closed, how long `ws` gets to report the close itself. */
const CLOSE_GRACE_MS = 100
/** The byte stream under each open WebSocket (from its upgrade response). */
const sockets = new WeakMap<WebSocket, Duplex>()
/** The most of a refused upgrade's body kept for the error. */
const BODY_LIMIT = 512

const defaultClassify = (endpoint: string) => (error: NodeJS.ErrnoException): ConnectionFailedError => {
  switch (error.code) {
    case "ECONNREFUSED":
      return new ConnectionFailedError({ endpoint, reason: "refused", detail: "connection refused (is the server running?)", cause: error })
    case "ENOENT":
      return new ConnectionFailedError({ endpoint, reason: "notFound", detail: "no such socket", cause: error })
    default:
      return new ConnectionFailedError({ endpoint, reason: "error", detail: error.message, cause: error })
  }
}

/** Connects and completes the opening handshake. */
const connect = (dial: Dial, maxPayload: number) =>
  Effect.async<WebSocket, ConnectionFailedError>((resume) => {
    const classify = dial.classify ?? defaultClassify(dial.endpoint)
    let ws: WebSocket
    try {
      ws = new WebSocket(dial.url, {
        headers: { ...dial.headers },
        maxPayload,
        perMessageDeflate: false,
        followRedirects: false,
        ...(dial.createConnection === undefined ? {} : { createConnection: dial.createConnection as never })
      })
    } catch (cause) {
      resume(Effect.fail(new ConnectionFailedError({ endpoint: dial.endpoint, reason: "error", detail: String(cause), cause })))
      return
    }
    let settled = false
    const cleanup = () => {
      ws.off("open", onOpen)
      ws.off("error", onError)
      ws.off("unexpected-response", onResponse)
    }
    const fail = (error: ConnectionFailedError) => {
      if (settled) return
      settled = true
      cleanup()
      ws.on("error", () => {}) // late errors of the abandoned socket
      ws.terminate()
      resume(Effect.fail(error))
    }
    ws.once("upgrade", (response: import("node:http").IncomingMessage) => {
      sockets.set(ws, response.socket)
    })
    const onOpen = () => {
      if (settled) return
      settled = true
      cleanup()
      // until `fromSocket` has its handlers (the fiber resumes later): hold the reads, keep errors
      ws.pause()
      ws.on("error", () => {})
      resume(Effect.succeed(ws))
    }
    const onError = (error: NodeJS.ErrnoException) =>
      fail(
        classify(error) ??
          new ConnectionFailedError({ endpoint: dial.endpoint, reason: "error", detail: error.message, cause: error })
      )
    const onResponse = (_request: unknown, response: import("node:http").IncomingMessage) => {
      const status = response.statusCode ?? 0
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (text: string) => {
        if (body.length < BODY_LIMIT) body += text
      })
      const done = () =>
        fail(
          new ConnectionFailedError({
            endpoint: dial.endpoint,
            reason: status === 401 ? "unauthorized" : "rejected",
            status,
            detail: body.trim().slice(0, BODY_LIMIT) || (response.statusMessage ?? "upgrade refused")
          })
        )
      response.once("end", done)
      response.once("error", done)
      response.once("close", done)
    }
    ws.once("open", onOpen)
    ws.on("error", onError)
    ws.once("unexpected-response", onResponse)
    return Effect.sync(() => {
      if (settled) return
      settled = true
      cleanup()
      ws.on("error", () => {})
      ws.terminate()
    })
  })

/**
 * A transport over a WebSocket dialled as `dial` says; the socket lives as long as the scope. The
 * shared core of `make`, `UnixSocketTransport.make` and `ProxyTransport.make`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSocket = (
  dial: Dial,
  options: SocketOptions = {}
): Effect.Effect<WebSocketTransport.Service, ConnectionFailedError, Scope.Scope> =>
  Effect.gen(function*() {
    const handshakeTimeout = Duration.decode(options.handshakeTimeout ?? defaultHandshakeTimeout)
    const shutdownTimeout = Duration.decode(options.shutdownTimeout ?? defaultShutdownTimeout)
    const maxPayload = options.maxLineBytes ?? defaultMaxLineBytes
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)

    const ws = yield* connect(dial, maxPayload).pipe(
      Effect.timeoutFail({
        duration: handshakeTimeout,
        onTimeout: () =>
          new ConnectionFailedError({
            endpoint: dial.endpoint,
            reason: "timeout",
            detail: `no WebSocket handshake within ${Duration.format(handshakeTimeout)}`
          })
      })
    )
    yield* Effect.logDebug(`codex app-server: connected to ${dial.endpoint}`)

    const closed = yield* Deferred.make<Transport.TransportError>()
    const socketClosed = yield* Deferred.make<void>()
    let closing = false
    let lastError: Error | undefined

    const delivery = Transport.makeDelivery({
      pause: () => ws.pause(),
      resume: () => ws.resume(),
      fork: (effect) => runFork(effect)
    })
    ws.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
      if (isBinary) {
        runFork(Effect.logDebug("codex app-server: binary frame ignored"))
        return
      }
      delivery.push([rawToString(data)])
    })
    ws.on("error", (error) => {
      lastError = error
      runFork(Effect.logDebug(`codex app-server: socket error on ${dial.endpoint}`, error))
    })
    let ended = false
    /** Records why the connection ended, once, and ends the lines with it. */
    const finish = (code: number | null, closeReason: string) => {
      if (ended) return
      ended = true
      if (heartbeat !== undefined) clearInterval(heartbeat)
      const error: Transport.TransportError = closing
        ? new TransportClosedError({ reason: "the transport was released by its owner" })
        : new ConnectionLostError({ endpoint: dial.endpoint, code, closeReason, cause: lastError })
      Deferred.unsafeDone(closed, Exit.succeed(error))
      delivery.end(closing ? undefined : error)
      Deferred.unsafeDone(socketClosed, Exit.void)
      if (!closing) runFork(Effect.logDebug(`codex app-server: ${error.message}`))
    }
    let heartbeat: ReturnType<typeof setInterval> | undefined
    if (options.heartbeatInterval !== undefined) {
      const every = Duration.toMillis(Duration.decode(options.heartbeatInterval))
      let awaitingPong = false
      ws.on("pong", () => {
        awaitingPong = false
      })
      heartbeat = setInterval(() => {
        if (ws.readyState !== WebSocket.OPEN) return
        if (awaitingPong) {
          ws.terminate()
          // `close` waits for the frames held by a paused socket: end now
          finish(1006, `no pong within ${Duration.format(Duration.millis(every))}`)
          return
        }
        awaitingPong = true
        ws.ping()
      }, every)
      heartbeat.unref()
    }
    ws.once("close", (code: number, reason: Buffer) => finish(code, reason.toString("utf8")))
    // `ws` emits `close` only once the frames it holds are processed, which a paused socket (a
    // consumer applying back-pressure) postpones: the end of the byte stream ends the lines too.
    const stream = sockets.get(ws)
    const onStreamClose = () => {
      setTimeout(() => finish(1006, ""), CLOSE_GRACE_MS).unref()
    }
    if (stream !== undefined) {
      if (stream.destroyed) onStreamClose()
      else stream.once("close", onStreamClose)
    }

    // closed between the handshake and the handlers above
    if (ws.readyState === WebSocket.CLOSED) finish(null, "closed right after the handshake")
    ws.resume()

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closing = true
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000)
        // (finalizers are uninterruptible: the waits must be interruptible for the timeouts to work)
        const done = yield* Deferred.await(socketClosed).pipe(Effect.interruptible, Effect.timeoutOption(shutdownTimeout))
        if (done._tag === "None") {
          ws.terminate()
          yield* Deferred.await(socketClosed).pipe(Effect.interruptible, Effect.timeoutOption(Duration.millis(250)))
        }
        if (heartbeat !== undefined) clearInterval(heartbeat)
        // `close` may not have fired (terminate on a dead stream): end the lines anyway
        const released = new TransportClosedError({ reason: "the transport was released by its owner" })
        Deferred.unsafeDone(closed, Exit.succeed(released))
        delivery.end(undefined)
      })
    )

    const sendFailure: Effect.Effect<never, Transport.TransportError> = Effect.flatMap(
      Deferred.await(closed).pipe(
        Effect.timeoutTo({
          duration: shutdownTimeout,
          onTimeout: () => new TransportClosedError({ reason: `the connection to ${dial.endpoint} is closing` }),
          onSuccess: (error) => error
        })
      ),
      Effect.fail
    )

    const service: WebSocketTransport.Service = {
      endpoint: dial.endpoint,
      send: (line) =>
        Effect.suspend(() => {
          if (ws.readyState !== WebSocket.OPEN) return sendFailure
          if (line.includes("\n")) return Effect.dieMessage("Transport.send: a line must not contain \"\\n\"")
          if (ws.bufferedAmount < LOW_WATER) {
            ws.send(line)
            return Effect.void
          }
          // a slow peer: wait until this frame is written (or the socket failed)
          return Effect.async<void, Transport.TransportError>((resume) => {
            ws.send(line, (error) => resume(error === undefined || error === null ? Effect.void : sendFailure))
          })
        }),
      incoming: delivery.incoming,
      listen: delivery.listen,
      closed: Deferred.await(closed),
      diagnostics: Stream.fromEffect(Deferred.await(closed)).pipe(Stream.drain)
    }
    return service
  }).pipe(Effect.annotateLogs({ module: "WebSocketTransport" }))

const rawToString = (data: WebSocket.RawData): string => {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8")
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString("utf8")
  return data.toString("utf8")
}

/**
 * Connects to `codex app-server --listen ws://…` at `options.url`, with the token when given (or
 * a token minted from `signedBearer` for this connection).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<WebSocketTransport.Service, ConnectionFailedError, Scope.Scope> =>
  Effect.flatMap(
    options.signedBearer === undefined
      ? Effect.succeed(options.token)
      : Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (now) => signBearerToken(options.signedBearer, now)),
    (token) =>
      fromSocket(
        {
          endpoint: options.url,
          url: options.url,
          headers: token === undefined ? {} : { authorization: `Bearer ${Redacted.value(token)}` }
        },
        options
      )
  )

/**
 * A layer connected to `options.url` for its lifetime, providing `Transport.Transport` and
 * `WebSocketTransport`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<Transport.Transport | WebSocketTransport, ConnectionFailedError> =>
  Layer.scopedContext(
    Effect.map(make(options), (service) =>
      Context.make(Transport.Transport, service).pipe(Context.add(WebSocketTransport, service)))
  )
