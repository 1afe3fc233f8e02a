/**
 * Approvals: the policy consulted for every request the server sends (command executions, file
 * changes, permissions, user input, dynamic tool calls, MCP elicitations, auth refresh, …).
 *
 * Fail closed by default: commands and file changes declined, permissions refused, user input and
 * elicitations cancelled, anything unknown answered with an error. A handler that fails, dies or
 * runs past its timeout is logged and answered with that same refusal; it never takes the
 * connection down. `acceptAll` exists for sandboxes and tests, and is dangerous anywhere else.
 *
 * Handlers can be set for the whole connection (`layer`) and overridden per thread
 * (`Approvals.forThread`, or the `approvals` option of `Codex.threadStart`).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Registry from "@effect-codex/protocol/Registry"
import * as ServerRequests from "./ServerRequests.js"

/**
 * A handler of one kind of server request: typed params in, typed answer out.
 *
 * @since 0.1.0
 * @category models
 */
export type HandlerOf<M extends Registry.ServerRequestMethod> = (
  params: Registry.ServerRequestParams<M>
) => Effect.Effect<Registry.ServerRequestResult<M>, unknown>

/**
 * Handlers by kind; each one left out falls back to the refusal of {@link ServerRequests.refuse}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handlers {
  /** `item/commandExecution/requestApproval`: the agent wants to run a command. */
  readonly commandExecution?: HandlerOf<"item/commandExecution/requestApproval">
  /** `item/fileChange/requestApproval`: the agent wants to apply a patch. */
  readonly fileChange?: HandlerOf<"item/fileChange/requestApproval">
  /** `item/permissions/requestApproval`: the agent asks for more sandbox permissions. */
  readonly permissions?: HandlerOf<"item/permissions/requestApproval">
  /** `item/tool/requestUserInput`: the agent asks the user questions. */
  readonly userInput?: HandlerOf<"item/tool/requestUserInput">
  /** `item/tool/call`: a dynamic tool registered by the client was called. */
  readonly toolCall?: HandlerOf<"item/tool/call">
  /** `mcpServer/elicitation/request`: an MCP server asks the user for input. */
  readonly elicitation?: HandlerOf<"mcpServer/elicitation/request">
  /** `account/chatgptAuthTokens/refresh`: the server needs fresh ChatGPT tokens. */
  readonly authTokensRefresh?: HandlerOf<"account/chatgptAuthTokens/refresh">
  /** `execCommandApproval` / `applyPatchApproval`: the legacy (v1) approval requests. */
  readonly legacyExecCommand?: HandlerOf<"execCommandApproval">
  /** @see legacyExecCommand */
  readonly legacyApplyPatch?: HandlerOf<"applyPatchApproval">
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Handlers {
  /** How long a handler may take before the request is refused. Default 10 minutes. */
  readonly timeout?: Duration.DurationInput
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Approvals {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** Answers one server request (never fails: refusal on failure or timeout). */
    readonly handle: ServerRequests.Handler
    /** Overrides handlers for one thread while the scope is open. */
    readonly forThread: (threadId: string, handlers: Handlers) => Effect.Effect<void, never, Scope.Scope>
  }
}

/**
 * The approval policy of a connection.
 *
 * @since 0.1.0
 * @category tags
 */
export class Approvals extends Context.Tag("@effect-codex/app-server/Approvals")<Approvals, Approvals.Service>() {}

/**
 * The server request method each kind of handler answers.
 *
 * @since 0.1.0
 * @category models
 */
export const methodOfKind = {
  commandExecution: "item/commandExecution/requestApproval",
  fileChange: "item/fileChange/requestApproval",
  permissions: "item/permissions/requestApproval",
  userInput: "item/tool/requestUserInput",
  toolCall: "item/tool/call",
  elicitation: "mcpServer/elicitation/request",
  authTokensRefresh: "account/chatgptAuthTokens/refresh",
  legacyExecCommand: "execCommandApproval",
  legacyApplyPatch: "applyPatchApproval"
} as const satisfies { readonly [K in keyof Handlers]-?: Registry.ServerRequestMethod }

/**
 * The server request method of a kind of handler.
 *
 * @since 0.1.0
 * @category models
 */
export type MethodOfKind<K extends keyof Handlers> = (typeof methodOfKind)[K]

const kindOfMethod: ReadonlyMap<string, keyof Handlers> = new Map(
  Object.entries(methodOfKind).map(([kind, method]) => [method, kind as keyof Handlers])
)

/** The failure of a handler that ran past its timeout. */
const timedOut = Symbol.for("@effect-codex/app-server/Approvals/timedOut")

const threadOf = (params: unknown): string | undefined => {
  if (typeof params !== "object" || params === null) return undefined
  const record = params as { threadId?: unknown; conversationId?: unknown }
  const id = record.threadId ?? record.conversationId
  return typeof id === "string" ? id : undefined
}

/**
 * Builds an approval policy.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Approvals.Service> =>
  Effect.sync(() => {
    const timeout = Duration.decode(options.timeout ?? Duration.minutes(10))
    const perThread = new Map<string, Handlers>()

    const handle: ServerRequests.Handler = (request) => {
      const key = kindOfMethod.get(request.method)
      const thread = threadOf(request.params)
      const handlers = (thread !== undefined ? perThread.get(thread) : undefined) ?? options
      const handler = key === undefined ? undefined : (handlers[key] ?? options[key])
      if (handler === undefined) return Effect.succeed(ServerRequests.refuse(request))
      const refusal = ServerRequests.refuse(request)
      return (handler as (params: unknown) => Effect.Effect<unknown, unknown>)(request.params).pipe(
        Effect.timeoutFail({ duration: timeout, onTimeout: () => timedOut }),
        Effect.map((result): ServerRequests.Answer => ({ _tag: "Result", result: result as never })),
        Effect.catchAllCause((cause) =>
          Effect.as(
            Cause.failureOption(cause).pipe(Option.contains<unknown>(timedOut))
              ? Effect.logWarning(`approval handler for ${request.method} timed out after ${Duration.format(timeout)}; refusing`)
              : Effect.logWarning(`approval handler for ${request.method} failed; refusing`, cause),
            refusal
          )
        )
      )
    }

    const forThread = (threadId: string, handlers: Handlers) =>
      Effect.acquireRelease(
        Effect.sync(() => perThread.set(threadId, handlers)),
        () => Effect.sync(() => perThread.delete(threadId))
      ).pipe(Effect.asVoid)

    return Approvals.of({ handle, forThread })
  })

/**
 * A layer with the given handlers.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Approvals> => Layer.effect(Approvals, make(options))

/**
 * The default policy: everything refused (fail closed).
 *
 * @since 0.1.0
 * @category layers
 */
export const declineAll: Layer.Layer<Approvals> = layer({})

/**
 * DANGEROUS: accepts every command and file change, grants every requested permission for the
 * turn. Use it only where the agent cannot do harm (a throwaway sandbox, a test). User input,
 * elicitations and tool calls are still refused, as there is nobody to answer them.
 *
 * @since 0.1.0
 * @category layers
 */
export const acceptAll: Layer.Layer<Approvals> = layer({
  commandExecution: () => Effect.succeed({ decision: "accept" }),
  fileChange: () => Effect.succeed({ decision: "accept" }),
  permissions: (params) => Effect.succeed({ permissions: params.permissions, scope: "turn" }),
  legacyExecCommand: () => Effect.succeed({ decision: "approved" }),
  legacyApplyPatch: () => Effect.succeed({ decision: "approved" })
})

/**
 * The approval policy in context, or the fail-closed default.
 *
 * @since 0.1.0
 * @category accessors
 */
export const currentOrDefault: Effect.Effect<Approvals.Service> = Effect.flatMap(
  Effect.serviceOption(Approvals),
  Option.match({ onNone: () => make(), onSome: Effect.succeed })
)
