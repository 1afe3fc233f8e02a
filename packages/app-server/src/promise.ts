/**
 * `@effect-codex/app-server/promise`: the SDK for plain Node.js, with Promises, async iterables and
 * `await using` instead of Effect. One import is enough: the client, the error classes and the
 * `Input` helpers all come from here.
 *
 * ```ts
 * import { CodexClient, TurnFailedError } from "@effect-codex/app-server/promise"
 *
 * await using client = await CodexClient.start({
 *   approvals: { commandExecution: async (params) => ({ decision: "accept" }) }
 * })
 * const thread = await client.threadStart()
 * const result = await thread.run("Summarize Rust ownership in 2 bullets.")
 * result.finalResponse // string | undefined
 *
 * for await (const event of thread.runStreamed("Explain SIMD in 3 short bullets.")) {
 *   if (event.method === "item/agentMessage/delta") process.stdout.write(event.params.delta)
 * }
 * ```
 *
 * **Errors.** Promises reject with the very error instances of the Effect API (`TurnFailedError`,
 * `TurnBusyError`, `InvalidRequestError`, `ProcessExitedError`, …, all re-exported here), so
 * `instanceof` works. An operation that was cut short — by its `signal`, by leaving a `for await`
 * early, by closing its turn, thread or client — rejects with {@link AbortError}
 * (`name === "AbortError"`). Unexpected defects are rethrown as they are.
 *
 * **Tools.** `threadStart(params, { tools })` (also `threadFork` / `threadResume`, which serve
 * the tools again: codex keeps the ones a thread started with) lets the agent call async functions
 * of the program. `parameters` is an Effect Schema (the handler gets the decoded, typed arguments)
 * or a JSON Schema object (`args: unknown`); a handler returns a string or `tool.content([...])` /
 * `tool.image(url)`. It fails closed: arguments that do not decode, a throw or a rejection, a
 * timeout answer the model `success: false` with the message, and the turn goes on. The handler's
 * `signal` aborts when the call is cut short (its turn ended or was interrupted, its `timeout`
 * passed, the thread or client closed). Tools need `experimentalApi: true`. See {@link tool}.
 *
 * **Lifecycle.**
 * - A {@link CodexClient} owns one `codex app-server` process and everything started through it.
 *   `close()` (or leaving an `await using` block) closes every thread (see below), interrupts the
 *   client's calls still in flight (they reject with `AbortError`), then stops the process (stdin
 *   closed, then SIGTERM, then SIGKILL, each step bounded by `shutdownTimeout`). `close()` is
 *   idempotent, and every call made after it rejects with `AbortError`.
 * - A {@link PromiseThread} lives until `thread.close()` (or `await using`) or the client's close.
 *   Closing it closes its open turns, interrupts its calls in flight (a `run` in progress is
 *   interrupted on the server too) and drops its per-thread approval handlers. The conversation
 *   itself stays on the server (resume it with `threadResume`).
 * - A {@link PromiseTurn} (from `runStreamed`) is started at once: `turn/start` is sent when
 *   `runStreamed` is called, `started` resolves with the turn id (and `id` is set). Its resources
 *   (its event subscription, the thread's one-turn slot) are released when the turn has ended and
 *   its events have been consumed (the `for await` loop finished, or `result()` settled), when the
 *   loop is left early (`break`, `return`, a thrown error: the turn is then interrupted on the
 *   server, and leaving the loop waits for the server to confirm), or on `close()`, its `signal`,
 *   or the close of its thread or client. A turn that is neither consumed nor closed keeps its
 *   subscription open and its events pile up in it (bounded, with back-pressure on the whole
 *   connection once full): always consume or close the turns you start.
 * - One turn at a time per thread: while a turn is open, `run`, `runStreamed` and `compact` on the
 *   same thread reject with `TurnBusyError` (the server would otherwise turn the second one into a
 *   steer) — unless `run` / `runStreamed` get `queue: true`: they then wait for the thread.
 * - Idle timeouts: a turn with no event for `idleTimeout` (a turn option, in milliseconds or any
 *   `Duration` input; default `turnIdleTimeout` of {@link CodexClient.start}, off unless set) is
 *   interrupted on the server and rejects with `TurnStalledError`.
 * - A {@link PromiseGoal} (from `goalStreamed`) sets its goal at once; the server then runs the
 *   goal's turns by itself, and while it is pursued the thread's `run`, `runStreamed`, `compact`
 *   and another goal reject with `GoalActiveError`. Leaving its `for await` loop early, its
 *   `signal`, `close()` or the close of its thread or client pause the goal and interrupt its
 *   running turn.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Protocol from "@effect-codex/protocol/generated/Schemas"
import * as Registry from "@effect-codex/protocol/Registry"
import * as Approvals from "./Approvals.js"
import * as Codex from "./Codex.js"
import * as CodexPool from "./CodexPool.js"
import type * as Config from "./CodexConfig.js"
import { TurnConsumedError } from "./CodexError.js"
import type * as Goal from "./Goal.js"
import * as Input from "./Input.js"
import type * as Login from "./Login.js"
import type * as RpcConnection from "./RpcConnection.js"
import * as StdioTransport from "./StdioTransport.js"
import type * as Thread from "./Thread.js"
import * as Tool from "./Tool.js"
import * as Turn from "./Turn.js"

/**
 * Every error class of the SDK (`TurnFailedError`, `TurnBusyError`, the JSON-RPC family,
 * `ProcessExitedError`, …) and its guards, for `instanceof` checks.
 *
 * @since 0.1.0
 * @category errors
 */
export * from "./CodexError.js"

/**
 * The error of a bad `CodexClient.startPool` option (it names the field): the class of
 * `CodexPool.PoolConfigError`, for `instanceof`.
 *
 * @since 0.1.0
 * @category errors
 */
export const PoolConfigError: typeof CodexPool.PoolConfigError = CodexPool.PoolConfigError

/**
 * @since 0.1.0
 * @category errors
 */
export type PoolConfigError = CodexPool.PoolConfigError

/**
 * Input helpers: `Input.text`, `Input.image`, `Input.localImage`, `Input.skill`, `Input.mention`.
 *
 * @since 0.1.0
 * @category input
 */
export * as Input from "./Input.js"

/**
 * Sandbox presets: `Sandbox.readOnly`, `Sandbox.workspaceWrite(options)`, `Sandbox.fullAccess`
 * (in `threadStart({ sandbox })` and in the `sandboxPolicy` of a turn).
 *
 * @since 0.1.0
 * @category presets
 */
export * as Sandbox from "./Sandbox.js"

/**
 * Approval presets (`approvalPolicy` + `approvalsReviewer`, to spread into thread or turn params):
 * `ApprovalMode.denyAll`, `autoReview`, `askUser`, `dangerouslyBypassApprovalsAndSandbox`.
 *
 * @since 0.1.0
 * @category presets
 */
export * as ApprovalMode from "./ApprovalMode.js"

/**
 * Configuration of the `codex app-server` process and connection.
 *
 * @since 0.1.0
 * @category models
 */
export type CodexConfig = Config.CodexConfig

/**
 * Retry policy for `-32001` (server overloaded) answers.
 *
 * @since 0.1.0
 * @category models
 */
export type RetryPolicy = Config.RetryPolicy

/**
 * A notification of a turn (`event.method` / `event.params`, typed by method).
 *
 * @since 0.1.0
 * @category models
 */
export type Notification = RpcConnection.Notification

/**
 * Token usage after a turn: `total` over the thread, `last` of the latest model call, `turn`
 * what this turn used.
 *
 * @since 0.1.0
 * @category models
 */
export type Usage = Turn.Usage

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * The operation was cut short: its `signal` was aborted, a `for await` loop over its turn was left
 * early, or its turn, thread or client was closed. `name` is `"AbortError"` (like the DOM's), so
 * code that already checks `error.name === "AbortError"` keeps working.
 *
 * @since 0.1.0
 * @category errors
 */
export class AbortError extends Error {
  /**
   * @since 0.1.0
   */
  readonly _tag = "AbortError" as const
  /**
   * @since 0.1.0
   */
  override readonly name = "AbortError"
  constructor(message = "The operation was aborted", options?: { readonly cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
  }
}

/** The error a promise rejects with for a failed Effect: the failure itself, or an `AbortError`. */
const errorOf = (cause: Cause.Cause<unknown>, signal?: AbortSignal): unknown =>
  Cause.isInterruptedOnly(cause)
    ? signal?.aborted === true
      ? new AbortError("The operation was aborted by its signal", { cause: signal.reason })
      : new AbortError()
    : Cause.squash(cause)

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/**
 * What an approval callback receives besides the request's params: a `signal` aborted when the
 * answer is no longer wanted (the handler timed out, or the client is closing).
 *
 * @since 0.1.0
 * @category approvals
 */
export interface HandlerContext {
  readonly signal: AbortSignal
}

/**
 * An approval callback for one kind of server request: typed params in, the typed answer out
 * (or a promise of it). A callback that throws, rejects or runs past `timeoutMs` is answered with
 * the fail-closed refusal (decline, refuse, cancel) and the connection goes on.
 *
 * @since 0.1.0
 * @category approvals
 */
export type PromiseHandler<M extends Registry.ServerRequestMethod> = (
  params: Registry.ServerRequestParams<M>,
  context: HandlerContext
) => Registry.ServerRequestResult<M> | PromiseLike<Registry.ServerRequestResult<M>>

/**
 * Approval callbacks by kind (the kinds of `Approvals.Handlers`: `commandExecution`, `fileChange`,
 * `permissions`, `userInput`, `toolCall`, `elicitation`, …); each one left out is refused (fail
 * closed).
 *
 * @since 0.1.0
 * @category approvals
 */
export type PromiseHandlers = {
  readonly [K in keyof Approvals.Handlers]?: PromiseHandler<Approvals.MethodOfKind<K>>
}

/**
 * The approval policy of a client: callbacks by kind and how long each may take.
 *
 * @since 0.1.0
 * @category approvals
 */
export interface PromiseApprovals extends PromiseHandlers {
  /** How long a callback may take before the request is refused. Default 10 minutes. */
  readonly timeoutMs?: number
}

/**
 * Options of {@link CodexClient.start}: the {@link CodexConfig} (with `apiKey` also accepted as a
 * plain string), the approval callbacks and the level of the SDK's own log lines.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions extends Omit<CodexConfig, "apiKey"> {
  /** An OpenAI API key, passed to the process as `OPENAI_API_KEY`; never logged. */
  readonly apiKey?: string | Redacted.Redacted<string>
  /** Approval callbacks; without them every request of the server is refused (fail closed). */
  readonly approvals?: PromiseApprovals
  /** The least severe level the SDK logs (to the console, Effect's default logger). Default `"Info"`. */
  readonly logLevel?: LogLevel.Literal
}

/**
 * Per-thread options: approval callbacks for this thread only (they override the client's) and
 * the client-side tools to serve for the thread (see {@link PromiseTool}).
 *
 * @since 0.1.0
 * @category models
 */
export interface ThreadOptions {
  readonly approvals?: PromiseHandlers
  /**
   * Tools the agent may call, served while the thread is open. On `threadStart` they are also
   * declared to codex (`dynamicTools`, needs `experimentalApi: true`); a resumed or forked thread
   * keeps the tools it started with, so pass the same ones again to serve them. Declared inline
   * here, a tool's `args` are typed from its `parameters`; inside a namespace, declare each tool
   * with {@link tool} for that.
   */
  readonly tools?: ReadonlyArray<ToolDefinition>
}

/**
 * {@link ThreadOptions} whose tools are inferred one by one (no namespaces), so that each
 * handler's `args` are typed from its own `parameters`.
 *
 * @since 0.1.0
 * @category tools
 */
export interface TypedThreadOptions<P extends ReadonlyArray<ToolParameters>> extends Omit<ThreadOptions, "tools"> {
  readonly tools: { readonly [K in keyof P]: PromiseTool<P[K]> }
}

// ---------------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------------

/**
 * A JSON Schema of a tool's arguments, as codex shows it to the model (sent as it is). Its
 * top level must be `{"type": "object"}` (the Responses API wants it).
 *
 * @since 0.1.0
 * @category tools
 */
export interface JsonSchemaObject {
  readonly type: "object"
  readonly [key: string]: unknown
}

/**
 * What a tool's `parameters` are: an Effect Schema of an object (`Schema.Struct`, `Schema.Class`,
 * `Schema.Record`; its JSON Schema is sent, the arguments are decoded with it), or a
 * {@link JsonSchemaObject} (sent as it is; the arguments are not checked against it).
 *
 * @since 0.1.0
 * @category tools
 */
export type ToolParameters = Schema.Schema.AnyNoContext | JsonSchemaObject

/**
 * The type of a tool's `args`: the Schema's decoded type, `unknown` for a JSON Schema.
 *
 * @since 0.1.0
 * @category tools
 */
export type ToolArgs<P> = P extends Schema.Schema<infer A, infer _I, infer _R> ? A : unknown

/**
 * What a tool's handler receives besides its arguments: where the call comes from, and a `signal`
 * aborted when the call is cut short (its turn completed or was interrupted, its timeout passed,
 * the thread or the client was closed). Pass it on to `fetch`, child processes, timers, …
 *
 * @since 0.1.0
 * @category tools
 */
export interface ToolContext extends Tool.CallContext {
  readonly signal: AbortSignal
}

/**
 * What a handler returns: a string (one text item), or content built with `tool.text`,
 * `tool.image` and `tool.content`.
 *
 * @since 0.1.0
 * @category tools
 */
export type ToolOutput = Tool.Output

/**
 * A client-side tool as an async function. A throw or a rejection refuses the call: the model
 * gets `success: false` with the error's `message`.
 *
 * @since 0.1.0
 * @category tools
 */
export interface PromiseTool<P extends ToolParameters = ToolParameters> {
  /** The name the model calls, matching `^[a-zA-Z0-9_-]+$`. */
  readonly name: string
  /** What the tool does, for the model. */
  readonly description: string
  /** The arguments: an Effect Schema (decoded, typed `args`) or a JSON Schema object (`args: unknown`). */
  readonly parameters: P
  /** The call's deadline, in milliseconds or any `Duration` input. Default: the client's `toolTimeout` (5 minutes). */
  readonly timeout?: Duration.DurationInput
  /** Runs the call. */
  handler(args: ToolArgs<P>, context: ToolContext): ToolOutput | PromiseLike<ToolOutput>
}

/**
 * Tools grouped under a namespace: the model calls them by namespace and name.
 *
 * @since 0.1.0
 * @category tools
 */
export interface PromiseToolNamespace {
  /** The namespace's name, matching `^[a-zA-Z0-9_-]+$`. */
  readonly namespace: string
  /** What the tools of the namespace are for, for the model. */
  readonly description: string
  /** At least one tool; declare them with {@link tool} for typed `args`. */
  readonly tools: ReadonlyArray<AnyPromiseTool>
}

/**
 * Any {@link PromiseTool}, whatever its parameters (its `args` are `unknown` to the caller).
 *
 * @since 0.1.0
 * @category tools
 */
export interface AnyPromiseTool extends Omit<PromiseTool, "handler"> {
  handler(args: unknown, context: ToolContext): ToolOutput | PromiseLike<ToolOutput>
}

/**
 * An entry of `tools`: a tool or a namespace of tools.
 *
 * @since 0.1.0
 * @category tools
 */
export type ToolDefinition = AnyPromiseTool | PromiseToolNamespace

/**
 * What `tool.text`, `tool.image` and `tool.content` build (codex's content items).
 *
 * @since 0.1.0
 * @category tools
 */
export type ToolContent = Tool.Content

const defineTool = <const P extends ToolParameters>(definition: PromiseTool<P>): PromiseTool<P> => definition

/**
 * `tool({ name, description, parameters, handler })` declares a tool with its `args` typed from
 * its `parameters` (anywhere: in a variable, in a namespace); it returns the definition as it is.
 * `tool.text(s)`, `tool.image(url)` (an `https:` or `data:` URL) and `tool.content([...])` (strings
 * and images, in order) build a handler's answer. To refuse a call, throw: the model gets
 * `success: false` with the error's message.
 *
 * @example
 * ```ts
 * import { readFile } from "node:fs/promises"
 * import { Schema } from "effect"
 * import { CodexClient, tool } from "@effect-codex/app-server/promise"
 *
 * const readNote = tool({
 *   name: "read_note",
 *   description: "Reads one of the user's notes by name",
 *   parameters: Schema.Struct({ name: Schema.String }),
 *   handler: async ({ name }, { signal }) => {
 *     if (name.includes("/")) throw new Error("a note name has no slash") // refused: success false
 *     return await readFile(`notes/${name}.md`, { encoding: "utf8", signal })
 *   }
 * })
 *
 * export const askAboutGroceries = async () => {
 *   await using client = await CodexClient.start({ experimentalApi: true })
 *   const thread = await client.threadStart({}, { tools: [readNote] })
 *   const result = await thread.run("What is in my note 'groceries'?")
 *   return result.toolCalls // [{ tool: "read_note", arguments: { name: "groceries" }, success: true, … }]
 * }
 * ```
 *
 * @since 0.1.0
 * @category tools
 */
export const tool: {
  <const P extends ToolParameters>(definition: PromiseTool<P>): PromiseTool<P>
  /** A text answer. */
  readonly text: (value: string) => ToolContent
  /** An image answer, by URL (`https:` or a `data:` URL). */
  readonly image: (url: string) => ToolContent
  /** Mixed content: strings become text items, in order. */
  readonly content: (parts: ReadonlyArray<string | ToolContent>) => ToolContent
} = Object.assign(defineTool, { text: Tool.text, image: Tool.image, content: Tool.content })

/**
 * Per-turn settings (model, effort, cwd, approval policy, sandbox policy, …), the SDK's `queue`
 * (wait for a busy thread) and `idleTimeout` (reject a turn gone quiet with `TurnStalledError`),
 * and an optional `signal`: aborting it interrupts the turn on the server and rejects with
 * {@link AbortError}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions extends Thread.TurnOptions {
  readonly signal?: AbortSignal
}

/**
 * Options of {@link PromiseThread.external}: the turn's settings, the `signal`, the namespace of
 * the tool the message is presented as, and `retain` (keep the output in the model's history).
 *
 * @since 0.1.0
 * @category models
 */
export interface ExternalRunOptions extends Thread.ExternalOptions {
  readonly signal?: AbortSignal
}

/**
 * Run options with a structured output: the final answer must be JSON matching `outputSchema`
 * (an Effect Schema; its JSON Schema goes to the wire, and the answer is decoded with it).
 *
 * @since 0.1.0
 * @category models
 */
export interface StructuredRunOptions<A, I> extends RunOptions {
  readonly outputSchema: Schema.Schema<A, I>
}

/**
 * The outcome of a completed (or interrupted) turn, as plain values.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunResult {
  /** The final answer: the last agent message of phase `final_answer`, else the last one without a phase. */
  readonly finalResponse: string | undefined
  /** Every item the turn completed, in order. */
  readonly items: ReadonlyArray<Protocol.ThreadItem>
  /** The client-side tool calls among the items, in order. */
  readonly toolCalls: ReadonlyArray<ToolCall>
  /** Token usage reported during the turn, if any. */
  readonly usage: Usage | undefined
  /** The turn as `turn/completed` reported it (status `completed` or `interrupted`). */
  readonly turn: Protocol.Turn
}

/**
 * One call of a client-side tool during a turn (its `dynamicToolCall` item), as plain values:
 * `arguments` as the model sent them, `success`, the `contentItems` answered, `durationMs` as
 * codex measured it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCall extends Omit<Turn.ToolCall, "duration"> {
  readonly durationMs: number | undefined
}

/**
 * A {@link RunResult} with the final answer decoded by the turn's `outputSchema`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StructuredRunResult<A> extends RunResult {
  readonly output: A
}

/**
 * A turn in progress, started by {@link PromiseThread.runStreamed}. Iterate it (once) for its
 * notifications — the iteration ends after `turn/completed` — and/or call `result()` for its
 * {@link RunResult}. Leaving a `for await` loop early interrupts the turn on the server.
 *
 * @since 0.1.0
 * @category models
 */
export interface PromiseTurn<R extends RunResult = RunResult> extends AsyncIterable<Notification>, AsyncDisposable {
  readonly threadId: string
  /** The turn id, once the server accepted the turn (`undefined` before; see `started`). */
  readonly id: string | undefined
  /** Resolves with the turn id when the server accepted the turn; rejects if it could not start (`TurnBusyError`, …). */
  readonly started: Promise<string>
  /**
   * Waits for the end of the turn and returns its result. It can be called while iterating, or
   * after: the iteration still sees every event. Called first, it consumes the events, and a later
   * iteration fails with `TurnConsumedError`. Rejects with `TurnFailedError` if the turn failed,
   * with `AbortError` if the turn was closed or the loop was left early.
   */
  readonly result: () => Promise<R>
  /** Adds input to the running turn (`turn/steer`). */
  readonly steer: (input: Input.Input) => Promise<void>
  /** Asks the server to interrupt the turn; it then ends with status `interrupted` (the iteration goes on to `turn/completed`). */
  readonly interrupt: () => Promise<void>
  /** Interrupts the turn if it is still running, waits for the server to confirm, and releases it. Idempotent. */
  readonly close: () => Promise<void>
}

/**
 * Settings of a goal (`runGoal`, `goalStreamed`). `signal`: aborting it pauses the goal,
 * interrupts its running turn and rejects with {@link AbortError}.
 *
 * @since 0.1.0
 * @category models
 */
export interface GoalOptions extends Goal.GoalOptions {
  readonly signal?: AbortSignal
}

/**
 * What a goal did, up to where it stopped, as plain values.
 *
 * @since 0.1.0
 * @category models
 */
export interface GoalResult {
  /** The goal as the server last reported it: status (`complete`, `blocked`, `budgetLimited`, `usageLimited`, `paused`), objective, budget, usage. */
  readonly goal: Protocol.ThreadGoal
  /** A result per turn of the goal, the server's continuations included, in order. */
  readonly turns: ReadonlyArray<RunResult>
  /** The final answer of the last turn. */
  readonly finalResponse: string | undefined
  /** The tokens the goal's turns used, summed. */
  readonly usage: Turn.Tokens
}

/**
 * A goal being pursued, from {@link PromiseThread.goalStreamed}. Iterate it for every
 * notification of the thread (the goal's turns and its `thread/goal/updated` reports) until the
 * goal stops: a status other than `active` and its last turn completed, or cleared. After
 * `resume()`, iterate it again for the next leg. Leaving a loop early pauses the goal and
 * interrupts its running turn.
 *
 * @since 0.1.0
 * @category models
 */
export interface PromiseGoal extends AsyncIterable<Notification>, AsyncDisposable {
  readonly threadId: string
  /** Resolves once the goal is set; rejects if it could not be (`GoalActiveError`, `TurnBusyError`, …). */
  readonly started: Promise<void>
  /**
   * Follows the goal until it stops and returns what it did (at once if it already stopped, e.g.
   * after the loop ended). Rejects with `GoalClearedError` if the goal was cleared.
   */
  readonly result: () => Promise<GoalResult>
  /** Pauses the goal: its running turn finishes, no next one starts. */
  readonly pause: () => Promise<Protocol.ThreadGoal>
  /** Makes the goal active again: the server starts a turn; iterate again (or call `result()`) to follow it. */
  readonly resume: () => Promise<Protocol.ThreadGoal>
  /** Removes the goal (`thread/goal/clear`). */
  readonly clear: () => Promise<void>
  /** The goal as the server has it now, `undefined` once cleared. */
  readonly status: () => Promise<Protocol.ThreadGoal | undefined>
  /** Pauses the goal if it is still pursued (interrupting its running turn) and releases it. Idempotent. */
  readonly close: () => Promise<void>
}

/**
 * A conversation with the agent.
 *
 * @since 0.1.0
 * @category models
 */
export interface PromiseThread extends AsyncDisposable {
  readonly id: string
  /** The thread as the server described it when it was started, resumed or forked. */
  readonly info: Protocol.Thread
  /** Runs a turn to its end and returns the result (rejects with `TurnFailedError` if the turn failed). */
  readonly run: {
    <A, I>(input: Input.Input, options: StructuredRunOptions<A, I>): Promise<StructuredRunResult<A>>
    (input: Input.Input, options?: RunOptions): Promise<RunResult>
  }
  /** Starts a turn at once and returns it, to iterate with `for await` (see {@link PromiseTurn}). */
  readonly runStreamed: {
    <A, I>(input: Input.Input, options: StructuredRunOptions<A, I>): PromiseTurn<StructuredRunResult<A>>
    (input: Input.Input, options?: RunOptions): PromiseTurn
  }
  /**
   * An ExternalMessage: `content` presented to the model as the output of the tool `toolName`
   * (codex checks the name against nothing: it carries no authority), in a turn of its own, run to
   * its end like `run`.
   */
  readonly external: (toolName: string, content: ToolOutput, options?: ExternalRunOptions) => Promise<RunResult>
  /** Sets the thread's name (`thread/name/set`). */
  readonly setName: (name: string) => Promise<void>
  /** Compacts the thread's history and waits for the compaction to complete. */
  readonly compact: (options?: { readonly signal?: AbortSignal }) => Promise<void>
  /** Reads the thread (`thread/read`), with its turns when asked. */
  readonly read: (options?: { readonly includeTurns?: boolean }) => Promise<Protocol.Thread>
  /** Sets a goal the server pursues over as many turns as it takes, and waits until it stops (see {@link PromiseGoal}). */
  readonly runGoal: (objective: string, options?: GoalOptions) => Promise<GoalResult>
  /** Sets a goal at once and returns it, to iterate with `for await` (see {@link PromiseGoal}). */
  readonly goalStreamed: (objective: string, options?: GoalOptions) => PromiseGoal
  /** Closes the thread's open turns, interrupts its calls in flight and drops its approval handlers. Idempotent. */
  readonly close: () => Promise<void>
}

/**
 * What both interactive login flows give: the attempt's id, `wait()` and `cancel()`.
 *
 * @since 0.1.0
 * @category login
 */
export interface PromiseLoginAttempt {
  readonly loginId: string
  /**
   * Resolves with the server's `account/login/completed` once the user signed in; rejects with
   * `LoginFailedError` (the server's message), `LoginCancelledError` (after `cancel()` or the
   * client's close) or `LoginTimeoutError` (the deadline, `timeoutMs`, passed). Can be called
   * any number of times.
   */
  readonly wait: () => Promise<Login.Completed>
  /** Cancels the attempt on the server; resolves with `canceled`, or `notFound` when it had already ended. */
  readonly cancel: () => Promise<Protocol.CancelLoginAccountStatus>
}

/**
 * A ChatGPT login in a browser: open `authUrl`, then `await wait()`.
 *
 * @since 0.1.0
 * @category login
 */
export interface PromiseLoginHandle extends PromiseLoginAttempt {
  readonly authUrl: string
}

/**
 * A ChatGPT login with a device code: show `verificationUrl` and `userCode`, then `await wait()`.
 *
 * @since 0.1.0
 * @category login
 */
export interface PromiseDeviceCodeHandle extends PromiseLoginAttempt {
  readonly verificationUrl: string
  readonly userCode: string
}

/**
 * Options of an interactive login: its deadline in milliseconds (default 10 minutes).
 *
 * @since 0.1.0
 * @category login
 */
export interface PromiseLoginOptions {
  readonly timeoutMs?: number
}

/**
 * The login flows of a client (`client.login`).
 *
 * @since 0.1.0
 * @category login
 */
export interface PromiseLogin {
  /** Logs in with an OpenAI API key (a string or a `Redacted`); never logged. */
  readonly apiKey: (apiKey: string | Redacted.Redacted<string>) => Promise<void>
  /** Starts a ChatGPT login in a browser. */
  readonly chatgpt: (options?: PromiseLoginOptions) => Promise<PromiseLoginHandle>
  /** Starts a ChatGPT login with a device code. */
  readonly deviceCode: (options?: PromiseLoginOptions) => Promise<PromiseDeviceCodeHandle>
}

/**
 * A connection to one `codex app-server` process. Start it with {@link CodexClient.start}; close
 * it with `close()` or `await using`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CodexClient extends AsyncDisposable {
  /** The server's answer to `initialize` (userAgent, codexHome, platform). */
  readonly serverInfo: Protocol.InitializeResponse
  /** The server's version, read from its user agent. */
  readonly serverVersion: string | undefined
  /**
   * Process id of `codex app-server` (also its process group id on POSIX). For a pool
   * (`CodexClient.startPool`), the pid of its first process; see `pool.stats()` for all of them.
   * `-1` for a client of `CodexClient.connect` (the server is not its process).
   */
  readonly pid: number
  /** The pool underneath a client of `CodexClient.startPool` (`undefined` for `CodexClient.start`). */
  readonly pool?: PromisePool
  /**
   * Starts a new thread, with the tools of `options.tools` declared and served (rejects with
   * `ExperimentalApiRequiredError` without `experimentalApi: true`, with a `TypeError` for a tool
   * declared wrongly).
   */
  readonly threadStart: {
    <const P extends ReadonlyArray<ToolParameters>>(params: Codex.ThreadStartParams | undefined, options: TypedThreadOptions<P>): Promise<PromiseThread>
    (params?: Codex.ThreadStartParams, options?: ThreadOptions): Promise<PromiseThread>
  }
  /**
   * Resumes a thread from its rollout on disk (works from a new process with the same
   * `CODEX_HOME`). It keeps the tools it started with: pass the same `tools` to serve them.
   */
  readonly threadResume: {
    <const P extends ReadonlyArray<ToolParameters>>(
      threadId: string,
      params: Codex.ThreadResumeParams | undefined,
      options: TypedThreadOptions<P>
    ): Promise<PromiseThread>
    (threadId: string, params?: Codex.ThreadResumeParams, options?: ThreadOptions): Promise<PromiseThread>
  }
  /** Forks a thread into a new one with a copy of its history (and its tools: pass `tools` to serve them). */
  readonly threadFork: {
    <const P extends ReadonlyArray<ToolParameters>>(
      threadId: string,
      params: Codex.ThreadForkParams | undefined,
      options: TypedThreadOptions<P>
    ): Promise<PromiseThread>
    (threadId: string, params?: Codex.ThreadForkParams, options?: ThreadOptions): Promise<PromiseThread>
  }
  /** Archives a thread. */
  readonly threadArchive: (threadId: string) => Promise<void>
  /** Brings an archived thread back. */
  readonly threadUnarchive: (threadId: string) => Promise<Protocol.Thread>
  /** Lists threads (one page; `nextCursor` for more). */
  readonly threadList: (params?: Registry.ClientRequestParams<"thread/list">) => Promise<Registry.ClientRequestResult<"thread/list">>
  /** Reads a thread by id, with its turns when asked. */
  readonly threadRead: (threadId: string, options?: { readonly includeTurns?: boolean }) => Promise<Protocol.Thread>
  /** The models the server offers (every page). */
  readonly models: (options?: { readonly includeHidden?: boolean }) => Promise<ReadonlyArray<Protocol.Model>>
  /** The account the server is logged in with (`account/read`): `account` is `null` when logged out. */
  readonly account: (options?: Codex.AccountOptions) => Promise<Registry.ClientRequestResult<"account/read">>
  /** Logs in: `login.apiKey(key)`, `login.chatgpt()`, `login.deviceCode()`. */
  readonly login: PromiseLogin
  /** Logs out (`account/logout`). */
  readonly logout: () => Promise<void>
  /** The ChatGPT account's rate limits (`account/rateLimits/read`). */
  readonly rateLimits: () => Promise<Registry.ClientRequestResult<"account/rateLimits/read">>
  /** Any method of the protocol, typed by its name. */
  readonly request: <M extends Registry.ClientRequestMethod>(
    method: M,
    ...args: RpcConnection.RequestArgs<M>
  ) => Promise<Registry.ClientRequestResult<M>>
  /** Closes every thread, interrupts the calls in flight and stops the process. Idempotent. */
  readonly close: () => Promise<void>
}

// ---------------------------------------------------------------------------------------------
// Runtime plumbing
// ---------------------------------------------------------------------------------------------

type Services = Codex.Codex

/**
 * Something that owns a scope: the client, a thread. Work started for it runs on fibers bound to
 * its scope (closing the scope interrupts them); nothing new starts once it is closing.
 */
interface Owner {
  readonly label: string
  readonly scope: Scope.CloseableScope
  readonly parent: Owner | undefined
  closing: boolean
}

const isClosing = (owner: Owner): boolean => owner.closing || (owner.parent !== undefined && isClosing(owner.parent))

const noop = (): void => undefined

/** The client's runtime and helpers shared by threads and turns. */
class Core {
  readonly threads = new Set<ThreadImpl>()
  constructor(
    readonly runtime: ManagedRuntime.ManagedRuntime<Services, unknown>,
    readonly codex: Codex.Codex.Service,
    readonly root: Owner
  ) {}

  /**
   * Runs an effect on a fiber bound to the owner's scope and settles a promise with its outcome.
   * Aborting `signal` interrupts the fiber.
   */
  run<A, E>(effect: Effect.Effect<A, E>, owner: Owner, signal?: AbortSignal): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      if (isClosing(owner)) return reject(new AbortError(`The ${owner.label} is closed`))
      if (signal?.aborted === true) return reject(new AbortError("The operation was aborted by its signal", { cause: signal.reason }))
      const fiber = this.runtime.runFork(effect, { scope: owner.scope })
      const onAbort = () => fiber.unsafeInterruptAsFork(FiberId.none)
      signal?.addEventListener("abort", onAbort, { once: true })
      fiber.addObserver((exit) => {
        signal?.removeEventListener("abort", onAbort)
        if (Exit.isSuccess(exit)) resolve(exit.value)
        else reject(errorOf(exit.cause, signal))
      })
    })
  }

  /** A new scope inside `parent` (closed with it; already closed if `parent` is). */
  fork(parent: Scope.Scope): Scope.CloseableScope {
    return Effect.runSync(Scope.fork(parent, ExecutionStrategy.sequential))
  }

  /** Closes a scope; never rejects. */
  close(scope: Scope.CloseableScope): Promise<void> {
    return Effect.runPromise(Effect.ignore(Scope.close(scope, Exit.void)))
  }
}

// ---------------------------------------------------------------------------------------------
// Approvals
// ---------------------------------------------------------------------------------------------

const lift = <M extends Registry.ServerRequestMethod>(handler: PromiseHandler<M>): Approvals.HandlerOf<M> => (params) =>
  Effect.tryPromise({ try: async (signal) => handler(params, { signal }), catch: (error) => error })

const toHandlers = (h: PromiseHandlers): Approvals.Handlers =>
  Object.fromEntries(
    Object.entries(h).flatMap(([kind, handler]) =>
      handler === undefined ? [] : [[kind, lift(handler as PromiseHandler<Registry.ServerRequestMethod>)]]
    )
  ) as Approvals.Handlers

const toApprovalOptions = (approvals: PromiseApprovals): Approvals.Options => {
  const { timeoutMs, ...handlers } = approvals
  const lifted = toHandlers(handlers)
  return timeoutMs === undefined ? lifted : { ...lifted, timeout: Duration.millis(timeoutMs) }
}

// ---------------------------------------------------------------------------------------------
// Tools (on top of Tool.make / Tool.namespace, served by Codex)
// ---------------------------------------------------------------------------------------------

/** The Schema a JSON-Schema tool's arguments are decoded with: any object, its values as they are. */
const jsonArguments = Schema.Record({ key: Schema.String, value: Schema.Unknown })

const isContent = (u: unknown): u is Tool.Content => Predicate.hasProperty(u, Tool.TypeId) && u[Tool.TypeId] === "Content"

/**
 * A facade tool as a `Tool`: its handler runs the async function with an `AbortSignal` that
 * `Effect.tryPromise` aborts when the call's fiber is interrupted (its turn ended, its timeout,
 * the thread's scope closed); a rejection is the call's failure, its message for the model.
 */
const toTool = (definition: AnyPromiseTool): Tool.Tool => {
  const { description, name, parameters } = definition
  const handler = (args: unknown, context: Tool.CallContext): Effect.Effect<Tool.Output, unknown> =>
    Effect.tryPromise({
      try: async (signal) => definition.handler(args, { ...context, signal }),
      catch: (error) => error
    }).pipe(Effect.flatMap((output) =>
      typeof output === "string" || isContent(output)
        ? Effect.succeed(output)
        : Tool.fail(`${name} answered neither a string nor tool content (got ${output === null ? "null" : typeof output})`)
    ))
  const timeout = definition.timeout === undefined ? {} : { timeout: definition.timeout }
  if (Schema.isSchema(parameters)) return Tool.make(name, { description, parameters, handler, ...timeout })
  if (!Predicate.isRecord(parameters) || parameters.type !== "object") {
    throw new TypeError(`Tool ${name}: parameters must be an Effect Schema or a JSON Schema with "type": "object"; got ${JSON.stringify(parameters)}`)
  }
  return { ...Tool.make(name, { description, parameters: jsonArguments, handler, ...timeout }), inputSchema: parameters }
}

const isNamespaceDefinition = (definition: ToolDefinition): definition is PromiseToolNamespace =>
  "namespace" in definition && "tools" in definition

const toDefinition = (definition: ToolDefinition): Tool.Definition =>
  isNamespaceDefinition(definition)
    ? Tool.namespace(definition.namespace, definition.description, definition.tools.map(toTool))
    : toTool(definition)

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

const toPlain = <R extends Turn.RunResult>(result: R): RunResult & Omit<R, keyof Turn.RunResult> => ({
  ...result,
  finalResponse: Option.getOrUndefined(result.finalResponse),
  toolCalls: result.toolCalls.map(({ duration, ...call }) => ({ ...call, durationMs: Option.getOrUndefined(Option.map(duration, Duration.toMillis)) })),
  usage: Option.getOrUndefined(result.usage)
})

const toPlainGoal = (result: Goal.GoalResult): GoalResult => ({
  ...result,
  turns: result.turns.map(toPlain),
  finalResponse: Option.getOrUndefined(result.finalResponse)
})

// ---------------------------------------------------------------------------------------------
// Turns
// ---------------------------------------------------------------------------------------------

/** A turn handle, whatever its result type (only its stream, steer and interrupt are used). */
type AnyHandle = Turn.TurnHandle<Turn.RunResult, unknown>

type End = { readonly _tag: "Done" } | { readonly _tag: "Failed"; readonly error: unknown }

class TurnImpl implements PromiseTurn<RunResult> {
  readonly started: Promise<string>
  #id: string | undefined = undefined
  readonly #core: Core
  readonly #thread: ThreadImpl
  readonly #scope: Scope.CloseableScope
  readonly #handle: Promise<AnyHandle>
  readonly #schema: Schema.Schema<unknown, unknown> | undefined
  readonly #signal: AbortSignal | undefined
  #fold: Turn.Collector | undefined = undefined

  /** Who consumes the events: nobody yet, an iterator (events are queued for it), or `result()` alone. */
  #consumer: "none" | "iterator" | "result" = "none"
  /** Set once `result()` is wanted: the pump no longer waits for the iterator. */
  #draining = false
  readonly #queue: Array<Notification> = []
  #head = 0
  #pump: Promise<void> | undefined = undefined
  #resumePump: (() => void) | undefined = undefined
  #listeners: Array<() => void> = []

  #end: End | undefined = undefined
  #settled = false
  readonly #finished: Promise<void>
  #markFinished: () => void = noop
  #scopeClosed: Promise<void> | undefined = undefined
  #closing: Promise<void> | undefined = undefined
  #result: Promise<RunResult> | undefined = undefined
  readonly #onAbort = () => void this.close()

  constructor(args: {
    readonly core: Core
    readonly thread: ThreadImpl
    readonly start: (scope: Scope.Scope) => Effect.Effect<AnyHandle, Thread.TurnStartError>
    readonly schema: Schema.Schema<unknown, unknown> | undefined
    readonly signal: AbortSignal | undefined
  }) {
    this.#core = args.core
    this.#thread = args.thread
    this.#schema = args.schema
    this.#signal = args.signal
    this.#finished = new Promise<void>((resolve) => (this.#markFinished = resolve))
    this.#scope = args.core.fork(args.thread.owner.scope)
    // The start is bound to the client, not to the turn or the thread: `close()` waits for it
    // rather than cutting a `turn/start` short (the server could start a turn nobody then owns).
    this.#handle = args.core.run(args.start(this.#scope), args.core.root)
    this.started = this.#handle.then((handle) => {
      this.#id = handle.id
      return handle.id
    })
    this.#handle.then(noop, (error: unknown) => this.#settle({ _tag: "Failed", error }))
    this.started.catch(noop)
    if (args.signal !== undefined) {
      if (args.signal.aborted) void this.close()
      else args.signal.addEventListener("abort", this.#onAbort, { once: true })
    }
  }

  get threadId(): string {
    return this.#thread.id
  }

  get id(): string | undefined {
    return this.#id
  }

  #notify(): void {
    const listeners = this.#listeners
    this.#listeners = []
    for (const listener of listeners) listener()
  }

  #changed(): Promise<void> {
    return new Promise<void>((resolve) => this.#listeners.push(resolve))
  }

  #closeScope(): Promise<void> {
    return (this.#scopeClosed ??= this.#core.close(this.#scope))
  }

  /** Records how the turn ended (first call wins), releases its scope, then wakes every waiter. */
  #settle(end: End): void {
    if (this.#end !== undefined) return
    this.#end = end
    this.#signal?.removeEventListener("abort", this.#onAbort)
    void this.#closeScope().then(() => {
      this.#settled = true
      this.#thread.turns.delete(this)
      this.#notify()
      this.#markFinished()
    })
  }

  /** Consumes the turn's stream on a fiber bound to the turn's scope, chunk by chunk. */
  #startPump(): Promise<void> {
    return (this.#pump ??= this.#handle.then((handle) => {
      if (this.#end !== undefined) return
      const fold = (this.#fold = handle.collector())
      const consume = Stream.runForEachChunk(handle.stream, (chunk) =>
        Effect.async<void>((resume) => {
          for (const n of chunk) {
            fold.add(n)
            if (this.#consumer === "iterator") this.#queue.push(n)
          }
          this.#notify()
          if (this.#consumer !== "iterator" || this.#draining || this.#head >= this.#queue.length) {
            resume(Effect.void)
            return
          }
          // Back-pressure: wait until the iterator took everything queued.
          this.#resumePump = () => {
            this.#resumePump = undefined
            resume(Effect.void)
          }
          return Effect.sync(() => {
            this.#resumePump = undefined
          })
        }))
      const fiber: Fiber.RuntimeFiber<void, unknown> = this.#core.runtime.runFork(consume, { scope: this.#scope })
      fiber.addObserver((exit) => {
        if (Exit.isSuccess(exit) || fold.turn !== undefined) this.#settle({ _tag: "Done" })
        else this.#settle({ _tag: "Failed", error: errorOf(exit.cause) })
      })
    }))
  }

  async #next(): Promise<IteratorResult<Notification, undefined>> {
    await this.#startPump()
    for (;;) {
      if (this.#head < this.#queue.length) {
        const value = this.#queue[this.#head++] as Notification
        if (this.#head === this.#queue.length) {
          this.#queue.length = 0
          this.#head = 0
          this.#resumePump?.()
        }
        return { done: false, value }
      }
      if (this.#settled) {
        const end = this.#end
        if (end?._tag === "Failed") throw end.error
        return { done: true, value: undefined }
      }
      await this.#changed()
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Notification, undefined> {
    if (this.#consumer !== "none") {
      const error = new TurnConsumedError({ turnId: this.#id ?? "(not started)" })
      return { next: () => Promise.reject(error) }
    }
    this.#consumer = "iterator"
    let finished = false
    return {
      next: async () => {
        if (finished) return { done: true, value: undefined }
        try {
          const result = await this.#next()
          if (result.done === true) finished = true
          return result
        } catch (error) {
          finished = true
          throw error
        }
      },
      return: async () => {
        // Leaving the loop early: interrupt the turn on the server and wait for it to end.
        if (!finished) {
          finished = true
          await this.close()
        }
        return { done: true, value: undefined }
      }
    }
  }

  result(): Promise<RunResult> {
    return (this.#result ??= (async () => {
      if (this.#consumer === "none") this.#consumer = "result"
      this.#draining = true
      this.#resumePump?.()
      await this.#startPump()
      await this.#finished
      const end = this.#end
      if (end?._tag === "Failed") throw end.error
      const handle = await this.#handle
      const collected = (this.#fold ?? handle.collector()).result
      const schema = this.#schema
      const result = schema === undefined
        ? collected
        : Effect.flatMap(collected, (r): Effect.Effect<Turn.RunResult, unknown> => Turn.decodeOutput(schema)(r))
      return this.#core.run(Effect.map(result, toPlain), this.#core.root)
    })())
  }

  async steer(input: Input.Input): Promise<void> {
    const handle = await this.#handle
    return this.#core.run(handle.steer(input), this.#thread.owner)
  }

  async interrupt(): Promise<void> {
    const handle = await this.#handle
    if (this.#end !== undefined) return
    return this.#core.run(handle.interrupt, this.#thread.owner)
  }

  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      await this.#handle.then(noop, noop)
      // Interrupts the pump if it runs (its finalizer sends `turn/interrupt` and waits for the
      // server's `turn/completed`), else runs the turn's own finalizer, which does the same.
      await this.#closeScope()
      this.#settle({ _tag: "Failed", error: new AbortError("The turn was closed") })
      await this.#finished
    })())
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Goals
// ---------------------------------------------------------------------------------------------

class GoalImpl implements PromiseGoal {
  readonly started: Promise<void>
  readonly #core: Core
  readonly #thread: ThreadImpl
  readonly #scope: Scope.CloseableScope
  readonly #handle: Promise<Goal.GoalHandle>
  readonly #signal: AbortSignal | undefined
  #closing: Promise<void> | undefined = undefined
  readonly #onAbort = () => void this.close()

  constructor(args: {
    readonly core: Core
    readonly thread: ThreadImpl
    readonly start: (scope: Scope.Scope) => Effect.Effect<Goal.GoalHandle, Goal.StartError>
    readonly signal: AbortSignal | undefined
  }) {
    this.#core = args.core
    this.#thread = args.thread
    this.#signal = args.signal
    this.#scope = args.core.fork(args.thread.owner.scope)
    // Bound to the client, as a turn's start: `close()` waits for the goal to be set, then pauses it.
    this.#handle = args.core.run(args.start(this.#scope), args.core.root)
    this.started = this.#handle.then(noop)
    this.started.catch(noop)
    if (args.signal !== undefined) {
      if (args.signal.aborted) void this.close()
      else args.signal.addEventListener("abort", this.#onAbort, { once: true })
    }
  }

  get threadId(): string {
    return this.#thread.id
  }

  /** An error of an operation cut short by `close()` is an `AbortError`. */
  #cutShort(error: unknown): unknown {
    if (this.#closing === undefined) return error
    return this.#signal?.aborted === true
      ? new AbortError("The goal was aborted by its signal", { cause: this.#signal.reason })
      : new AbortError("The goal was closed", { cause: error })
  }

  async #call<A>(f: (handle: Goal.GoalHandle) => Effect.Effect<A, unknown>): Promise<A> {
    const handle = await this.#handle
    return this.#core.run(f(handle), this.#thread.owner).catch((error: unknown) => {
      throw this.#cutShort(error)
    })
  }

  [Symbol.asyncIterator](): AsyncIterator<Notification, undefined> {
    let scope: Scope.CloseableScope | undefined
    let pull: Promise<Effect.Effect<Chunk.Chunk<Notification>, Option.Option<unknown>>> | undefined
    let buffer: Array<Notification> = []
    let finished = false
    /** Ends the iteration; closing its scope runs the stream's finalizer (which pauses an unfinished goal). */
    const finish = async () => {
      finished = true
      if (scope !== undefined) await this.#core.close(scope)
    }
    const open = async () => {
      const handle = await this.#handle
      scope = this.#core.fork(this.#scope)
      return this.#core.run(Scope.extend(Stream.toPull(handle.stream), scope), this.#thread.owner)
    }
    return {
      next: async () => {
        try {
          while (!finished) {
            const value = buffer.shift()
            if (value !== undefined) return { done: false, value }
            const take = await (pull ??= open())
            const chunk = await this.#core.run(
              Effect.catchAll(take, (end) => (Option.isNone(end) ? Effect.succeed(undefined) : Effect.fail(end.value))),
              this.#thread.owner
            )
            if (chunk === undefined) {
              await finish()
              // cut short by `close()` or the signal: the goal did not stop by itself; the loop
              // ends once the close did (the goal paused, its turn interrupted)
              if (this.#closing !== undefined) {
                await this.#closing
                throw this.#cutShort(undefined)
              }
            } else buffer = Chunk.toArray(chunk)
          }
          return { done: true, value: undefined }
        } catch (error) {
          await finish()
          if (this.#closing !== undefined) await this.#closing
          throw this.#cutShort(error)
        }
      },
      return: async () => {
        // Leaving the loop early: pause the goal, interrupt its turn, wait for the server to confirm.
        if (!finished) await finish()
        return { done: true, value: undefined }
      }
    }
  }

  result(): Promise<GoalResult> {
    return this.#call((handle) => Effect.map(handle.run, toPlainGoal))
  }

  pause(): Promise<Protocol.ThreadGoal> {
    return this.#call((handle) => handle.pause)
  }

  resume(): Promise<Protocol.ThreadGoal> {
    return this.#call((handle) => handle.resume)
  }

  clear(): Promise<void> {
    return this.#call((handle) => handle.clear)
  }

  status(): Promise<Protocol.ThreadGoal | undefined> {
    return this.#call((handle) => Effect.map(handle.status, Option.getOrUndefined))
  }

  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      this.#signal?.removeEventListener("abort", this.#onAbort)
      await this.#handle.then(noop, noop)
      await this.#core.close(this.#scope)
      this.#thread.goals.delete(this)
    })())
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------------------

type AnyRunOptions = RunOptions & { readonly outputSchema?: Schema.Schema.AnyNoContext }

class ThreadImpl implements PromiseThread {
  readonly id: string
  readonly info: Protocol.Thread
  readonly owner: Owner
  readonly turns = new Set<TurnImpl>()
  readonly goals = new Set<GoalImpl>()
  readonly #core: Core
  readonly #thread: Thread.Thread
  #closing: Promise<void> | undefined = undefined

  constructor(core: Core, thread: Thread.Thread, owner: Owner) {
    this.#core = core
    this.#thread = thread
    this.owner = owner
    this.id = thread.id
    this.info = thread.info
  }

  run<A, I>(input: Input.Input, options: StructuredRunOptions<A, I>): Promise<StructuredRunResult<A>>
  run(input: Input.Input, options?: RunOptions): Promise<RunResult>
  run(input: Input.Input, options: AnyRunOptions = {}): Promise<RunResult> {
    const { outputSchema, signal, ...turnOptions } = options
    const effect: Effect.Effect<Turn.RunResult, unknown> = outputSchema === undefined
      ? this.#thread.run(input, turnOptions)
      : this.#thread.run(input, { ...turnOptions, outputSchema })
    return this.#core.run(Effect.map(effect, toPlain), this.owner, signal)
  }

  external(toolName: string, content: ToolOutput, options: ExternalRunOptions = {}): Promise<RunResult> {
    const { signal, ...externalOptions } = options
    return this.#core.run(Effect.map(this.#thread.external(toolName, content, externalOptions), toPlain), this.owner, signal)
  }

  runStreamed<A, I>(input: Input.Input, options: StructuredRunOptions<A, I>): PromiseTurn<StructuredRunResult<A>>
  runStreamed(input: Input.Input, options?: RunOptions): PromiseTurn
  runStreamed(input: Input.Input, options: AnyRunOptions = {}): PromiseTurn {
    const { outputSchema, signal, ...turnOptions } = options
    const start = (scope: Scope.Scope): Effect.Effect<AnyHandle, Thread.TurnStartError> =>
      Effect.suspend(() => {
        if (isClosing(this.owner)) return Effect.interrupt
        const turn: Effect.Effect<AnyHandle, Thread.TurnStartError, Scope.Scope> = outputSchema === undefined
          ? this.#thread.turn(input, turnOptions)
          : this.#thread.turn(input, { ...turnOptions, outputSchema })
        return Scope.extend(turn, scope)
      })
    const turn = new TurnImpl({
      core: this.#core,
      thread: this,
      start,
      schema: outputSchema as Schema.Schema<unknown, unknown> | undefined,
      signal
    })
    this.turns.add(turn)
    return turn
  }

  setName(name: string): Promise<void> {
    return this.#core.run(this.#thread.setName(name), this.owner)
  }

  compact(options?: { readonly signal?: AbortSignal }): Promise<void> {
    return this.#core.run(this.#thread.compact, this.owner, options?.signal)
  }

  read(options?: { readonly includeTurns?: boolean }): Promise<Protocol.Thread> {
    return this.#core.run(this.#thread.read(options), this.owner)
  }

  runGoal(objective: string, options: GoalOptions = {}): Promise<GoalResult> {
    const { signal, ...goalOptions } = options
    return this.#core.run(Effect.map(this.#thread.runGoal(objective, goalOptions), toPlainGoal), this.owner, signal)
  }

  goalStreamed(objective: string, options: GoalOptions = {}): PromiseGoal {
    const { signal, ...goalOptions } = options
    const start = (scope: Scope.Scope): Effect.Effect<Goal.GoalHandle, Goal.StartError> =>
      Effect.suspend(() => (isClosing(this.owner) ? Effect.interrupt : Scope.extend(this.#thread.goal(objective, goalOptions), scope)))
    const goal = new GoalImpl({ core: this.#core, thread: this, start, signal })
    this.goals.add(goal)
    return goal
  }

  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      this.owner.closing = true
      await Promise.all([...Array.from(this.turns, (turn) => turn.close()), ...Array.from(this.goals, (goal) => goal.close())])
      await this.#core.close(this.owner.scope)
      this.#core.threads.delete(this)
    })())
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

class ClientImpl implements CodexClient {
  readonly serverInfo: Protocol.InitializeResponse
  readonly serverVersion: string | undefined
  readonly pid: number
  readonly pool?: PromisePool
  readonly #core: Core
  #closing: Promise<void> | undefined = undefined

  constructor(core: Core, pid: number, pool?: PromisePool) {
    this.#core = core
    this.serverInfo = core.codex.connection.server
    this.serverVersion = core.codex.connection.serverVersion
    this.pid = pid
    if (pool !== undefined) this.pool = pool
  }

  #call<A, E>(effect: Effect.Effect<A, E>): Promise<A> {
    return this.#core.run(effect, this.#core.root)
  }

  /** Opens a thread: its scope is made first, the thread's server-side call runs in it. */
  async #thread(open: Effect.Effect<Thread.Thread, RpcConnection.RequestError, Scope.Scope>): Promise<PromiseThread> {
    const core = this.#core
    const owner: Owner = { label: "thread", scope: core.fork(core.root.scope), parent: core.root, closing: false }
    try {
      const thread = await core.run(Scope.extend(open, owner.scope), core.root)
      const impl = new ThreadImpl(core, thread, owner)
      core.threads.add(impl)
      return impl
    } catch (error) {
      await core.close(owner.scope)
      throw error
    }
  }

  // async: a tool declared wrongly (a `TypeError` of `toThreadOptions`) rejects rather than throws
  async threadStart(params?: Codex.ThreadStartParams, options?: ThreadOptions): Promise<PromiseThread> {
    return this.#thread(this.#core.codex.threadStart(params, toThreadOptions(options)))
  }

  async threadResume(
    threadId: string,
    params?: Codex.ThreadResumeParams,
    options?: ThreadOptions
  ): Promise<PromiseThread> {
    return this.#thread(this.#core.codex.threadResume(threadId, params, toThreadOptions(options)))
  }

  async threadFork(
    threadId: string,
    params?: Codex.ThreadForkParams,
    options?: ThreadOptions
  ): Promise<PromiseThread> {
    return this.#thread(this.#core.codex.threadFork(threadId, params, toThreadOptions(options)))
  }

  threadArchive(threadId: string): Promise<void> {
    return this.#call(this.#core.codex.threadArchive(threadId))
  }

  threadUnarchive(threadId: string): Promise<Protocol.Thread> {
    return this.#call(this.#core.codex.threadUnarchive(threadId))
  }

  threadList(params?: Registry.ClientRequestParams<"thread/list">): Promise<Registry.ClientRequestResult<"thread/list">> {
    return this.#call(this.#core.codex.threadList(params))
  }

  threadRead(threadId: string, options?: { readonly includeTurns?: boolean }): Promise<Protocol.Thread> {
    return this.#call(this.#core.codex.threadRead(threadId, options))
  }

  models(options?: { readonly includeHidden?: boolean }): Promise<ReadonlyArray<Protocol.Model>> {
    return this.#call(this.#core.codex.models(options))
  }

  account(options?: Codex.AccountOptions): Promise<Registry.ClientRequestResult<"account/read">> {
    return this.#call(this.#core.codex.account(options))
  }

  readonly login: PromiseLogin = {
    apiKey: (apiKey) => this.#call(this.#core.codex.login.apiKey(typeof apiKey === "string" ? Redacted.make(apiKey) : apiKey)),
    chatgpt: (options) =>
      this.#attempt((login) => login.chatgpt(toAttemptOptions(options)), (handle) => ({ authUrl: handle.authUrl })),
    deviceCode: (options) =>
      this.#attempt((login) => login.deviceCode(toAttemptOptions(options)), (handle) => ({
        verificationUrl: handle.verificationUrl,
        userCode: handle.userCode
      }))
  }

  /**
   * Starts a login attempt in a scope of its own, inside the client's: the scope closes once the
   * attempt has an outcome (or with the client, which cancels an unfinished attempt).
   */
  async #attempt<H extends Login.Attempt, X>(
    start: (login: Login.Login) => Effect.Effect<H, Login.StartError, Scope.Scope>,
    extra: (handle: H) => X
  ): Promise<PromiseLoginAttempt & X> {
    const core = this.#core
    const scope = core.fork(core.root.scope)
    try {
      const handle = await core.run(Scope.extend(start(core.codex.login), scope), core.root)
      const outcome = Effect.runPromiseExit(handle.wait)
      void outcome.then(() => core.close(scope))
      return {
        loginId: handle.loginId,
        wait: () => outcome.then((exit) => (Exit.isSuccess(exit) ? exit.value : Promise.reject(errorOf(exit.cause)))),
        cancel: () => core.run(handle.cancel, core.root),
        ...extra(handle)
      }
    } catch (error) {
      await core.close(scope)
      throw error
    }
  }

  logout(): Promise<void> {
    return this.#call(this.#core.codex.logout)
  }

  rateLimits(): Promise<Registry.ClientRequestResult<"account/rateLimits/read">> {
    return this.#call(this.#core.codex.rateLimits)
  }

  request<M extends Registry.ClientRequestMethod>(
    method: M,
    ...args: RpcConnection.RequestArgs<M>
  ): Promise<Registry.ClientRequestResult<M>> {
    return this.#call(this.#core.codex.request(method, ...args))
  }

  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      const core = this.#core
      core.root.closing = true
      try {
        await Promise.all(Array.from(core.threads, (thread) => thread.close()))
        await core.close(core.root.scope)
      } finally {
        await core.runtime.dispose()
      }
    })())
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

const toAttemptOptions = (options: PromiseLoginOptions | undefined): Login.AttemptOptions =>
  options?.timeoutMs === undefined ? {} : { timeout: Duration.millis(options.timeoutMs) }

/** The Effect API's thread options; throws `TypeError` for a tool declared wrongly. */
const toThreadOptions = (options: ThreadOptions | undefined): Codex.ToolOptions<ReadonlyArray<Tool.Definition>> | undefined => {
  if (options === undefined) return undefined
  const { approvals, tools } = options
  return {
    ...(approvals === undefined ? {} : { approvals: toHandlers(approvals) }),
    ...(tools === undefined ? {} : { tools: tools.map(toDefinition) })
  }
}

const toCodexConfig = (options: ClientOptions): CodexConfig => {
  const { apiKey, approvals: _approvals, logLevel: _logLevel, ...config } = options
  return apiKey === undefined ? config : { ...config, apiKey: typeof apiKey === "string" ? Redacted.make(apiKey) : apiKey }
}

/**
 * Starts `codex app-server` and connects to it.
 *
 * @since 0.1.0
 * @category constructors
 */
const start = (options: ClientOptions = {}): Promise<CodexClient> =>
  startWith(options, (config) => Codex.layer(config), (context, core) =>
    new ClientImpl(core, Context.get(context, StdioTransport.StdioTransport).pid))

/**
 * Options of {@link CodexClient.startPool}: the pool's size and limits (see `CodexPool.Options`;
 * `idleTimeoutMs` in milliseconds) and the client options shared by every process.
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolOptions extends ClientOptions {
  /** The most processes that run at once (an integer ≥ 1). */
  readonly size: number
  /** The most open threads per process; default no limit. */
  readonly maxThreadsPerProcess?: number
  /** The most turns in flight over the pool; more wait. Default no limit. */
  readonly maxConcurrentTurns?: number
  /** Close a process idle for this long (while another one runs); default never. */
  readonly idleTimeoutMs?: number
  /** A new thread on a full pool: reject with `ServerBusyError` (`"fail"`, the default) or wait for a slot. */
  readonly whenFull?: "fail" | "wait"
}

/**
 * The pool of a client of {@link CodexClient.startPool}: its stats, and its events as an async
 * iterable (from the moment it is iterated; leave the `for await` to stop).
 *
 * @since 0.1.0
 * @category models
 */
export interface PromisePool {
  /** The processes (pid, threads, turns in flight), exits and restarts. */
  readonly stats: () => Promise<CodexPool.Stats>
  /** The pool's events from the moment the iteration starts. */
  readonly events: () => AsyncIterable<CodexPool.PoolEvent>
}

const startPool = (options: PoolOptions): Promise<CodexClient> => {
  const { size, maxThreadsPerProcess, maxConcurrentTurns, idleTimeoutMs, whenFull, ...clientOptions } = options
  return startWith(clientOptions, (config) =>
    CodexPool.layer({
      size,
      config,
      ...(maxThreadsPerProcess === undefined ? {} : { maxThreadsPerProcess }),
      ...(maxConcurrentTurns === undefined ? {} : { maxConcurrentTurns }),
      ...(idleTimeoutMs === undefined ? {} : { idleTimeout: Duration.millis(idleTimeoutMs) }),
      ...(whenFull === undefined ? {} : { whenFull })
    }), (context, core) => {
    const pool = Context.get(context, CodexPool.CodexPool)
    const stats = Effect.runSync(pool.stats)
    return new ClientImpl(core, stats.processes[0]?.pid ?? -1, {
      stats: () => core.runtime.runPromise(pool.stats),
      events: () => Stream.toAsyncIterable(pool.events)
    })
  })
}

/**
 * Where {@link CodexClient.connect} attaches: exactly one of `websocket` (`codex app-server
 * --listen ws://…`, with its `token` or `signedBearer`), `unixSocket` (`--listen unix://PATH`)
 * and `daemonSocket` (the daemon's control socket, through `codex app-server proxy --sock`).
 *
 * @since 0.1.0
 * @category models
 */
export type Endpoint =
  | {
    /** `ws://HOST:PORT` of the server. */
    readonly websocket: string
    /** The capability token of `--ws-auth capability-token` (or a ready signed token); never logged. */
    readonly token?: string | Redacted.Redacted<string>
    /** For `--ws-auth signed-bearer-token`: the shared secret (and `issuer` / `audience` when the server checks them). */
    readonly signedBearer?: {
      readonly secret: string | Redacted.Redacted<string>
      readonly issuer?: string
      readonly audience?: string
      /** Lifetime of each minted token; default 60 000 ms. */
      readonly ttlMs?: number
    }
    readonly unixSocket?: undefined
    readonly daemonSocket?: undefined
  }
  | { readonly unixSocket: string; readonly websocket?: undefined; readonly daemonSocket?: undefined }
  | { readonly daemonSocket: string; readonly websocket?: undefined; readonly unixSocket?: undefined }

/**
 * Options of {@link CodexClient.connect}: the {@link Endpoint}, the bound of the connection and
 * handshake, and the client options (the connection's settings: `clientInfo`, `experimentalApi`,
 * timeouts, approvals; process settings such as `codexHome` belong to whoever started the server,
 * except `codexBin` / `codexHome` / `env`, used to run the proxy for `daemonSocket`).
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectOptions = ClientOptions & Endpoint & {
  /** Bound of the connection and the opening handshake; default 10 000 ms. */
  readonly handshakeTimeoutMs?: number
  /** Sends a WebSocket ping this often and counts a missing pong as a lost connection; default off (5 000 ms for `daemonSocket`). */
  readonly heartbeatIntervalMs?: number
}

const redact = (value: string | Redacted.Redacted<string>): Redacted.Redacted<string> =>
  typeof value === "string" ? Redacted.make(value) : value

const connect = (options: ConnectOptions): Promise<CodexClient> => {
  const { websocket, unixSocket, daemonSocket, handshakeTimeoutMs, heartbeatIntervalMs, ...rest } = options
  const endpoints = [websocket, unixSocket, daemonSocket].filter((e) => e !== undefined).length
  if (endpoints !== 1) {
    return Promise.reject(new TypeError("CodexClient.connect: give exactly one of websocket, unixSocket and daemonSocket"))
  }
  const { token, signedBearer, ...clientOptions } = rest as ClientOptions & Pick<Extract<Endpoint, { readonly websocket: string }>, "token" | "signedBearer">
  const socket: { readonly handshakeTimeout?: Duration.Duration; readonly heartbeatInterval?: Duration.Duration } = {
    ...(handshakeTimeoutMs === undefined ? {} : { handshakeTimeout: Duration.millis(handshakeTimeoutMs) }),
    ...(heartbeatIntervalMs === undefined ? {} : { heartbeatInterval: Duration.millis(heartbeatIntervalMs) })
  }
  return startWith(clientOptions, (config): Layer.Layer<Codex.Codex, Codex.AttachError> => {
    if (websocket !== undefined) {
      const auth = signedBearer !== undefined
        ? {
          signedBearer: {
            secret: redact(signedBearer.secret),
            issuer: signedBearer.issuer,
            audience: signedBearer.audience,
            ...(signedBearer.ttlMs === undefined ? {} : { ttl: Duration.millis(signedBearer.ttlMs) })
          }
        }
        : { token: token === undefined ? undefined : redact(token) }
      return Codex.layerWebSocket({ ...config, ...socket, url: websocket, ...auth })
    }
    if (unixSocket !== undefined) return Codex.layerUnixSocket({ ...config, ...socket, path: unixSocket })
    return Codex.layerProxy({ ...config, ...socket, socket: daemonSocket! }) // one endpoint is set (checked above)
  }, (_context, core) => new ClientImpl(core, -1))
}

type Started = Codex.Codex | StdioTransport.StdioTransport | CodexPool.CodexPool

const startWith = async <Out,>(
  options: ClientOptions,
  makeLayer: (config: CodexConfig) => Layer.Layer<Out, Codex.AttachError | CodexPool.PoolConfigError>,
  client: (context: Context.Context<Started>, core: Core) => ClientImpl
): Promise<CodexClient> => {
  const config = toCodexConfig(options)
  const codexLayer = makeLayer(config).pipe(
    Layer.provide(Approvals.layer(toApprovalOptions(options.approvals ?? {})))
  )
  const layer: Layer.Layer<Out, Codex.AttachError | CodexPool.PoolConfigError> = options.logLevel === undefined
    ? codexLayer
    : Layer.provide(codexLayer, Logger.minimumLogLevel(LogLevel.fromLiteral(options.logLevel)))
  const runtime = ManagedRuntime.make(layer)
  const exit = await Effect.runPromiseExit(runtime.runtimeEffect)
  if (Exit.isFailure(exit)) {
    await runtime.dispose()
    throw errorOf(exit.cause)
  }
  // the context has what `Out` has: Codex, and the process or the pool
  const context = exit.value.context as unknown as Context.Context<Started>
  const root: Owner = { label: "client", scope: Effect.runSync(Scope.make()), parent: undefined, closing: false }
  const core = new Core(runtime as unknown as ManagedRuntime.ManagedRuntime<Services, unknown>, Context.get(context, Codex.Codex), root)
  return client(context, core)
}

/**
 * Starts a client: `await CodexClient.start(options)`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const CodexClient: {
  /** Starts `codex app-server` and connects to it; rejects with the reason it could not (binary not found, handshake, …). */
  readonly start: (options?: ClientOptions) => Promise<CodexClient>
  /**
   * Starts a pool of up to `size` `codex app-server` processes behind the same client (see
   * `CodexPool`): threads spread over the processes and stay on theirs; `client.pool` has the
   * stats and events. Rejects with `PoolConfigError` for a bad option, or as `start` does.
   */
  readonly startPool: (options: PoolOptions) => Promise<CodexClient>
  /**
   * Attaches to an app-server that is already running (`websocket`, `unixSocket` or
   * `daemonSocket`, see {@link Endpoint}); closing the client closes the connection, not the
   * server. `pid` is `-1` (the client has no process of its own). Rejects with
   * `ConnectionFailedError` naming the endpoint (refused, not found, unauthorized, timeout), with a
   * `TypeError` unless exactly one endpoint is given.
   */
  readonly connect: (options: ConnectOptions) => Promise<CodexClient>
} = { start, startPool, connect }
