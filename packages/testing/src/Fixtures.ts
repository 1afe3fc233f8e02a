/**
 * Wire payloads for `MockAppServer` scripts: minimal, valid messages of the pinned codex app-server
 * (threads, turns, agent messages, goals, the `thread/start` answer) and two scripts that play the
 * server's side of a thread start and of a whole turn, so that a test of a program built on
 * `Codex` does not have to spell out the protocol.
 *
 * Every payload is in wire form (as the server sends it) and decodes with the protocol's Schemas.
 *
 * @since 0.1.0
 */
import { codexVersion } from "@effect-codex/protocol/generated/Version"
import * as Effect from "effect/Effect"
import type * as MockAppServer from "./MockAppServer.js"

/**
 * A thread as `thread/start`, `thread/read` … describe it.
 *
 * @since 0.1.0
 * @category payloads
 */
export const thread = (id: string, overrides: Readonly<Record<string, unknown>> = {}) => ({
  id,
  sessionId: id,
  cliVersion: codexVersion,
  createdAt: 0,
  updatedAt: 0,
  cwd: "/work",
  ephemeral: false,
  modelProvider: "openai",
  preview: "",
  projectId: null,
  source: "appServer",
  status: { type: "idle" },
  turns: [],
  ...overrides
})

/**
 * A turn; `error` goes with status `failed`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const turn = (
  id: string,
  status: "inProgress" | "completed" | "interrupted" | "failed",
  options: { readonly items?: ReadonlyArray<unknown>; readonly error?: { readonly message: string; readonly codexErrorInfo?: unknown } } = {}
) => ({
  id,
  status,
  items: options.items ?? [],
  ...(options.error === undefined ? {} : { error: options.error })
})

/**
 * An agent message item.
 *
 * @since 0.1.0
 * @category payloads
 */
export const agentMessage = (id: string, text: string, phase: "final_answer" | "commentary" | null = null) => ({
  type: "agentMessage",
  id,
  text,
  phase
})

/**
 * A `ThreadGoal` payload (`thread/goal/*` answers, `thread/goal/updated`): an objective with
 * a status, no budget and nothing used yet unless overridden.
 *
 * @since 0.1.0
 * @category payloads
 */
export const threadGoal = (
  threadId: string,
  status: "active" | "paused" | "blocked" | "usageLimited" | "budgetLimited" | "complete" | (string & {}),
  overrides: Readonly<Record<string, unknown>> = {}
) => ({
  threadId,
  objective: "the objective",
  status,
  tokenBudget: null,
  tokensUsed: 0,
  timeUsedSeconds: 0,
  createdAt: 0,
  updatedAt: 0,
  ...overrides
})

/**
 * The answer to `thread/start` (or `thread/resume`, `thread/fork`): the thread and its settings.
 *
 * @since 0.1.0
 * @category payloads
 */
export const threadStartResponse = (threadPayload: ReturnType<typeof thread>, overrides: Readonly<Record<string, unknown>> = {}) => ({
  thread: threadPayload,
  model: "gpt-5.5",
  modelProvider: "openai",
  cwd: "/work",
  approvalPolicy: "never",
  approvalsReviewer: "user",
  sandbox: { type: "readOnly", networkAccess: false },
  ...overrides
})

/**
 * Waits for the client's `thread/start` and answers it with a thread of the given id. Returns the
 * request, to check what the client asked for.
 *
 * @since 0.1.0
 * @category scripts
 */
export const serveThreadStart = (peer: MockAppServer.Peer, threadId = "thread-1", overrides: Readonly<Record<string, unknown>> = {}) =>
  Effect.gen(function*() {
    const request = yield* peer.expectRequest("thread/start")
    yield* peer.respond(request.id, threadStartResponse(thread(threadId), overrides))
    return request
  })

/**
 * Options of {@link serveTurn}.
 *
 * @since 0.1.0
 * @category scripts
 */
export interface TurnScript {
  readonly threadId?: string
  readonly turnId?: string
  /** The agent's answer, streamed as deltas (`deltas`, default: the whole text at once). */
  readonly text?: string
  readonly deltas?: ReadonlyArray<string>
  /** How the turn ends. Default `completed`. */
  readonly status?: "completed" | "interrupted" | "failed"
  /** With status `failed`: the turn's error. */
  readonly error?: { readonly message: string; readonly codexErrorInfo?: unknown }
  /** Token usage reported before the end (`thread/tokenUsage/updated`), if any. */
  readonly totalTokens?: number
}

/**
 * Waits for the client's `turn/start` and plays a whole turn: the answer, `turn/started`, the
 * agent message streamed as deltas, its `item/completed`, the usage, then `turn/completed`.
 * Returns the `turn/start` request.
 *
 * @since 0.1.0
 * @category scripts
 */
export const serveTurn = (peer: MockAppServer.Peer, script: TurnScript = {}) =>
  Effect.gen(function*() {
    const threadId = script.threadId ?? "thread-1"
    const turnId = script.turnId ?? "turn-1"
    const status = script.status ?? "completed"
    const request = yield* peer.expectRequest("turn/start")
    yield* peer.respond(request.id, { turn: turn(turnId, "inProgress") })
    yield* peer.notify("turn/started", { threadId, turn: turn(turnId, "inProgress") })
    if (script.text !== undefined) {
      const itemId = `${turnId}-msg`
      yield* peer.notify("item/started", { threadId, turnId, startedAtMs: 0, item: agentMessage(itemId, "") })
      for (const delta of script.deltas ?? [script.text]) {
        yield* peer.notify("item/agentMessage/delta", { threadId, turnId, itemId, delta })
      }
      yield* peer.notify("item/completed", { threadId, turnId, completedAtMs: 0, item: agentMessage(itemId, script.text) })
    }
    if (script.totalTokens !== undefined) {
      const usage = { totalTokens: script.totalTokens, inputTokens: script.totalTokens, cachedInputTokens: 0, outputTokens: 0, reasoningOutputTokens: 0 }
      yield* peer.notify("thread/tokenUsage/updated", { threadId, turnId, tokenUsage: { total: usage, last: usage } })
    }
    yield* peer.notify("turn/completed", {
      threadId,
      turn: turn(turnId, status, script.error === undefined ? {} : { error: script.error })
    })
    return request
  })

/**
 * A call of a client-side tool, as {@link serveToolCall} plays it.
 *
 * @since 0.1.0
 * @category scripts
 */
export interface ToolCallScript {
  readonly threadId?: string
  readonly turnId?: string
  readonly callId?: string
  readonly tool: string
  readonly namespace?: string
  /** The arguments as the model sent them (JSON). */
  readonly arguments: unknown
}

/**
 * A `dynamicToolCall` item, in progress or completed with an answer.
 *
 * @since 0.1.0
 * @category payloads
 */
export const dynamicToolCall = (
  script: ToolCallScript & { readonly callId: string },
  answer?: { readonly success: boolean; readonly contentItems: ReadonlyArray<unknown> }
) => ({
  type: "dynamicToolCall",
  id: script.callId,
  namespace: script.namespace ?? null,
  tool: script.tool,
  arguments: script.arguments,
  status: answer === undefined ? "inProgress" : answer.success ? "completed" : "failed",
  contentItems: answer?.contentItems ?? null,
  success: answer?.success ?? null,
  durationMs: answer === undefined ? null : 1,
  startedAtMs: 0,
  completedAtMs: answer === undefined ? null : 1
})

/**
 * Plays the server's side of one tool call during a turn, as codex 0.171.0 does: `item/started`
 * (a `dynamicToolCall` item), the server request `item/tool/call`, and once the client answered,
 * `item/completed` with the answer. Returns the client's reply (a `Response` whose `result` is
 * `{success, contentItems}`, or an `ErrorResponse`).
 *
 * @since 0.1.0
 * @category scripts
 */
export const serveToolCall = (peer: MockAppServer.Peer, script: ToolCallScript) =>
  Effect.gen(function*() {
    const threadId = script.threadId ?? "thread-1"
    const turnId = script.turnId ?? "turn-1"
    const call = { ...script, callId: script.callId ?? `call-${script.tool}` }
    yield* peer.notify("item/started", { threadId, turnId, startedAtMs: 0, item: dynamicToolCall(call) })
    const reply = yield* peer.call("item/tool/call", {
      threadId,
      turnId,
      callId: call.callId,
      namespace: call.namespace ?? null,
      tool: call.tool,
      arguments: call.arguments
    })
    if (reply._tag === "Response") {
      const answer = reply.result as { readonly success: boolean; readonly contentItems: ReadonlyArray<unknown> }
      yield* peer.notify("item/completed", { threadId, turnId, completedAtMs: 1, item: dynamicToolCall(call, answer) })
    }
    return reply
  })
