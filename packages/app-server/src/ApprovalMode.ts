/**
 * Approval presets, as plain values: the `approvalPolicy` / `approvalsReviewer` pair of each
 * approval mode of the Python SDK (`openai_codex.ApprovalMode`), plus the one that asks this
 * program's `Approvals`. Both fields have the same names in `thread/start` (resume, fork) and in
 * `turn/start`, so a preset is spread into either:
 *
 * ```ts
 * const thread = yield* codex.threadStart({ ...ApprovalMode.autoReview, sandbox: Sandbox.workspaceWrite() })
 * yield* thread.run("…", { ...ApprovalMode.denyAll })
 * ```
 *
 * Codex 0.171.0 echoes both back in the answer of `thread/start` (`thread.settings`).
 *
 * @since 0.1.0
 */
import type * as Protocol from "@effect-codex/protocol/generated/Schemas"

/**
 * An approval preset.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApprovalMode {
  readonly approvalPolicy: Protocol.AskForApproval
  readonly approvalsReviewer: Protocol.ApprovalsReviewer
}

/**
 * Never ask: what the sandbox forbids fails and the model is told so (Python `deny_all`).
 *
 * @since 0.1.0
 * @category presets
 */
export const denyAll: ApprovalMode = { approvalPolicy: "never", approvalsReviewer: "user" }

/**
 * Ask when the model wants more than the sandbox allows, and let the server's automatic reviewer
 * decide instead of a person (Python `auto_review`, its default for new threads). No approval
 * request reaches this program.
 *
 * @since 0.1.0
 * @category presets
 */
export const autoReview: ApprovalMode = { approvalPolicy: "on-request", approvalsReviewer: "auto_review" }

/**
 * Ask when the model wants more than the sandbox allows, and send the request to this program's
 * `Approvals` (fail closed unless a handler accepts).
 *
 * @since 0.1.0
 * @category presets
 */
export const askUser: ApprovalMode = { approvalPolicy: "on-request", approvalsReviewer: "user" }

/**
 * Never ask (Python `dangerously_bypass_approvals_and_sandbox`: the approvals half of the CLI's
 * `--yolo`). Pair it with `Sandbox.fullAccess` for the other half; only for throwaway machines.
 *
 * @since 0.1.0
 * @category presets
 */
export const dangerouslyBypassApprovalsAndSandbox: ApprovalMode = { approvalPolicy: "never", approvalsReviewer: "user" }
