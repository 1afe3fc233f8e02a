/**
 * The `Codex` service: threads (start, resume, fork, archive, list, read, and every thread as a
 * `Stream`), models, login and the account, and `request` — the typed escape hatch to every
 * method of the protocol.
 *
 * `Codex.layer(config)` starts `codex app-server` over stdio (Node.js: `node:child_process`);
 * `Codex.layerConfig` reads the configuration from `Config`;
 * `Codex.layerWebSocket`, `Codex.layerUnixSocket` and `Codex.layerProxy` attach to an app-server
 * that is already running (`--listen ws://`, `--listen unix://`, a daemon's control socket);
 * `Codex.layerTransport` runs over any `Transport` (such as `MockAppServer`). Server requests go
 * to the `Approvals` in context, or are refused (fail closed).
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Protocol from "@effect-codex/protocol/generated/Schemas"
import * as Registry from "@effect-codex/protocol/Registry"
import * as Approvals from "./Approvals.js"
import { type CodexConfig, defaultToolTimeout } from "./CodexConfig.js"
import {
  type CodexBinaryNotFoundError,
  type ConnectionFailedError,
  ExperimentalApiRequiredError,
  type VersionMismatchError
} from "./CodexError.js"
import * as RpcConnection from "./RpcConnection.js"
import * as ProxyTransport from "./ProxyTransport.js"
import * as StdioTransport from "./StdioTransport.js"
import { paginate } from "./internal/paginate.js"
import * as Login from "./Login.js"
import * as Sandbox from "./Sandbox.js"
import * as Thread from "./Thread.js"
import * as Tool from "./Tool.js"
import { Transport } from "./Transport.js"
import * as Turn from "./Turn.js"
import * as UnixSocketTransport from "./UnixSocketTransport.js"
import * as WebSocketTransport from "./WebSocketTransport.js"

/**
 * Per-thread options of the SDK (besides the protocol's params).
 *
 * @since 0.1.0
 * @category models
 */
export interface ThreadOptions {
  /** Approval handlers for this thread only (override the connection's `Approvals`). */
  readonly approvals?: Approvals.Handlers
}

/**
 * Thread options with the client-side tools to serve for the thread: its `item/tool/call`
 * requests go to them (before any `approvals.toolCall`), and the calls still running are
 * interrupted when their turn ends or the thread's scope closes.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolOptions<Tools extends ReadonlyArray<Tool.Definition<unknown>>> extends ThreadOptions {
  /** On `threadStart`, also sent as `dynamicTools` (needs `experimentalApi: true`). */
  readonly tools?: Tools
}

type ParamsOf<M extends Registry.ClientRequestMethod> = Registry.ClientRequestParams<M>

/**
 * A sandbox where a thread is started: the protocol's mode string, or a `Sandbox` preset.
 *
 * @since 0.1.0
 * @category models
 */
export type ThreadSandbox = Protocol.SandboxMode | Sandbox.Preset

/**
 * The params of `threadStart`: those of `thread/start`, with `sandbox` also taking a `Sandbox` preset.
 *
 * @since 0.1.0
 * @category models
 */
export type ThreadStartParams = Omit<ParamsOf<"thread/start">, "sandbox"> & { readonly sandbox?: ThreadSandbox | null }

/**
 * The params of `threadResume`: those of `thread/resume` (without the id), with `sandbox` also
 * taking a `Sandbox` preset, and `includeTurns` (default `true`; the wire's `excludeTurns` negated):
 * `false` returns the thread without its turns — read them with `thread.turns()`.
 *
 * @since 0.1.0
 * @category models
 */
export type ThreadResumeParams = Omit<ParamsOf<"thread/resume">, "threadId" | "sandbox" | "excludeTurns"> & {
  readonly sandbox?: ThreadSandbox | null
  readonly includeTurns?: boolean
}

/**
 * The params of `threadFork`: those of `thread/fork` (without the id), with `sandbox` also taking
 * a `Sandbox` preset, and `includeTurns` (default `true`; the wire's `excludeTurns` negated).
 *
 * @since 0.1.0
 * @category models
 */
export type ThreadForkParams = Omit<ParamsOf<"thread/fork">, "threadId" | "sandbox" | "excludeTurns"> & {
  readonly sandbox?: ThreadSandbox | null
  readonly includeTurns?: boolean
}

/**
 * The params of `threads`: the filters and order of `thread/list`; `limit` is the page size.
 *
 * @since 0.1.0
 * @category models
 */
export type ThreadsParams = Omit<ParamsOf<"thread/list">, "cursor">

/**
 * Options of `account`.
 *
 * @since 0.1.0
 * @category models
 */
export interface AccountOptions {
  /** Refresh the ChatGPT tokens before answering (ignored for an API key). Default `false`. */
  readonly refreshToken?: boolean
}

/** The wire params of a thread start, resume or fork: a preset in `sandbox` becomes mode + config. */
const wireSandbox = <P extends { readonly sandbox?: ThreadSandbox | null; readonly config?: { readonly [key: string]: unknown } | null }>(
  params: P
): Omit<P, "sandbox"> & { readonly sandbox?: Protocol.SandboxMode | null } => {
  const { sandbox, ...rest } = params
  if (!Sandbox.isPreset(sandbox)) return params as Omit<P, "sandbox"> & { readonly sandbox?: Protocol.SandboxMode | null }
  return { ...rest, ...Sandbox.toThreadParams(sandbox, params.config) }
}

/** `includeTurns` to the wire's `excludeTurns`. */
const wireTurns = <P extends { readonly includeTurns?: boolean }>(params: P): Omit<P, "includeTurns"> & { readonly excludeTurns?: boolean } => {
  const { includeTurns, ...rest } = params
  return includeTurns === undefined ? rest : { ...rest, excludeTurns: !includeTurns }
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Codex {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The connection underneath (server info, notifications, diagnostics). */
    readonly connection: RpcConnection.RpcConnection.Service
    /**
     * Starts a new thread. The thread's handlers and tools live as long as the scope; what the
     * tools' handlers need is required here.
     */
    readonly threadStart: <const Tools extends ReadonlyArray<Tool.Definition<unknown>> = readonly []>(
      params?: ThreadStartParams,
      options?: ToolOptions<Tools>
    ) => Effect.Effect<Thread.Thread, RpcConnection.RequestError, Scope.Scope | Tool.Requirements<Tools[number]>>
    /**
     * Resumes a thread from its rollout on disk (works from a new process with the same
     * `CODEX_HOME`). Its tools were fixed when it started: pass the same `tools` to serve them
     * again (calls of tools not served get the fail-closed answer).
     */
    readonly threadResume: <const Tools extends ReadonlyArray<Tool.Definition<unknown>> = readonly []>(
      threadId: string,
      params?: ThreadResumeParams,
      options?: ToolOptions<Tools>
    ) => Effect.Effect<Thread.Thread, RpcConnection.RequestError, Scope.Scope | Tool.Requirements<Tools[number]>>
    /**
     * Forks a thread into a new one with a copy of its history. The fork inherits the parent's
     * tools on the server: pass `tools` to serve them for the fork.
     */
    readonly threadFork: <const Tools extends ReadonlyArray<Tool.Definition<unknown>> = readonly []>(
      threadId: string,
      params?: ThreadForkParams,
      options?: ToolOptions<Tools>
    ) => Effect.Effect<Thread.Thread, RpcConnection.RequestError, Scope.Scope | Tool.Requirements<Tools[number]>>
    /** Archives a thread (its rollout moves to `archived_sessions`). */
    readonly threadArchive: (threadId: string) => Effect.Effect<void, RpcConnection.RequestError>
    /** Brings an archived thread back. */
    readonly threadUnarchive: (threadId: string) => Effect.Effect<Protocol.Thread, RpcConnection.RequestError>
    /** Lists threads (one page; `nextCursor` for more). */
    readonly threadList: (
      params?: ParamsOf<"thread/list">
    ) => Effect.Effect<Registry.ClientRequestResult<"thread/list">, RpcConnection.RequestError>
    /**
     * Every thread `thread/list` has, over all its pages (`limit` is the page size), each page
     * requested when the stream needs it. A failed page fails the stream after the threads before it.
     */
    readonly threads: (params?: ThreadsParams) => Stream.Stream<Protocol.Thread, RpcConnection.RequestError>
    /** Reads a thread by id, with its turns when asked. */
    readonly threadRead: (
      threadId: string,
      options?: { readonly includeTurns?: boolean }
    ) => Effect.Effect<Protocol.Thread, RpcConnection.RequestError>
    /** The models the server offers (every page). */
    readonly models: (options?: { readonly includeHidden?: boolean }) => Effect.Effect<ReadonlyArray<Protocol.Model>, RpcConnection.RequestError>
    /** The account the server is logged in with (`account/read`): `account` is `null` when logged out. */
    readonly account: (options?: AccountOptions) => Effect.Effect<Registry.ClientRequestResult<"account/read">, RpcConnection.RequestError>
    /** Logs in: `login.apiKey(key)`, `login.chatgpt()` (a browser), `login.deviceCode()` (a code to enter elsewhere). */
    readonly login: Login.Login
    /** Logs out (`account/logout`): the stored credentials are removed from `CODEX_HOME`. */
    readonly logout: Effect.Effect<void, RpcConnection.RequestError>
    /** The ChatGPT account's rate limits (`account/rateLimits/read`); an error for an API key or no login. */
    readonly rateLimits: Effect.Effect<Registry.ClientRequestResult<"account/rateLimits/read">, RpcConnection.RequestError>
    /** Any method of the protocol, typed by its name. */
    readonly request: RpcConnection.RpcConnection.Service["request"]
  }
}

/**
 * The Codex service.
 *
 * @since 0.1.0
 * @category tags
 */
export class Codex extends Context.Tag("@effect-codex/app-server/Codex")<Codex, Codex.Service>() {}

/**
 * Builds the service over the connection in context. Scoped: when the scope closes, the turns
 * still running are interrupted on the server, all at once (each bounded by `Turn.abortTimeout`),
 * before the connection goes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Codex.Service, never, RpcConnection.RpcConnection | Approvals.Approvals | Scope.Scope> = Effect.gen(function*() {
  const connection = yield* RpcConnection.RpcConnection
  const approvals = yield* Approvals.Approvals
  const running: Thread.Running = new Set()
  yield* Effect.addFinalizer(() => Effect.forEach([...running], (abort) => abort, { concurrency: "unbounded", discard: true }))
  // One semaphore and token total per thread id, shared by the Thread values of that id, kept
  // while one is in scope. A thread just started has used no tokens; a resumed or forked one has
  // an unknown total until its first turn here (see `Turn.Collector`).
  const slots = new Map<string, Thread.Slot & { users: number }>()
  const slotOf = (id: string, started: boolean) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const slot = slots.get(id) ?? { semaphore: Effect.unsafeMakeSemaphore(1), total: started ? Turn.noTokens : undefined, users: 0 }
        slot.users++
        slots.set(id, slot)
        return slot
      }),
      (slot) => Effect.sync(() => (--slot.users === 0 ? slots.delete(id) : undefined))
    )
  const toolTimeout = connection.config.toolTimeout ?? defaultToolTimeout

  /** Serves a thread's tools for the scope; the calls of a turn are interrupted when it completes. */
  const serveTools = <R>(threadId: string, tools: ReadonlyArray<Tool.Definition<R>>) =>
    Effect.gen(function*() {
      const server = yield* Tool.serve(tools, { defaultTimeout: toolTimeout })
      const completions = yield* Effect.acquireRelease(
        Effect.sync(() => connection.unsafeSubscribeThread(threadId)),
        (subscription) => Effect.sync(subscription.unsafeClose)
      )
      yield* completions.forward({
        onBatch: (batch) => {
          for (const n of batch) {
            if (n.method === "turn/completed" && Registry.isKnownNotification(n)) server.unsafeTurnEnded(n.params.turn.id)
          }
        },
        onEnd: () => {}
      })
      return server
    })

  const threadOf = <R>(
    response: Thread.Settings & { readonly thread: Protocol.Thread },
    options: ThreadOptions | undefined,
    tools: ReadonlyArray<Tool.Definition<R>>,
    started = false
  ) =>
    Effect.gen(function*() {
      const threadId = response.thread.id
      const slot = yield* slotOf(threadId, started)
      const handlers = tools.length === 0
        ? options?.approvals
        : { ...options?.approvals, toolCall: (yield* serveTools(threadId, tools)).handle }
      return yield* Thread.make({ connection, approvals, response, slot, running, handlers })
    })
  const { request } = connection

  const toolsOf = <Tools extends ReadonlyArray<Tool.Definition<unknown>>>(options: ToolOptions<Tools> | undefined) =>
    (options?.tools ?? []) as ReadonlyArray<Tool.Definition<Tool.Requirements<Tools[number]>>>

  const threadStart = <const Tools extends ReadonlyArray<Tool.Definition<unknown>> = readonly []>(
    params: ThreadStartParams = {},
    options?: ToolOptions<Tools>
  ) =>
    Effect.suspend(() => {
      const tools = toolsOf(options)
      const wire = wireSandbox(params)
      if (tools.length === 0) return Effect.flatMap(request("thread/start", wire), (r) => threadOf(r, options, tools, true))
      if (connection.config.experimentalApi !== true) {
        return Effect.fail(new ExperimentalApiRequiredError({ method: "thread/start.dynamicTools" }))
      }
      const dynamicTools = [...(params.dynamicTools ?? []), ...Tool.toSpecs(tools)]
      return Effect.flatMap(request("thread/start", { ...wire, dynamicTools }), (r) => threadOf(r, options, tools, true))
    })

  const models = (options?: { readonly includeHidden?: boolean }) =>
    Effect.gen(function*() {
      const all: Array<Protocol.Model> = []
      let cursor: string | null | undefined = undefined
      do {
        const page: Registry.ClientRequestResult<"model/list"> = yield* request("model/list", {
          includeHidden: options?.includeHidden ?? false,
          ...(cursor ? { cursor } : {})
        })
        all.push(...page.data)
        cursor = page.nextCursor
      } while (cursor)
      return all
    })

  return Codex.of({
    connection,
    threadStart,
    threadResume: (threadId, params = {}, options) =>
      Effect.flatMap(request("thread/resume", { ...wireTurns(wireSandbox(params)), threadId }), (r) => threadOf(r, options, toolsOf(options))),
    threadFork: (threadId, params = {}, options) =>
      Effect.flatMap(request("thread/fork", { ...wireTurns(wireSandbox(params)), threadId }), (r) => threadOf(r, options, toolsOf(options))),
    threadArchive: (threadId) => Effect.asVoid(request("thread/archive", { threadId })),
    threadUnarchive: (threadId) => Effect.map(request("thread/unarchive", { threadId }), (r) => r.thread),
    threadList: (params = {}) => request("thread/list", params),
    threads: (params = {}) => paginate((cursor) => request("thread/list", cursor === undefined ? params : { ...params, cursor })),
    threadRead: (threadId, options) =>
      Effect.map(request("thread/read", { threadId, includeTurns: options?.includeTurns ?? false }), (r) => r.thread),
    models,
    account: (options) => request("account/read", options?.refreshToken === undefined ? {} : { refreshToken: options.refreshToken }),
    login: Login.make(connection),
    logout: Effect.asVoid(request("account/logout")),
    rateLimits: request("account/rateLimits/read", {}),
    request
  })
})

/**
 * Why starting Codex failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type StartError = RpcConnection.RequestError | VersionMismatchError | CodexBinaryNotFoundError

const connectionLayer = (config: CodexConfig) =>
  Layer.scoped(
    RpcConnection.RpcConnection,
    Effect.flatMap(Approvals.Approvals, (approvals) => RpcConnection.make({ config, handler: approvals.handle }))
  )

/**
 * Codex over any `Transport` in context (for example `MockAppServer`), with the `Approvals` in
 * context or the fail-closed default.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTransport = (
  config: CodexConfig = {}
): Layer.Layer<Codex | RpcConnection.RpcConnection | Approvals.Approvals, StartError, Transport> => {
  const approvals = Layer.effect(Approvals.Approvals, Approvals.currentOrDefault)
  const connection = connectionLayer(config).pipe(Layer.provideMerge(approvals))
  return Layer.scoped(Codex, make).pipe(Layer.provideMerge(connection))
}

/**
 * Codex over `codex app-server` on stdio, started with `config`. Also provides `StdioTransport`
 * (the process: pid, stderr).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: CodexConfig = {}
): Layer.Layer<
  Codex | RpcConnection.RpcConnection | Approvals.Approvals | StdioTransport.StdioTransport,
  StartError
> => layerTransport(config).pipe(Layer.provideMerge(StdioTransport.layer(config)), Layer.map(Context.omit(Transport)))

/**
 * Codex configured from `Config` values (environment variables by default); secrets such as the
 * API key as `Config.redacted`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { Codex } from "@effect-codex/app-server"
 *
 * const CodexLive = Codex.layerConfig({
 *   apiKey: Config.redacted("OPENAI_API_KEY"),
 *   codexHome: Config.string("CODEX_HOME")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<CodexConfig>
): Layer.Layer<
  Codex | RpcConnection.RpcConnection | Approvals.Approvals | StdioTransport.StdioTransport,
  StartError | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))

/**
 * Why attaching to a running app-server failed: connecting (`ConnectionFailedError`: refused,
 * no such socket, a refused token, the handshake timeout) or starting the connection on it.
 *
 * @since 0.1.0
 * @category errors
 */
export type AttachError = StartError | ConnectionFailedError

/**
 * Codex over a running `codex app-server --listen ws://127.0.0.1:PORT`, with the capability
 * token in `token` (a `Redacted`, sent as `Authorization: Bearer`). The rest of `options` is the
 * `CodexConfig` of the connection (`clientInfo`, `experimentalApi`, timeouts); the process
 * settings (`codexBin`, `codexHome`, …) belong to whoever started the server. A dropped
 * connection fails every pending request with `ConnectionLostError`; there is no reconnection.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Codex } from "@effect-codex/app-server"
 *
 * const CodexLive = Codex.layerWebSocket({
 *   url: "ws://127.0.0.1:4500",
 *   token: Redacted.make(process.env.CODEX_WS_TOKEN ?? "")
 * })
 * // a server started with --ws-auth signed-bearer-token --ws-shared-secret-file FILE
 * const SignedLive = Codex.layerWebSocket({
 *   url: "ws://127.0.0.1:4500",
 *   signedBearer: { secret: Redacted.make(process.env.CODEX_WS_SECRET ?? "") }
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWebSocket = (
  options: WebSocketTransport.Options & CodexConfig
): Layer.Layer<
  Codex | RpcConnection.RpcConnection | Approvals.Approvals | WebSocketTransport.WebSocketTransport,
  AttachError
> => layerTransport(options).pipe(Layer.provideMerge(WebSocketTransport.layer(options)), Layer.map(Context.omit(Transport)))

/**
 * Codex over a running `codex app-server --listen unix://PATH` (WebSocket over the unix socket).
 * The rest of `options` is the `CodexConfig` of the connection.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerUnixSocket = (
  options: UnixSocketTransport.Options & CodexConfig
): Layer.Layer<
  Codex | RpcConnection.RpcConnection | Approvals.Approvals | WebSocketTransport.WebSocketTransport,
  AttachError
> => layerTransport(options).pipe(Layer.provideMerge(UnixSocketTransport.layer(options)), Layer.map(Context.omit(Transport)))

/**
 * Codex attached to a running app-server daemon through `codex app-server proxy --sock <socket>`
 * (the daemon's `socketPath`, see `codex app-server daemon version`). A socket that does not exist
 * fails the start with `ConnectionFailedError` (`reason: "notFound"`). `codexBin`, `codexHome` and
 * `env` of `options` are used to run the proxy.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerProxy = (
  options: ProxyTransport.Options & CodexConfig
): Layer.Layer<
  Codex | RpcConnection.RpcConnection | Approvals.Approvals | WebSocketTransport.WebSocketTransport,
  AttachError
> => layerTransport(options).pipe(Layer.provideMerge(ProxyTransport.layer(options)), Layer.map(Context.omit(Transport)))
