/**
 * A scriptable fake of the OpenAI Responses API on loopback, for driving the real
 * `codex app-server` binary in tests without network access or credentials.
 *
 * `FakeModel` runs a `node:http` server on `127.0.0.1` (an OS-assigned port) that answers
 * `POST /v1/responses` with `text/event-stream` frames (`event: <type>\ndata: <json>\n\n`). Each
 * request consumes the next scripted {@link Reply} in order. It also creates a fresh `CODEX_HOME`
 * (with a `config.toml` that points the `mock` provider at the server, no retries) and a fresh
 * workspace directory, and exposes a {@link CodexConfig} for the SDK.
 *
 * ```ts
 * import { FakeModel } from "@effect-codex/testing"
 *
 * const program = Effect.gen(function* () {
 *   const fake = yield* FakeModel.FakeModel
 *   yield* fake.enqueue(FakeModel.text("Hello world.", { chunks: ["Hello ", "world", "."] }))
 *   // start codex with fake.config (or CODEX_HOME=fake.codexHome, cwd=fake.workspace) …
 *   const [request] = yield* fake.awaitRequests(1)
 * }).pipe(Effect.provide(FakeModel.layer()), Effect.scoped)
 * ```
 *
 * When the script runs out, requests are answered with HTTP 400 and a message naming the request
 * number; codex surfaces a 400 body verbatim as the turn error, so an unscripted model call shows up
 * in the failing test as `FakeModel: no scripted reply left for request #N …` (see {@link Options.onEmpty}).
 *
 * @since 0.1.0
 */
import type * as Approvals from "@effect-codex/app-server/Approvals"
import * as Codex from "@effect-codex/app-server/Codex"
import type { CodexConfig } from "@effect-codex/app-server/CodexConfig"
import type * as RpcConnection from "@effect-codex/app-server/RpcConnection"
import type * as StdioTransport from "@effect-codex/app-server/StdioTransport"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Zlib from "node:zlib"

// -------------------------------------------------------------------------------------------------
// models
// -------------------------------------------------------------------------------------------------

/**
 * Token usage reported in `response.completed` (Responses API wire shape, snake_case).
 *
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  readonly input_tokens: number
  readonly input_tokens_details?: { readonly cached_tokens?: number } | null
  readonly output_tokens: number
  readonly output_tokens_details?: { readonly reasoning_tokens?: number } | null
  readonly total_tokens: number
}

/**
 * A usage report: input and output tokens, with the cached and reasoning parts; the total is their
 * sum.
 *
 * @since 0.1.0
 * @category constructors
 */
export const usage = (
  inputTokens: number,
  outputTokens: number,
  details: { readonly cached?: number; readonly reasoning?: number } = {}
): Usage => ({
  input_tokens: inputTokens,
  input_tokens_details: { cached_tokens: details.cached ?? 0 },
  output_tokens: outputTokens,
  output_tokens_details: { reasoning_tokens: details.reasoning ?? 0 },
  total_tokens: inputTokens + outputTokens
})

/**
 * The usage sent with `response.completed` unless a reply overrides it:
 * `{input_tokens:10,input_tokens_details:null,output_tokens:5,output_tokens_details:null,total_tokens:15}`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultUsage: Usage = {
  input_tokens: 10,
  input_tokens_details: null,
  output_tokens: 5,
  output_tokens_details: null,
  total_tokens: 15
}

/**
 * A JSON object sent verbatim as one SSE event (its `type` becomes the `event:` line).
 *
 * @since 0.1.0
 * @category models
 */
export type SseEvent = { readonly type: string } & { readonly [key: string]: unknown }

/**
 * One output item of a streamed response.
 *
 * @since 0.1.0
 * @category models
 */
export type OutputPart =
  | {
    readonly _tag: "Message"
    readonly id: string | undefined
    readonly text: string
    readonly chunks: ReadonlyArray<string>
    readonly phase: string | undefined
  }
  | {
    readonly _tag: "Reasoning"
    readonly id: string | undefined
    readonly summary: ReadonlyArray<string>
    readonly raw: ReadonlyArray<string>
  }
  | {
    readonly _tag: "FunctionCall"
    readonly id: string | undefined
    readonly callId: string | undefined
    readonly name: string
    /** The namespace of a namespaced tool (codex's `{"type":"namespace"}` tools), sent as `namespace`. */
    readonly namespace?: string | undefined
    readonly arguments: string
  }
  | {
    readonly _tag: "CustomToolCall"
    readonly id: string | undefined
    readonly callId: string | undefined
    readonly name: string
    readonly input: string
  }
  | {
    readonly _tag: "Event"
    readonly event: SseEvent
  }

/**
 * How a streamed response ends.
 *
 * - `Completed`: `response.completed` (with `usage`, or without it when `usage` is `null`).
 * - `Failed`: `response.failed` with `{code, message}`.
 * - `Truncated`: the body ends without `response.completed` (codex: "stream closed before response.completed").
 * - `Stall`: the response stays open until {@link Service.releaseStalls} (or the server shuts down).
 *
 * @since 0.1.0
 * @category models
 */
export type Ending =
  | { readonly _tag: "Completed"; readonly usage: Usage | null }
  | { readonly _tag: "Failed"; readonly code: string; readonly message: string }
  | { readonly _tag: "Truncated" }
  | {
    readonly _tag: "Stall"
    readonly leaveOpen: boolean
    readonly onRelease: "complete" | "truncate"
    readonly usage: Usage | null
  }

/**
 * A `200 text/event-stream` reply: `response.created`, the events of each output part, and an ending.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamReply {
  readonly _tag: "StreamReply"
  /** `response.id`; default `resp-<request number>`. */
  readonly responseId: string | undefined
  readonly parts: ReadonlyArray<OutputPart>
  readonly ending: Ending
}

/**
 * A non-2xx HTTP reply.
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpErrorReply {
  readonly _tag: "HttpErrorReply"
  readonly status: number
  readonly body: string
  readonly contentType: string
}

/**
 * One scripted answer to one `POST /v1/responses`.
 *
 * @since 0.1.0
 * @category models
 */
export type Reply = StreamReply | HttpErrorReply

/**
 * A request the fake received, in arrival order (`index` starts at 1).
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest {
  readonly index: number
  readonly method: string
  /** The request path, e.g. `/v1/responses`. */
  readonly path: string
  /** Lower-case header names; repeated headers are joined with `", "`. */
  readonly headers: Readonly<Record<string, string>>
  /** The body parsed as JSON, or the raw text when it is not JSON. */
  readonly body: unknown
  /** The body as text (after content-encoding is undone). */
  readonly rawBody: string
}

/**
 * Options of {@link make} / {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `model` in `config.toml`. Default `"mock-model"` (codex offers `exec_command`, no `apply_patch` tool). */
  readonly model?: string
  /** `approval_policy` in `config.toml`. Default `"never"` (override per thread with `thread/start`). */
  readonly approvalPolicy?: string
  /** `sandbox_mode` in `config.toml`. Default `"read-only"`. */
  readonly sandboxMode?: string
  /**
   * Extra TOML, inserted after the top-level keys and before `[model_providers.mock]`, so both
   * top-level keys and whole tables (`[features]\n…`) are allowed.
   */
  readonly extraToml?: string | ReadonlyArray<string>
  /** Replies queued before the first request. */
  readonly replies?: ReadonlyArray<Reply>
  /**
   * Answer for a request when the queue is empty. Default: HTTP 400 with
   * `{"error":{"message":"FakeModel: no scripted reply left for request #N (…)","type":"invalid_request_error"}}`,
   * which codex reports verbatim as the turn's error message (a 500 body would be replaced by a generic text).
   */
  readonly onEmpty?: Reply
  /**
   * Answers a request from its content when the queue is empty (before `onEmpty`): a reply that
   * depends on what the model was asked, e.g. per thread when several run at once. Return
   * `undefined` to fall through to `onEmpty`.
   */
  readonly respond?: (request: RecordedRequest) => Reply | undefined
  /** Fields merged into {@link Service.config} (`codexHome` and `cwd` always point at the fake's directories). */
  readonly codexConfig?: CodexConfig
}

/**
 * Failure to start the fake (temp dirs, `config.toml`, listening).
 *
 * @since 0.1.0
 * @category errors
 */
export class FakeModelError extends Data.TaggedError("FakeModelError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

// -------------------------------------------------------------------------------------------------
// reply constructors
// -------------------------------------------------------------------------------------------------

const completed = (usage: Usage | null | undefined): Ending => ({
  _tag: "Completed",
  usage: usage === undefined ? defaultUsage : usage
})

const single = (part: OutputPart, usage?: Usage | null, responseId?: string): StreamReply => ({
  _tag: "StreamReply",
  responseId,
  parts: [part],
  ending: completed(usage)
})

const partsOf = (before: StreamReply | ReadonlyArray<StreamReply> | undefined): ReadonlyArray<OutputPart> =>
  before === undefined ? [] : "_tag" in before ? before.parts : (before as ReadonlyArray<StreamReply>).flatMap((r) => r.parts)

/**
 * An assistant message streamed as `response.output_item.added` (message), one
 * `response.output_text.delta` per chunk, `response.output_item.done`, then `response.completed`.
 * Codex turns it into `item/started` (agentMessage), `item/agentMessage/delta` ×N, `item/completed`.
 *
 * `chunks` default to the whole text in one delta; when given they should concatenate to `text`.
 * `id` is the item id the client sees (default `msg-<request>-<index>`); `phase` (e.g. `"final_answer"`)
 * is copied into the message item when given; `usage` overrides {@link defaultUsage} (`null` omits it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const text = (
  text: string,
  options?: {
    readonly chunks?: ReadonlyArray<string>
    readonly id?: string
    readonly phase?: string
    readonly usage?: Usage | null
    readonly responseId?: string
  }
): StreamReply =>
  single(
    { _tag: "Message", id: options?.id, text, chunks: options?.chunks ?? [text], phase: options?.phase },
    options?.usage,
    options?.responseId
  )

/**
 * A reasoning item: `output_item.added`, per summary part `reasoning_summary_part.added` +
 * `reasoning_summary_text.delta`, one `reasoning_text.delta` per raw chunk, `output_item.done`.
 * Codex emits `item/reasoning/summaryPartAdded`, `item/reasoning/summaryTextDelta`, `item/reasoning/textDelta`.
 * Combine it with a message through {@link response}: `response([reasoning("Thinking."), text("Hi")])`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const reasoning = (
  summary: string | ReadonlyArray<string>,
  raw?: string | ReadonlyArray<string>,
  options?: { readonly id?: string; readonly usage?: Usage | null }
): StreamReply =>
  single(
    {
      _tag: "Reasoning",
      id: options?.id,
      summary: typeof summary === "string" ? [summary] : summary,
      raw: raw === undefined ? [] : typeof raw === "string" ? [raw] : raw
    },
    options?.usage
  )

/**
 * A `function_call` to the `exec_command` tool (the shell tool codex offers to `mock-model`), sent as a
 * single `response.output_item.done`. The call id becomes the `commandExecution` item id and the
 * approval request's `itemId` (default `call-<request>-<index>`). Codex runs the command (asking for
 * approval under `approvalPolicy:"untrusted"`, or under `"on-request"` with `sandboxPermissions:"require_escalated"`)
 * and sends its output in the next request, so queue a follow-up reply as well.
 *
 * Codex (0.169.0 to 0.171.0) rejects `justification` without `sandboxPermissions` before running anything (no item,
 * no approval; the model gets "`justification` requires an explicit `sandbox_permissions`…"), so pass
 * both or neither. `login: false` runs `bash -c` instead of `bash -lc` (no login-profile noise in the output).
 *
 * @since 0.1.0
 * @category constructors
 */
export const execCommand = (
  cmd: string,
  options?: {
    readonly callId?: string
    readonly workdir?: string
    readonly yieldTimeMs?: number
    readonly sandboxPermissions?: "use_default" | "require_escalated"
    readonly justification?: string
    readonly prefixRule?: ReadonlyArray<string>
    readonly login?: boolean
    readonly tty?: boolean
    readonly shell?: string
    readonly maxOutputTokens?: number
    readonly usage?: Usage | null
  }
): StreamReply => {
  const args: Record<string, unknown> = { cmd }
  if (options?.workdir !== undefined) args.workdir = options.workdir
  if (options?.shell !== undefined) args.shell = options.shell
  if (options?.tty !== undefined) args.tty = options.tty
  if (options?.login !== undefined) args.login = options.login
  if (options?.yieldTimeMs !== undefined) args.yield_time_ms = options.yieldTimeMs
  if (options?.maxOutputTokens !== undefined) args.max_output_tokens = options.maxOutputTokens
  if (options?.sandboxPermissions !== undefined) args.sandbox_permissions = options.sandboxPermissions
  if (options?.justification !== undefined) args.justification = options.justification
  if (options?.prefixRule !== undefined) args.prefix_rule = options.prefixRule
  return functionCall("exec_command", args, { callId: options?.callId, usage: options?.usage })
}

/**
 * A `function_call` of any tool (of a namespace, with `namespace`). `args` is serialized with
 * `JSON.stringify` unless it is a string (the wire `arguments` field is a JSON string).
 *
 * @since 0.1.0
 * @category constructors
 */
export const functionCall = (
  name: string,
  args: unknown,
  options?: {
    readonly namespace?: string | undefined
    readonly callId?: string | undefined
    readonly id?: string
    readonly usage?: Usage | null | undefined
  }
): StreamReply =>
  single(
    {
      _tag: "FunctionCall",
      id: options?.id,
      callId: options?.callId,
      name,
      namespace: options?.namespace,
      arguments: typeof args === "string" ? args : JSON.stringify(args)
    },
    options?.usage
  )

/**
 * A call of a client-side tool (codex's dynamic tools, `Tool.make` in the SDK): a `function_call`
 * with the tool's name, its `namespace` for a namespaced tool, and `args` as its JSON. Codex sends
 * it to the client as `item/tool/call` and the client's answer comes back on the next request as a
 * `function_call_output` (see {@link FakeModel.Service.awaitToolOutput}), so queue a follow-up reply
 * as well. Combine several with {@link response} for calls that run at once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toolCall = (name: string, args: unknown, options?: Parameters<typeof functionCall>[2]): StreamReply =>
  functionCall(name, args, options)

/**
 * The statuses the model may give a goal through its `update_goal` tool (codex 0.171.0 offers
 * `complete`, `blocked` and `paused`; budgets and usage limits are the server's).
 *
 * @since 0.1.0
 * @category models
 */
export type GoalUpdateStatus = "complete" | "blocked" | "paused"

/**
 * A `function_call` to `update_goal` — the tool codex offers the model while a thread has a goal
 * (`thread/goal/set`) — with `{"status": status}`. Codex sets the goal's status during the turn
 * (`thread/goal/updated`), answers the call with the goal as JSON (`function_call_output`) and
 * asks the model again within the same turn, so queue the turn's closing message after it; no
 * continuation turn follows. See {@link goalComplete}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const goalUpdate = (
  status: GoalUpdateStatus,
  options?: { readonly callId?: string; readonly usage?: Usage | null }
): StreamReply => functionCall("update_goal", { status }, { callId: options?.callId, usage: options?.usage })

/**
 * The model reports its goal achieved: `update_goal {"status":"complete"}` (see {@link goalUpdate}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const goalComplete = (options?: { readonly callId?: string; readonly usage?: Usage | null }): StreamReply =>
  goalUpdate("complete", options)

/**
 * The model reports its goal blocked: `update_goal {"status":"blocked"}` (see {@link goalUpdate}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const goalBlocked = (options?: { readonly callId?: string; readonly usage?: Usage | null }): StreamReply =>
  goalUpdate("blocked", options)

/**
 * A `custom_tool_call` (freeform tool) of any tool, sent as a single `response.output_item.done`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const customToolCall = (
  name: string,
  input: string,
  options?: { readonly callId?: string | undefined; readonly id?: string; readonly usage?: Usage | null | undefined }
): StreamReply =>
  single({ _tag: "CustomToolCall", id: options?.id, callId: options?.callId, name, input }, options?.usage)

/**
 * An `apply_patch` call producing a `fileChange` item (and `item/fileChange/requestApproval` under
 * `approvalPolicy:"untrusted"`). `patch` is the patch text; it is wrapped in
 * `*** Begin Patch` / `*** End Patch` when it does not start with `*** Begin Patch`.
 *
 * - `via: "exec"` (default): an `exec_command` call running `apply_patch <<'EOF' … EOF`, which codex
 *   intercepts; works with `mock-model`.
 * - `via: "custom"`: a `custom_tool_call` named `apply_patch`; only for models that offer the freeform
 *   tool (e.g. `thread/start {model:"gpt-5.5"}`); with `mock-model` codex answers "unsupported call".
 *
 * @since 0.1.0
 * @category constructors
 */
export const applyPatch = (
  patch: string,
  options?: { readonly callId?: string; readonly via?: "exec" | "custom"; readonly usage?: Usage | null }
): StreamReply => {
  const body = patch.startsWith("*** Begin Patch")
    ? patch.replace(/\n+$/, "")
    : `*** Begin Patch\n${patch.replace(/\n+$/, "")}\n*** End Patch`
  if (options?.via === "custom") {
    return customToolCall("apply_patch", body, { callId: options.callId, usage: options.usage })
  }
  const lines = body.split("\n")
  let delimiter = "EOF"
  while (lines.includes(delimiter)) delimiter = `${delimiter}_`
  return execCommand(`apply_patch <<'${delimiter}'\n${body}\n${delimiter}\n`, {
    ...(options?.callId !== undefined ? { callId: options.callId } : {}),
    ...(options?.usage !== undefined ? { usage: options.usage } : {})
  })
}

/**
 * Raw SSE events emitted verbatim (in order) as part of a response, for shapes the other constructors
 * do not cover. Each event's `type` field becomes its `event:` line.
 *
 * @since 0.1.0
 * @category constructors
 */
export const events = (...events: ReadonlyArray<SseEvent>): StreamReply => ({
  _tag: "StreamReply",
  responseId: undefined,
  parts: events.map((event): OutputPart => ({ _tag: "Event", event })),
  ending: completed(undefined)
})

/**
 * One response made of the output parts of several replies, in order (e.g. reasoning, then a message,
 * then an `exec_command` call), ending with `response.completed` (usage from `options`, default
 * {@link defaultUsage}). The endings of the given replies are ignored.
 *
 * @since 0.1.0
 * @category combinators
 */
export const response = (
  parts: ReadonlyArray<StreamReply>,
  options?: { readonly responseId?: string; readonly usage?: Usage | null }
): StreamReply => ({
  _tag: "StreamReply",
  responseId: options?.responseId,
  parts: partsOf(parts),
  ending: completed(options?.usage)
})

/**
 * A non-2xx HTTP answer. `body` defaults to
 * `{"error":{"message":"FakeModel HTTP <status>","type":"fake_model_error"}}`; a string body is sent as is,
 * anything else as JSON. Codex (no retries): 500 → `internalServerError`, 429 →
 * `responseTooManyFailedAttempts`, 401 → `httpConnectionFailed`, 400 → `"other"` with the body as message.
 *
 * @since 0.1.0
 * @category constructors
 */
export const httpError = (status: number, body?: unknown): HttpErrorReply => ({
  _tag: "HttpErrorReply",
  status,
  body: typeof body === "string"
    ? body
    : JSON.stringify(body ?? { error: { message: `FakeModel HTTP ${status}`, type: "fake_model_error" } }),
  contentType: typeof body === "string" ? "text/plain; charset=utf-8" : "application/json"
})

/**
 * A stream that ends with `response.failed` `{error:{code, message}}` after the parts of `before`.
 * Codex: `context_length_exceeded` → `contextWindowExceeded`, `insufficient_quota` → `usageLimitExceeded`,
 * anything else → `"other"`; the turn completes with `status:"failed"`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const failed = (
  code: string,
  message: string,
  options?: { readonly before?: StreamReply | ReadonlyArray<StreamReply>; readonly responseId?: string }
): StreamReply => ({
  _tag: "StreamReply",
  responseId: options?.responseId,
  parts: partsOf(options?.before),
  ending: { _tag: "Failed", code, message }
})

/**
 * A stream that sends `response.created` and the parts of `before`, then closes without
 * `response.completed` (codex: "stream disconnected before completion: stream closed before response.completed").
 *
 * @since 0.1.0
 * @category constructors
 */
export const truncated = (before?: StreamReply | ReadonlyArray<StreamReply>): StreamReply => ({
  _tag: "StreamReply",
  responseId: undefined,
  parts: partsOf(before),
  ending: { _tag: "Truncated" }
})

/**
 * A stream that sends `response.created` and the parts of `before`, then stays open until
 * {@link Service.releaseStalls} is called or the fake shuts down (sockets are destroyed on release of the
 * scope, so a stall never blocks shutdown). Use it for `turn/interrupt` / `turn/steer` tests.
 *
 * - `leaveOpen` (default `true`): the `response.output_item.done` of the last part is held back too, so
 *   a stalled message is still "in progress" (codex has emitted its deltas but no `item/completed`).
 * - `onRelease` (default `"complete"`): on release, send what was held back plus `response.completed`
 *   (`usage`, default {@link defaultUsage}); `"truncate"` just ends the body.
 *
 * @since 0.1.0
 * @category constructors
 */
export const stall = (
  before?: StreamReply | ReadonlyArray<StreamReply>,
  options?: {
    readonly leaveOpen?: boolean
    readonly onRelease?: "complete" | "truncate"
    readonly usage?: Usage | null
  }
): StreamReply => ({
  _tag: "StreamReply",
  responseId: undefined,
  parts: partsOf(before),
  ending: {
    _tag: "Stall",
    leaveOpen: options?.leaveOpen ?? true,
    onRelease: options?.onRelease ?? "complete",
    usage: options?.usage === undefined ? defaultUsage : options.usage
  }
})

// -------------------------------------------------------------------------------------------------
// SSE rendering
// -------------------------------------------------------------------------------------------------

/**
 * Frames one event as `event: <type>\ndata: <json>\n\n`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeEvent = (event: SseEvent): string => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`

/**
 * The SSE events of a streamed reply for request number `requestNumber`, split into what is sent at
 * once (`head`), what a stall holds back until release (`held`), and the terminal event (`tail`,
 * empty for truncated / stalled-then-truncated streams).
 *
 * @since 0.1.0
 * @category encoding
 */
export const renderEvents = (
  reply: StreamReply,
  requestNumber: number
): {
  readonly head: ReadonlyArray<SseEvent>
  readonly held: ReadonlyArray<SseEvent>
  readonly tail: ReadonlyArray<SseEvent>
} => {
  const responseId = reply.responseId ?? `resp-${requestNumber}`
  const perPart = reply.parts.map((part, index) => partEvents(part, index, requestNumber))
  const head: Array<SseEvent> = [{ type: "response.created", response: { id: responseId } }]
  const held: Array<SseEvent> = []
  perPart.forEach((evs, i) => {
    const isLast = i === perPart.length - 1
    const holdDone = isLast && reply.ending._tag === "Stall" && reply.ending.leaveOpen &&
      reply.parts[i]?._tag !== "Event" && evs.length > 0
    if (holdDone) {
      head.push(...evs.slice(0, -1))
      held.push(...evs.slice(-1))
    } else {
      head.push(...evs)
    }
  })
  const ending = reply.ending
  const completedEvent = (usage: Usage | null): SseEvent => ({
    type: "response.completed",
    response: usage === null ? { id: responseId } : { id: responseId, usage }
  })
  switch (ending._tag) {
    case "Completed":
      return { head, held, tail: [completedEvent(ending.usage)] }
    case "Failed":
      return {
        head,
        held,
        tail: [{
          type: "response.failed",
          response: { id: responseId, error: { code: ending.code, message: ending.message } }
        }]
      }
    case "Truncated":
      return { head, held, tail: [] }
    case "Stall":
      return { head, held, tail: ending.onRelease === "complete" ? [completedEvent(ending.usage)] : [] }
  }
}

const partEvents = (part: OutputPart, index: number, requestNumber: number): ReadonlyArray<SseEvent> => {
  const suffix = `${requestNumber}-${index}`
  switch (part._tag) {
    case "Message": {
      const id = part.id ?? `msg-${suffix}`
      const phase = part.phase === undefined ? {} : { phase: part.phase }
      return [
        {
          type: "response.output_item.added",
          output_index: index,
          item: { type: "message", role: "assistant", id, content: [], ...phase }
        },
        ...part.chunks.map((delta): SseEvent => ({
          type: "response.output_text.delta",
          item_id: id,
          output_index: index,
          content_index: 0,
          delta
        })),
        {
          type: "response.output_item.done",
          output_index: index,
          item: {
            type: "message",
            role: "assistant",
            id,
            content: [{ type: "output_text", text: part.text }],
            ...phase
          }
        }
      ]
    }
    case "Reasoning": {
      const id = part.id ?? `rs-${suffix}`
      const summaryEvents = part.summary.flatMap((text, summary_index): Array<SseEvent> => [
        {
          type: "response.reasoning_summary_part.added",
          item_id: id,
          output_index: index,
          summary_index,
          part: { type: "summary_text", text: "" }
        },
        { type: "response.reasoning_summary_text.delta", item_id: id, output_index: index, summary_index, delta: text }
      ])
      const rawEvents = part.raw.map((delta): SseEvent => ({
        type: "response.reasoning_text.delta",
        item_id: id,
        output_index: index,
        content_index: 0,
        delta
      }))
      return [
        { type: "response.output_item.added", output_index: index, item: { type: "reasoning", id, summary: [] } },
        ...summaryEvents,
        ...rawEvents,
        {
          type: "response.output_item.done",
          output_index: index,
          item: {
            type: "reasoning",
            id,
            summary: part.summary.map((text) => ({ type: "summary_text", text })),
            ...(part.raw.length > 0 ? { content: [{ type: "reasoning_text", text: part.raw.join("") }] } : {})
          }
        }
      ]
    }
    case "FunctionCall": {
      const callId = part.callId ?? `call-${suffix}`
      return [{
        type: "response.output_item.done",
        output_index: index,
        item: {
          type: "function_call",
          id: part.id ?? `fc-${callId}`,
          call_id: callId,
          name: part.name,
          ...(part.namespace === undefined ? {} : { namespace: part.namespace }),
          arguments: part.arguments
        }
      }]
    }
    case "CustomToolCall": {
      const callId = part.callId ?? `call-${suffix}`
      return [{
        type: "response.output_item.done",
        output_index: index,
        item: { type: "custom_tool_call", id: part.id ?? `ctc-${callId}`, call_id: callId, name: part.name, input: part.input }
      }]
    }
    case "Event":
      return [part.event]
  }
}

// -------------------------------------------------------------------------------------------------
// request helpers
// -------------------------------------------------------------------------------------------------

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * The `input` items of a recorded Responses request (empty when the body has none).
 *
 * @since 0.1.0
 * @category request helpers
 */
export const inputItems = (request: RecordedRequest): ReadonlyArray<Readonly<Record<string, unknown>>> =>
  isRecord(request.body) && Array.isArray(request.body.input) ? request.body.input.filter(isRecord) : []

/**
 * The text of the last `role:"user"` message of a recorded request.
 *
 * @since 0.1.0
 * @category request helpers
 */
export const lastUserText = (request: RecordedRequest): string | undefined => {
  const users = inputItems(request).filter((item) => item.type === "message" && item.role === "user")
  const last = users[users.length - 1]
  if (last === undefined || !Array.isArray(last.content)) return undefined
  return last.content
    .filter(isRecord)
    .map((c) => (typeof c.text === "string" ? c.text : ""))
    .join("")
}

/**
 * Whether a recorded request belongs to a turn that codex started by itself for a goal: its last
 * user message is a goal prompt codex wrote (`<codex_internal_context source="goal">`, codex
 * 0.171.0: the continuation prompt, or the notice that the budget is spent), not the user's text.
 * Useful in {@link Options.respond} to answer a goal's turns.
 *
 * @since 0.1.0
 * @category request helpers
 */
export const isGoalContinuation = (request: RecordedRequest): boolean =>
  lastUserText(request)?.startsWith("<codex_internal_context source=\"goal\">") === true

/**
 * A tool result codex sent back to the model: `callId` is the call it answers (absent for an
 * ExternalMessage, which carries the tool's `name` instead); `output` is the text, or the JSON of
 * the content items when there are several.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolOutput {
  readonly type: string
  readonly callId: string | undefined
  readonly name: string | undefined
  readonly namespace: string | undefined
  readonly output: string
}

/**
 * The tool results codex sent back (`function_call_output` / `custom_tool_call_output` input items).
 *
 * @since 0.1.0
 * @category request helpers
 */
export const toolOutputs = (request: RecordedRequest): ReadonlyArray<ToolOutput> =>
  inputItems(request)
    .filter((item) => item.type === "function_call_output" || item.type === "custom_tool_call_output")
    .map((item) => ({
      type: String(item.type),
      callId: typeof item.call_id === "string" ? item.call_id : undefined,
      name: typeof item.name === "string" ? item.name : undefined,
      namespace: typeof item.namespace === "string" ? item.namespace : undefined,
      output: typeof item.output === "string" ? item.output : JSON.stringify(item.output)
    }))

// -------------------------------------------------------------------------------------------------
// service
// -------------------------------------------------------------------------------------------------

/**
 * The FakeModel service.
 *
 * @since 0.1.0
 * @category tags
 */
export class FakeModel extends Context.Tag("@effect-codex/testing/FakeModel")<FakeModel, FakeModel.Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace FakeModel {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** `http://127.0.0.1:<port>` (codex's `base_url` is `${baseUrl}/v1`). */
    readonly baseUrl: string
    /** The OS-assigned port. */
    readonly port: number
    /** A fresh temp directory holding `config.toml`; removed on release. */
    readonly codexHome: string
    /** A fresh, empty temp directory to use as the app-server's cwd; removed on release. */
    readonly workspace: string
    /** Connection config for the SDK: `{ ...options.codexConfig, codexHome, cwd: workspace }`. */
    readonly config: CodexConfig
    /** The `config.toml` text that was written to `codexHome`. */
    readonly configToml: string
    /** Appends replies to the script; each `POST /v1/responses` consumes one, in order. */
    readonly enqueue: (...replies: ReadonlyArray<Reply>) => Effect.Effect<void>
    /** Number of scripted replies not consumed yet. */
    readonly remaining: Effect.Effect<number>
    /** Every request received so far (any path), in order. */
    readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
    /** Completes (with all requests so far) as soon as at least `n` requests have arrived. */
    readonly awaitRequests: (n: number) => Effect.Effect<ReadonlyArray<RecordedRequest>>
    /**
     * Waits for the first request that carries the output of the tool call `callId` (what the
     * client's tool answered, as the model sees it) and returns it.
     */
    readonly awaitToolOutput: (callId: string) => Effect.Effect<ToolOutput>
    /**
     * Finishes every response currently stalled by {@link stall} (per its `onRelease`) and returns how
     * many were released. Stalls that have not been reached yet are not affected.
     */
    readonly releaseStalls: Effect.Effect<number>
    /** Number of responses currently held open by {@link stall}. */
    readonly stalled: Effect.Effect<number>
  }
}

const tomlString = (s: string): string => JSON.stringify(s)

/**
 * The `config.toml` written for a fake at `baseUrl` (see PROTOCOL-NOTES §0).
 *
 * @since 0.1.0
 * @category encoding
 */
export const renderConfigToml = (baseUrl: string, options?: Options): string => {
  const extra = options?.extraToml === undefined
    ? []
    : typeof options.extraToml === "string"
    ? [options.extraToml]
    : options.extraToml
  return [
    `model = ${tomlString(options?.model ?? "mock-model")}`,
    `model_provider = "mock"`,
    `approval_policy = ${tomlString(options?.approvalPolicy ?? "never")}`,
    `sandbox_mode = ${tomlString(options?.sandboxMode ?? "read-only")}`,
    ...extra,
    ``,
    `[model_providers.mock]`,
    `name = "mock"`,
    `base_url = ${tomlString(`${baseUrl}/v1`)}`,
    `wire_api = "responses"`,
    `request_max_retries = 0`,
    `stream_max_retries = 0`,
    ``
  ].join("\n")
}

const decodeBody = (buf: Buffer, encoding: string | undefined): Buffer => {
  switch (encoding?.trim().toLowerCase()) {
    case "gzip":
      return Zlib.gunzipSync(buf)
    case "deflate":
      return Zlib.inflateSync(buf)
    case "br":
      return Zlib.brotliDecompressSync(buf)
    case "zstd": {
      const zstd = (Zlib as unknown as { readonly zstdDecompressSync?: (b: Buffer) => Buffer }).zstdDecompressSync
      return zstd === undefined ? buf : zstd(buf)
    }
    default:
      return buf
  }
}

const flattenHeaders = (headers: Http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v
  }
  return out
}

const mkTemp = (prefix: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix))),
      catch: (cause) => new FakeModelError({ message: `cannot create temp dir ${prefix}`, cause })
    }),
    (dir) =>
      Effect.tryPromise(() => Fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 })).pipe(
        Effect.catchAll((cause) => Effect.logWarning(`FakeModel: could not remove ${dir}`, cause))
      )
  )

interface Stalled {
  readonly release: () => void
}

/**
 * Starts a fake: temp `CODEX_HOME` (with `config.toml`) and workspace, and the loopback server.
 * Release destroys open sockets (stalled streams included), closes the server and removes both dirs.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<FakeModel.Service, FakeModelError, Scope.Scope> =>
  Effect.gen(function*() {
    const codexHome = yield* mkTemp("effect-codex-home-")
    const workspace = yield* mkTemp("effect-codex-workspace-")

    const queue: Array<Reply> = [...(options?.replies ?? [])]
    const recorded: Array<RecordedRequest> = []
    const waiters = new Set<{ readonly n: number; readonly deferred: Deferred.Deferred<ReadonlyArray<RecordedRequest>> }>()
    const outputWaiters = new Set<{ readonly callId: string; readonly deferred: Deferred.Deferred<ToolOutput> }>()
    const findOutput = (callId: string) => {
      for (const request of recorded) {
        const found = toolOutputs(request).find((output) => output.callId === callId)
        if (found !== undefined) return found
      }
      return undefined
    }
    const stalls = new Set<Stalled>()
    const sockets = new Set<Net.Socket>()

    const notify = () => {
      for (const waiter of outputWaiters) {
        const found = findOutput(waiter.callId)
        if (found !== undefined) {
          outputWaiters.delete(waiter)
          Deferred.unsafeDone(waiter.deferred, Effect.succeed(found))
        }
      }
      for (const waiter of waiters) {
        if (recorded.length >= waiter.n) {
          waiters.delete(waiter)
          Deferred.unsafeDone(waiter.deferred, Effect.succeed(recorded.slice()))
        }
      }
    }

    const emptyReply = (n: number): Reply =>
      options?.onEmpty ?? httpError(400, {
        error: {
          message: `FakeModel: no scripted reply left for request #${n} (enqueue more replies)`,
          type: "invalid_request_error"
        }
      })

    const serve = (reply: Reply, n: number, res: Http.ServerResponse) => {
      if (reply._tag === "HttpErrorReply") {
        res.writeHead(reply.status, { "content-type": reply.contentType })
        res.end(reply.body)
        return
      }
      const { head, held, tail } = renderEvents(reply, n)
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" })
      res.flushHeaders()
      for (const event of head) res.write(encodeEvent(event))
      if (reply.ending._tag !== "Stall") {
        for (const event of [...held, ...tail]) res.write(encodeEvent(event))
        res.end()
        return
      }
      const ending = reply.ending
      const entry: Stalled = {
        release: () => {
          stalls.delete(entry)
          if (res.writableEnded || res.destroyed) return
          if (ending.onRelease === "complete") {
            for (const event of [...held, ...tail]) res.write(encodeEvent(event))
          }
          res.end()
        }
      }
      stalls.add(entry)
      res.on("close", () => stalls.delete(entry))
    }

    const handle = (req: Http.IncomingMessage, res: Http.ServerResponse) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("error", () => res.destroy())
      req.on("end", () => {
        const n = recorded.length + 1
        let rawBody: string
        try {
          rawBody = decodeBody(Buffer.concat(chunks), req.headers["content-encoding"]).toString("utf8")
        } catch {
          rawBody = Buffer.concat(chunks).toString("utf8")
        }
        let body: unknown = rawBody
        try {
          body = JSON.parse(rawBody)
        } catch {
          // keep the raw text
        }
        const path = (req.url ?? "/").split("?")[0] ?? "/"
        const request: RecordedRequest = { index: n, method: req.method ?? "GET", path, headers: flattenHeaders(req.headers), body, rawBody }
        recorded.push(request)
        if (req.method === "POST" && path.endsWith("/responses")) {
          serve(queue.shift() ?? options?.respond?.(request) ?? emptyReply(n), n, res)
        } else {
          res.writeHead(404, { "content-type": "application/json" })
          res.end(JSON.stringify({
            error: { message: `FakeModel: no route for ${req.method ?? "?"} ${path}`, type: "not_found" }
          }))
        }
        notify()
      })
    }

    const server = yield* Effect.acquireRelease(
      Effect.async<Http.Server, FakeModelError>((resume) => {
        const server = Http.createServer(handle)
        server.on("connection", (socket) => {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
        })
        const onError = (cause: unknown) =>
          resume(Effect.fail(new FakeModelError({ message: "FakeModel: cannot listen on 127.0.0.1", cause })))
        server.once("error", onError)
        server.listen(0, "127.0.0.1", () => {
          server.off("error", onError)
          resume(Effect.succeed(server))
        })
      }),
      (server) =>
        Effect.async<void>((resume) => {
          for (const stalled of [...stalls]) stalls.delete(stalled)
          for (const waiter of waiters) {
            Deferred.unsafeDone(waiter.deferred, Effect.interrupt)
          }
          waiters.clear()
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
          for (const socket of sockets) socket.destroy()
          sockets.clear()
        })
    )

    const address = server.address()
    if (address === null || typeof address === "string") {
      return yield* new FakeModelError({ message: "FakeModel: server has no TCP address" })
    }
    const port = address.port
    const baseUrl = `http://127.0.0.1:${port}`
    const configToml = renderConfigToml(baseUrl, options)
    yield* Effect.try({
      try: () => Fs.writeFileSync(Path.join(codexHome, "config.toml"), configToml),
      catch: (cause) => new FakeModelError({ message: "FakeModel: cannot write config.toml", cause })
    })

    const service: FakeModel.Service = {
      baseUrl,
      port,
      codexHome,
      workspace,
      configToml,
      config: { ...options?.codexConfig, codexHome, cwd: workspace },
      enqueue: (...replies) =>
        Effect.sync(() => {
          queue.push(...replies)
        }),
      remaining: Effect.sync(() => queue.length),
      requests: Effect.sync(() => recorded.slice()),
      awaitRequests: (n) =>
        Effect.suspend(() => {
          if (recorded.length >= n) return Effect.succeed(recorded.slice())
          return Effect.acquireUseRelease(
            Effect.map(Deferred.make<ReadonlyArray<RecordedRequest>>(), (deferred) => {
              const waiter = { n, deferred }
              waiters.add(waiter)
              notify()
              return waiter
            }),
            (waiter) => Deferred.await(waiter.deferred),
            (waiter) => Effect.sync(() => waiters.delete(waiter))
          )
        }),
      awaitToolOutput: (callId) =>
        Effect.suspend(() => {
          const found = findOutput(callId)
          if (found !== undefined) return Effect.succeed(found)
          return Effect.acquireUseRelease(
            Effect.map(Deferred.make<ToolOutput>(), (deferred) => {
              const waiter = { callId, deferred }
              outputWaiters.add(waiter)
              notify()
              return waiter
            }),
            (waiter) => Deferred.await(waiter.deferred),
            (waiter) => Effect.sync(() => outputWaiters.delete(waiter))
          )
        }),
      releaseStalls: Effect.sync(() => {
        const all = [...stalls]
        for (const stalled of all) stalled.release()
        return all.length
      }),
      stalled: Effect.sync(() => stalls.size)
    }
    return service
  })

/**
 * A layer providing a fresh {@link FakeModel} for the lifetime of the layer's scope.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<FakeModel, FakeModelError> =>
  Layer.scoped(FakeModel, make(options))

/**
 * The real `codex app-server` wired to a fresh FakeModel: provides `Codex` (and the connection,
 * approvals and process) together with `FakeModel`, to script replies and read requests.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Codex } from "@effect-codex/app-server"
 * import { FakeModel } from "@effect-codex/testing"
 *
 * const program = Effect.gen(function* () {
 *   const fake = yield* FakeModel.FakeModel
 *   yield* fake.enqueue(FakeModel.text("Hello."))
 *   const codex = yield* Codex.Codex
 *   const thread = yield* codex.threadStart()
 *   return yield* thread.run("hi")
 * }).pipe(Effect.scoped, Effect.provide(FakeModel.layerCodex()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCodex = (
  options?: Options,
  config: CodexConfig = {}
): Layer.Layer<
  FakeModel | Codex.Codex | RpcConnection.RpcConnection | Approvals.Approvals | StdioTransport.StdioTransport,
  FakeModelError | Codex.StartError
> =>
  Layer.unwrapEffect(Effect.map(FakeModel, (fake) => Codex.layer({ ...fake.config, ...config }))).pipe(
    Layer.provideMerge(layer(options))
  )
