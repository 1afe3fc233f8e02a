/**
 * A running `codex app-server --listen unix://PATH` as a scoped `Transport`.
 *
 * Observed on 0.171.0 (docs/PROTOCOL.md "Transports"): the unix socket does **not** carry
 * newline-delimited JSON (raw NDJSON written to it gets no answer). It carries the same WebSocket
 * as `--listen ws://`: an HTTP/1.1 Upgrade on the socket, then one JSON-RPC message per text
 * frame, without authentication (the socket file is created with mode 0600). So this transport is
 * `WebSocketTransport.fromSocket` over a `node:net` connection to the path; the line framer of
 * `StdioTransport` has nothing to split here (a frame is a message).
 *
 * A path that does not exist fails the start with `ConnectionFailedError` (`reason: "notFound"`),
 * a path nobody listens on with `reason: "refused"`. A server that dies ends the lines with
 * `ConnectionLostError`; there is no reconnection.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import type { ConnectionFailedError } from "./CodexError.js"
import * as Transport from "./Transport.js"
import * as WebSocketTransport from "./WebSocketTransport.js"

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends WebSocketTransport.SocketOptions {
  /** The socket path given to `--listen unix://PATH` (or the daemon's `socketPath`). */
  readonly path: string
}

/**
 * Connects to the app-server listening on the unix socket `options.path`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<WebSocketTransport.WebSocketTransport.Service, ConnectionFailedError, Scope.Scope> =>
  WebSocketTransport.fromSocket(
    {
      endpoint: `unix:${options.path}`,
      url: "ws://localhost/",
      createConnection: () => Net.createConnection({ path: options.path })
    },
    options
  )

/**
 * A layer connected to the unix socket for its lifetime, providing `Transport.Transport` and
 * `WebSocketTransport.WebSocketTransport`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<Transport.Transport | WebSocketTransport.WebSocketTransport, ConnectionFailedError> =>
  Layer.scopedContext(
    Effect.map(make(options), (service) =>
      Context.make(Transport.Transport, service).pipe(Context.add(WebSocketTransport.WebSocketTransport, service)))
  )
