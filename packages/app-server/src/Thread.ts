/**
 * A conversation with the agent: start turns (`turn`, streamed) or run them to the end (`run`),
 * rename, compact and read it.
 *
 * One active turn consumer per thread: the server would quietly turn a second `turn/start` on a
 * busy thread into a steer, so a second `turn` (or `run`, or `compact`) fails fast with
 * `TurnBusyError` until the first one completed or its scope closed. Turns of different threads
 * of one connection run concurrently.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Mailbox from "effect/Mailbox"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Protocol from "@effect-codex/protocol/generated/Schemas"
import * as Registry from "@effect-codex/protocol/Registry"
import type { Approvals, Handlers } from "./Approvals.js"
import { type StructuredOutputError, TurnBusyError } from "./CodexError.js"
import * as Input from "./Input.js"
import type { RequestError, RpcConnection } from "./RpcConnection.js"
import * as Tool from "./Tool.js"
import * as Turn from "./Turn.js"

/**
 * Per-turn settings, typed from `turn/start` (model, effort, summary, personality, cwd, approval
 * policy, sandbox policy, service tier, …), plus `outputSchema` as an Effect Schema.
 *
 * @since 0.1.0
 * @category models
 */
export type TurnOptions = Omit<Registry.ClientRequestParams<"turn/start">, "threadId" | "input" | "outputSchema">

/**
 * Turn options with a structured output: the final answer must be JSON matching `outputSchema`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StructuredTurnOptions<A, I> extends TurnOptions {
  readonly outputSchema: Schema.Schema<A, I>
}

/**
 * Options of {@link Thread.external}: the turn's settings, and the namespace of the tool the
 * message is presented as.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExternalOptions extends Omit<TurnOptions, "toolOutput"> {
  readonly namespace?: string
  /** Asks codex to keep the output in the thread's model history (`toolOutput.retain`). */
  readonly retain?: boolean
}

/**
 * The `output` of a `toolOutput`: a string as is, content items as the Responses API's
 * `input_text` / `input_image` / `input_audio`.
 *
 * @since 0.1.0
 * @category internal
 */
export const toolOutputBody = (content: Tool.Output): Protocol.FunctionCallOutputBody =>
  typeof content === "string"
    ? content
    : content.items.map((item): Protocol.FunctionCallOutputContentItem => {
      switch (item.type) {
        case "inputText":
          return { type: "input_text", text: item.text }
        case "inputImage":
          return { type: "input_image", imageUrl: item.imageUrl }
        case "inputAudio":
          return { type: "input_audio", audioUrl: item.audioUrl }
      }
    })

/**
 * The thread's effective settings as the server reported them when it was started, resumed or
 * forked: model, provider, cwd, approval policy, sandbox, reasoning effort, service tier.
 *
 * @since 0.1.0
 * @category models
 */
export type Settings = Pick<
  Protocol.ThreadStartResponse,
  "model" | "modelProvider" | "cwd" | "approvalPolicy" | "approvalsReviewer" | "sandbox" | "reasoningEffort" | "serviceTier"
>

/**
 * Why starting a turn failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type TurnStartError = TurnBusyError | RequestError

/**
 * @since 0.1.0
 * @category models
 */
export interface Thread {
  readonly id: string
  /** The thread as the server described it when it was started, resumed or forked. */
  readonly info: Protocol.Thread
  /** The effective settings (model, sandbox, approval policy, …) reported at the same time. */
  readonly settings: Settings
  /** Starts a turn and returns its handle; the turn belongs to the scope (closing it interrupts an unfinished turn). */
  readonly turn: {
    <A, I>(input: Input.Input, options: StructuredTurnOptions<A, I>): Effect.Effect<
      Turn.TurnHandle<Turn.StructuredRunResult<A>, StructuredOutputError>,
      TurnStartError,
      Scope.Scope
    >
    (input: Input.Input, options?: TurnOptions): Effect.Effect<Turn.TurnHandle, TurnStartError, Scope.Scope>
  }
  /** Runs a turn to its end and returns the result. */
  readonly run: {
    <A, I>(input: Input.Input, options: StructuredTurnOptions<A, I>): Effect.Effect<
      Turn.StructuredRunResult<A>,
      TurnStartError | Turn.RunError | StructuredOutputError
    >
    (input: Input.Input, options?: TurnOptions): Effect.Effect<Turn.RunResult, TurnStartError | Turn.RunError>
  }
  /**
   * An ExternalMessage: output presented to the model as coming from the tool `toolName`, sent as
   * `turn/start` with `toolOutput` and no input. Codex 0.171.0 starts a turn with it (an item
   * `functionCallOutput`, then the model's answer), checks neither name nor namespace against the
   * thread's tools, and gives it no authority beyond being input. Like `run`, it waits for the end
   * of the turn; a thread with a turn running fails with `TurnBusyError` (the server would merge
   * the message into that turn).
   */
  readonly external: (toolName: string, content: Tool.Output, options?: ExternalOptions) => Effect.Effect<Turn.RunResult, TurnStartError | Turn.RunError>
  /** Sets the thread's name (`thread/name/set`). */
  readonly setName: (name: string) => Effect.Effect<void, RequestError>
  /** Compacts the thread's history and waits for the compaction turn to complete. */
  readonly compact: Effect.Effect<void, TurnStartError | Turn.RunError>
  /** Reads the thread (`thread/read`), with its turns when asked. */
  readonly read: (options?: { readonly includeTurns?: boolean }) => Effect.Effect<Protocol.Thread, RequestError>
}

/**
 * The busy flag of one thread id, shared by every `Thread` value of that id on a connection.
 *
 * @since 0.1.0
 * @category internal
 */
export interface Slot {
  busy: boolean
}

/**
 * The unfinished turns of a connection, by the finalizer that interrupts each (`Turn.makeHandle`):
 * the `Codex` service interrupts them all at once when it closes.
 *
 * @since 0.1.0
 * @category internal
 */
export type Running = Set<Effect.Effect<void>>

/**
 * Internal: builds a `Thread` over a connection.
 *
 * @since 0.1.0
 * @category internal
 */
export const make = (args: {
  readonly connection: RpcConnection.Service
  readonly approvals: Approvals.Service
  readonly response: Settings & { readonly thread: Protocol.Thread }
  readonly slot: Slot
  readonly running: Running
  readonly handlers?: Handlers | undefined
}): Effect.Effect<Thread, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { connection, running, slot } = args
    const { thread: info, ...reported } = args.response
    const settings: Settings = {
      model: reported.model,
      modelProvider: reported.modelProvider,
      cwd: reported.cwd,
      approvalPolicy: reported.approvalPolicy,
      approvalsReviewer: reported.approvalsReviewer,
      sandbox: reported.sandbox,
      ...(reported.reasoningEffort === undefined ? {} : { reasoningEffort: reported.reasoningEffort }),
      ...(reported.serviceTier === undefined ? {} : { serviceTier: reported.serviceTier })
    }
    const threadId = info.id
    if (args.handlers !== undefined) yield* args.approvals.forThread(threadId, args.handlers)

    /** Takes the thread's slot; returns the function that gives it back (once), or `undefined` when busy. */
    const takeSlot = (): (() => void) | undefined => {
      if (slot.busy) return undefined
      slot.busy = true
      let held = true
      return () => {
        if (held) {
          held = false
          slot.busy = false
        }
      }
    }

    /** Takes the thread's slot for the scope; it is given back when the turn completes or the scope closes. */
    const acquire = Effect.suspend(() => {
      const release = takeSlot()
      if (release === undefined) return Effect.fail(new TurnBusyError({ threadId }))
      return Effect.as(Effect.addFinalizer(() => Effect.sync(release)), release)
    })

    /** The params of `turn/start`. */
    const startParams = (input: Input.Input, options: TurnOptions & { readonly outputSchema?: Schema.Schema.Any }) => {
      const { outputSchema, ...rest } = options
      return {
        ...rest,
        threadId,
        input: Input.toItems(input),
        ...(outputSchema === undefined ? {} : { outputSchema: Turn.wireOutputSchema(outputSchema as Schema.Schema<unknown, unknown>) })
      }
    }

    /** Builds the handle of a started turn, listed in `running` until it completes. */
    const handleOf = (
      turnId: string,
      events: Parameters<typeof Turn.makeHandle>[0]["events"],
      release: () => void
    ): ReturnType<typeof Turn.makeHandle> => {
      const made = Turn.makeHandle({
        connection,
        threadId,
        turnId,
        events,
        done: () => {
          running.delete(made.finalize)
          release()
        }
      })
      running.add(made.finalize)
      return made
    }

    /** A second subscription of the thread that only watches for the turn's completion (see `Turn.makeHandle`). */
    const watch = Effect.acquireRelease(
      Effect.sync(() => connection.unsafeSubscribeThread(threadId)),
      (subscription) => Effect.sync(subscription.unsafeClose)
    )

    const startTurn = (input: Input.Input, options: TurnOptions & { readonly outputSchema?: Schema.Schema.Any }) =>
      Effect.gen(function*() {
        const release = yield* acquire
        const events = yield* connection.subscribeThread(threadId)
        const watched = yield* watch
        // Once `turn/start` is sent the turn exists on the server: wait for its id even if
        // interrupted, so that the finalizer that interrupts an unfinished turn is in place.
        return yield* Effect.uninterruptible(
          Effect.gen(function*() {
            const response = yield* connection.request("turn/start", startParams(input, options))
            const { finalize, handle, watcher } = handleOf(response.turn.id, events, release)
            yield* watched.forward(watcher)
            yield* Effect.addFinalizer(() => finalize)
            return handle
          })
        )
      })

    const turn = (input: Input.Input, options: TurnOptions & { readonly outputSchema?: Schema.Schema.Any } = {}) =>
      Effect.map(startTurn(input, options), (handle) => {
        const schema = options.outputSchema as Schema.Schema<unknown, unknown> | undefined
        if (schema === undefined) return handle
        const decode = Turn.decodeOutput(schema)
        return {
          ...handle,
          run: Effect.flatMap(handle.run, decode),
          runWith: (onEvent: Parameters<typeof handle.runWith>[0]) => Effect.flatMap(handle.runWith(onEvent), decode)
        }
      })

    /**
     * `turn` + `run` without a scope: the same steps (slot, subscription, `turn/start`, collect,
     * interrupt if interrupted), with as few effects as possible on the way to the request and
     * back from the completion, which are on every turn's critical path.
     */
    const run = (input: Input.Input, options: TurnOptions & { readonly outputSchema?: Schema.Schema.Any } = {}) =>
      Effect.suspend((): Effect.Effect<Turn.RunResult, TurnStartError | Turn.RunError | StructuredOutputError> => {
        const release = takeSlot()
        if (release === undefined) return Effect.fail(new TurnBusyError({ threadId }))
        const events = connection.unsafeSubscribeThread(threadId)
        const schema = options.outputSchema as Schema.Schema<unknown, unknown> | undefined
        // as in `startTurn`: once sent, the request is waited for even if interrupted
        return Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(connection.request("turn/start", startParams(input, options)), (response) => {
            const { finalize, handle } = handleOf(response.turn.id, events, release)
            // registered here, while uninterruptible: an interruption that came during the request
            // (and takes effect at `restore`) still interrupts the turn on the server
            const result = Effect.ensuring(restore(handle.run), finalize)
            return schema === undefined ? result : Effect.flatMap(result, Turn.decodeOutput(schema))
          })
        ).pipe(Effect.ensuring(Effect.sync(() => {
          events.unsafeClose()
          release()
        })))
      })

    const compact = Effect.scoped(
      Effect.gen(function*() {
        yield* acquire
        const events = yield* connection.subscribeThread(threadId)
        yield* connection.request("thread/compact/start", { threadId })
        const completed = yield* Mailbox.toStream(events.mailbox).pipe(
          Stream.filter((n) => n.method === "turn/completed" && Registry.isKnownNotification(n) && n.params.threadId === threadId),
          Stream.runHead
        )
        return completed
      })
    ).pipe(Effect.asVoid)

    return {
      id: threadId,
      info,
      settings,
      turn: turn as Thread["turn"],
      run: run as Thread["run"],
      external: (toolName, content, options = {}) => {
        const { namespace, retain, ...turnOptions } = options
        return run([], {
          ...turnOptions,
          toolOutput: {
            name: toolName,
            output: toolOutputBody(content),
            ...(namespace === undefined ? {} : { namespace }),
            ...(retain === undefined ? {} : { retain })
          }
        }) as Effect.Effect<Turn.RunResult, TurnStartError | Turn.RunError>
      },
      setName: (name) => Effect.asVoid(connection.request("thread/name/set", { threadId, name })),
      compact: compact as Effect.Effect<void, TurnStartError | Turn.RunError>,
      read: (options) =>
        Effect.map(connection.request("thread/read", { threadId, includeTurns: options?.includeTurns ?? false }), (r) => r.thread)
    } satisfies Thread
  })
