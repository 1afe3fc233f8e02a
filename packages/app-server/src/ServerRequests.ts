/**
 * Answers to the requests the server sends (approvals, user input, tool calls, auth refresh): the
 * handler type the connection dispatches to, and the fail-closed answer for each of the 10
 * methods (codex 0.171.0). `Approvals` builds its policies on top of this.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Registry from "@effect-codex/protocol/Registry"

/**
 * The answer to a server request: a typed result, or a JSON-RPC error reply (for requests that
 * have no sensible refusal, such as a token refresh).
 *
 * @since 0.1.0
 * @category models
 */
export type Answer<M extends Registry.ServerRequestMethod = Registry.ServerRequestMethod> =
  | { readonly _tag: "Result"; readonly result: Registry.ServerRequestResult<M> }
  | { readonly _tag: "Error"; readonly code: number; readonly message: string }

/**
 * Handles one decoded server request. The connection runs it on a fiber of its own (never on the
 * reader), and always replies: a failure or defect becomes a JSON-RPC error reply.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler = (request: Registry.ServerRequest) => Effect.Effect<Answer, unknown>

/**
 * A typed result answer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const result = <M extends Registry.ServerRequestMethod>(_method: M, value: Registry.ServerRequestResult<M>): Answer<M> => ({
  _tag: "Result",
  result: value
})

/**
 * A JSON-RPC error answer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const error = (message: string, code = -32603): Answer => ({ _tag: "Error", code, message })

/**
 * The fail-closed answer to a request: commands and file changes declined, permissions refused
 * (nothing granted), user input and elicitations cancelled, dynamic tool calls failed, and the
 * requests that cannot be refused (token refresh, attestation) answered with an error.
 *
 * @since 0.1.0
 * @category answers
 */
export const refuse = (request: Registry.ServerRequest): Answer => {
  switch (request.method) {
    case "item/commandExecution/requestApproval":
      return result(request.method, { decision: "decline" })
    case "item/fileChange/requestApproval":
      return result(request.method, { decision: "decline" })
    case "item/permissions/requestApproval":
      return result(request.method, { permissions: {}, scope: "turn" })
    case "item/tool/requestUserInput":
      return result(request.method, { answers: {} })
    case "mcpServer/elicitation/request":
      return result(request.method, { action: "cancel" })
    case "item/tool/call":
      return result(request.method, {
        success: false,
        contentItems: [{ type: "inputText", text: "No handler is registered for dynamic tool calls." }]
      })
    case "applyPatchApproval":
    case "execCommandApproval":
      return result(request.method, { decision: { denied: { rejection: "Declined by the client's approval policy." } } })
    case "account/chatgptAuthTokens/refresh":
    case "attestation/generate":
      return error(`${request.method} is not handled by this client`)
  }
}

/**
 * The default handler: refuses everything ({@link refuse}).
 *
 * @since 0.1.0
 * @category handlers
 */
export const refuseAll: Handler = (request) => Effect.succeed(refuse(request))
