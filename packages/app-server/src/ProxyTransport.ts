/**
 * Attaching to a running app-server daemon through `codex app-server proxy --sock PATH`, as a
 * scoped `Transport`.
 *
 * Observed on 0.171.0 (docs/PROTOCOL.md "Transports"): the proxy is a raw byte pipe between its
 * stdio and the daemon's control socket, and the control socket speaks WebSocket (as
 * `--listen unix://`), so newline-delimited JSON written to the proxy gets no answer. This is
 * why `StdioTransport` cannot be reused with other arguments: the proxy is started here with
 * `node:child_process` and `WebSocketTransport.fromSocket` speaks the WebSocket over its
 * stdin/stdout.
 *
 * - A socket path that does not exist fails the start with `ConnectionFailedError`
 *   (`reason: "notFound"`) before anything is spawned; a proxy that cannot connect (it exits 1,
 *   "failed to connect to socket") fails it with the proxy's stderr as `detail`.
 * - When the daemon dies the proxy does **not** exit (observed: it keeps its stdio open and says
 *   nothing), so a WebSocket heartbeat (`heartbeatInterval`, default 5 s) notices: a missed pong
 *   ends the lines with `ConnectionLostError` and the proxy is stopped.
 * - Release: the WebSocket is closed, then the proxy's stdin; the proxy exits 0 (SIGTERM and
 *   SIGKILL after `shutdownTimeout` each). The daemon keeps running.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs/promises"
import { Duplex } from "node:stream"
import * as CodexBinary from "./CodexBinary.js"
import type { CodexConfig } from "./CodexConfig.js"
import { defaultShutdownTimeout } from "./CodexConfig.js"
import { type CodexBinaryNotFoundError, ConnectionFailedError } from "./CodexError.js"
import { environment } from "./StdioTransport.js"
import * as Transport from "./Transport.js"
import * as WebSocketTransport from "./WebSocketTransport.js"

/**
 * Options of {@link make}: the daemon's control socket, plus how to find and run the `codex`
 * executable (`codexBin`, `codexHome`, `env`, `configOverrides` of `CodexConfig`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends WebSocketTransport.SocketOptions, Pick<CodexConfig, "codexBin" | "codexHome" | "env" | "cwd"> {
  /** The daemon's control socket (`socketPath` of `codex app-server daemon version`). */
  readonly socket: string
}

/**
 * Arguments passed to the executable: `app-server proxy --sock <socket>`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const args = (options: Pick<Options, "socket">): ReadonlyArray<string> => ["app-server", "proxy", "--sock", options.socket]

const STDERR_KEEP = 4096

/**
 * Default heartbeat of the proxy transport: the proxy keeps running when the daemon dies, so a
 * missed pong is how a dead daemon is noticed.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultProxyHeartbeat: Duration.DurationInput = "5 seconds"

/**
 * Starts the proxy to `options.socket` and speaks the WebSocket over its stdio; the proxy lives as
 * long as the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<
  WebSocketTransport.WebSocketTransport.Service,
  ConnectionFailedError | CodexBinaryNotFoundError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const endpoint = `proxy:${options.socket}`
    yield* Effect.tryPromise({
      try: () => Fs.stat(options.socket),
      catch: (cause) =>
        new ConnectionFailedError({
          endpoint,
          reason: "notFound",
          detail: `no daemon control socket at ${options.socket}`,
          cause
        })
    })
    const binary = yield* CodexBinary.resolve(options)
    const shutdownTimeout = Duration.decode(options.shutdownTimeout ?? defaultShutdownTimeout)
    const child = yield* Effect.try({
      try: (): ChildProcess =>
        spawn(binary.path, args(options), {
          cwd: options.cwd,
          env: {
            ...process.env,
            ...environment({
              ...(options.env === undefined ? {} : { env: options.env }),
              ...(options.codexHome === undefined ? {} : { codexHome: options.codexHome })
            })
          },
          stdio: ["pipe", "pipe", "pipe"]
        }),
      catch: (cause) => new ConnectionFailedError({ endpoint, reason: "error", detail: `cannot start ${binary.path}`, cause })
    })
    const exited = yield* Deferred.make<void>()
    child.once("exit", () => Deferred.unsafeDone(exited, Exit.void))
    child.on("error", () => Deferred.unsafeDone(exited, Exit.void))
    let stderr = ""
    child.stderr!.setEncoding("utf8")
    child.stderr!.on("data", (text: string) => {
      if (stderr.length < STDERR_KEEP) stderr += text
    })
    child.stdin!.on("error", () => {})
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const wait = (d: Duration.Duration) => Effect.map(Effect.timeoutOption(Effect.interruptible(Deferred.await(exited)), d), (o) => o._tag === "Some")
        child.stdin!.end()
        if (yield* wait(shutdownTimeout)) return
        child.kill("SIGTERM")
        if (yield* wait(shutdownTimeout)) return
        child.kill("SIGKILL")
        yield* wait(shutdownTimeout)
      })
    )

    const duplex = Duplex.from({ readable: child.stdout!, writable: child.stdin! })
    // `ws` configures its socket as a TCP socket; a pipe has nothing to configure
    const socketLike = Object.assign(duplex, {
      setTimeout: () => socketLike,
      setNoDelay: () => socketLike,
      setKeepAlive: () => socketLike
    })
    const stderrDetail = () => {
      const first = stderr.split("\n").find((line) => line.trim() !== "")
      return first === undefined ? undefined : first.trim()
    }
    return yield* WebSocketTransport.fromSocket(
      {
        endpoint,
        url: "ws://localhost/",
        createConnection: () => socketLike,
        classify: (error) => {
          const detail = stderrDetail()
          return new ConnectionFailedError({
            endpoint,
            reason: detail?.includes("No such file") === true ? "notFound" : detail?.includes("refused") === true ? "refused" : "error",
            detail: detail ?? error.message,
            cause: error
          })
        }
      },
      { ...options, heartbeatInterval: options.heartbeatInterval ?? defaultProxyHeartbeat }
    ).pipe(
      // the proxy writes its reason to stderr as it exits: give it a moment
      Effect.tapError(() => Effect.timeoutOption(Deferred.await(exited), Duration.millis(500)))
    )
  }).pipe(Effect.annotateLogs({ module: "ProxyTransport" }))

/**
 * A layer attached to the daemon through the proxy for its lifetime, providing
 * `Transport.Transport` and `WebSocketTransport.WebSocketTransport`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<
  Transport.Transport | WebSocketTransport.WebSocketTransport,
  ConnectionFailedError | CodexBinaryNotFoundError
> =>
  Layer.scopedContext(
    Effect.map(make(options), (service) =>
      Context.make(Transport.Transport, service).pipe(Context.add(WebSocketTransport.WebSocketTransport, service)))
  )
