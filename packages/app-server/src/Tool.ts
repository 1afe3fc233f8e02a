/**
 * Client-side tools: functions of the host program that the agent calls inside a turn.
 *
 * `Tool.make(name, { description, parameters, handler })` declares one: `parameters` is an Effect
 * Schema (its JSON Schema is what codex shows the model, its decoder checks what the model sent),
 * `handler` an Effect whose requirements flow into the type of `Codex.threadStart`. The thread's
 * `item/tool/call` requests are served by {@link serve}: every fault (arguments that do not
 * decode, a failure, a defect, a timeout, an unknown tool, an interruption) is answered
 * `success: false` with a message for the model, and the turn goes on.
 *
 * Codex (0.171.0) takes `dynamicTools` on `thread/start` only, behind the experimental API
 * (`experimentalApi: true` in the `CodexConfig`); a fork inherits its parent's tools and a resumed
 * thread the tools stored at its start, so serve the same ones again when resuming.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as JSONSchema from "effect/JSONSchema"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Protocol from "@effect-codex/protocol/generated/Schemas"
import { ToolFailure } from "./CodexError.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("@effect-codex/app-server/Tool")

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * Where a call comes from: the thread, the turn and codex's id of the call.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallContext {
  readonly threadId: string
  readonly turnId: string
  readonly callId: string
}

/**
 * What a tool answers, as codex's content items (text, images).
 *
 * @since 0.1.0
 * @category models
 */
export interface Content {
  readonly [TypeId]: "Content"
  readonly items: ReadonlyArray<Protocol.DynamicToolCallOutputContentItem>
}

/**
 * What a handler without a `success` Schema returns: a string (sent as one text item) or
 * {@link Content}.
 *
 * @since 0.1.0
 * @category models
 */
export type Output = string | Content

/**
 * A tool. `R` is what its handler needs from the context.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tool<out R = never> {
  readonly [TypeId]: "Tool"
  readonly name: string
  readonly description: string
  /** The JSON Schema of the arguments, as sent in `dynamicTools[].inputSchema`. */
  readonly inputSchema: Readonly<Record<string, unknown>>
  /** The tool's own deadline; `undefined` uses the connection's `toolTimeout`. */
  readonly timeout: Duration.Duration | undefined
  /**
   * Decodes the arguments and runs the handler. Fails with {@link ToolFailure} when the arguments
   * do not decode or the handler fails; a defect stays a defect.
   */
  readonly call: (args: unknown, context: CallContext) => Effect.Effect<Content, ToolFailure, R>
}

/**
 * Tools grouped under a namespace (codex's `{"type":"namespace"}` tools): the model calls them
 * with the namespace and the tool's name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Namespace<out R = never> {
  readonly [TypeId]: "Namespace"
  readonly name: string
  readonly description: string
  readonly tools: ReadonlyArray<Tool<R>>
}

/**
 * A tool or a namespace of tools, as `threadStart`'s `tools` take them.
 *
 * @since 0.1.0
 * @category models
 */
export type Definition<R = never> = Tool<R> | Namespace<R>

/**
 * What the tools of a list need from the context.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements<T> = T extends Tool<infer R> ? R : T extends Namespace<infer R> ? R : never

/**
 * Whether a value is a {@link Tool}.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTool = (u: unknown): u is Tool<unknown> => Predicate.hasProperty(u, TypeId) && u[TypeId] === "Tool"

/**
 * Whether a value is a {@link Namespace}.
 *
 * @since 0.1.0
 * @category guards
 */
export const isNamespace = (u: unknown): u is Namespace<unknown> => Predicate.hasProperty(u, TypeId) && u[TypeId] === "Namespace"

// ---- content ----------------------------------------------------------------------------------

/**
 * A text answer.
 *
 * @since 0.1.0
 * @category content
 */
export const text = (value: string): Content => ({ [TypeId]: "Content", items: [{ type: "inputText", text: value }] })

/**
 * An image answer, by URL (`https:` or a `data:` URL).
 *
 * @since 0.1.0
 * @category content
 */
export const image = (url: string): Content => ({ [TypeId]: "Content", items: [{ type: "inputImage", imageUrl: url }] })

/**
 * Mixed content: strings become text items, in order.
 *
 * @since 0.1.0
 * @category content
 */
export const content = (parts: ReadonlyArray<string | Content>): Content => ({
  [TypeId]: "Content",
  items: parts.flatMap((part) => (typeof part === "string" ? text(part).items : part.items))
})

/**
 * The content of a handler's output.
 *
 * @since 0.1.0
 * @category content
 */
export const toContent = (output: Output): Content => (typeof output === "string" ? text(output) : output)

/**
 * A deliberate refusal: the model is answered `success: false` with `message`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fail = (message: string): Effect.Effect<never, ToolFailure> => Effect.fail(new ToolFailure({ reason: message }))

/**
 * The message a handler's failure gives the model: a `message` property if it has one (errors;
 * the error's name when the message is empty), the string itself, else its JSON.
 *
 * @since 0.1.0
 * @category utils
 */
export const messageOf = (failure: unknown): string => {
  if (typeof failure === "string") return failure
  if (Predicate.hasProperty(failure, "message") && typeof failure.message === "string") {
    if (failure.message !== "") return failure.message
    // an error without a message (`new Error()`): its name says more than its JSON (`{}`)
    if (Predicate.hasProperty(failure, "name") && typeof failure.name === "string" && failure.name !== "") return `${failure.name} (no message)`
  }
  try {
    return JSON.stringify(failure) ?? String(failure)
  } catch {
    return String(failure)
  }
}

// ---- JSON Schema ------------------------------------------------------------------------------

/**
 * Replaces each `$ref` into `definitions` by the definition itself, except on a cycle (a recursive
 * Schema), where the reference stays and its definition is kept in `$defs`.
 */
const inlineReferences = (root: unknown, definitions: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const kept: Record<string, unknown> = {}
  const go = (node: unknown, path: ReadonlySet<string>): unknown => {
    if (Array.isArray(node)) return node.map((n) => go(n, path))
    if (!Predicate.isRecord(node)) return node
    const ref = node.$ref
    if (typeof ref === "string" && ref.startsWith("#/$defs/")) {
      const id = ref.slice("#/$defs/".length)
      if (path.has(id)) {
        if (!(id in kept)) {
          kept[id] = null // placeholder against re-entry
          kept[id] = go(definitions[id], new Set())
        }
        return node
      }
      const { $ref: _, ...rest } = node
      const inlined = go(definitions[id], new Set([...path, id]))
      return Object.keys(rest).length === 0 ? inlined : { ...(inlined as object), ...(go(rest, path) as object) }
    }
    const out: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(node)) out[key] = go(value, path)
    return out
  }
  const result = go(root, new Set()) as Record<string, unknown>
  return Object.keys(kept).length === 0 ? result : { ...result, $defs: kept }
}

/**
 * The `inputSchema` codex gets for a parameters Schema: its JSON Schema with the references
 * inlined and no `$schema`, a top-level `{"type": "object"}` (what the Responses API wants; codex
 * 0.171.0 passes other shapes through unchecked). Throws when the Schema is not an object (a
 * `Schema.Struct`, a `Schema.Class`, a record), which is a mistake in the program.
 *
 * @since 0.1.0
 * @category encoding
 */
export const inputSchemaOf = <A, I, R>(name: string, parameters: Schema.Schema<A, I, R>): Readonly<Record<string, unknown>> => {
  const definitions: Record<string, JSONSchema.JsonSchema7> = {}
  const json = JSONSchema.fromAST(parameters.ast, { definitions, topLevelReferenceStrategy: "skip" })
  const { $id: _id, $schema: _schema, ...schema } = inlineReferences(json, definitions)
  // `Schema.Struct({})` comes out as `{"anyOf": [{"type":"object"}, {"type":"array"}]}`
  if (Array.isArray(schema.anyOf) && schema.anyOf.length === 2 && JSON.stringify(schema.anyOf) === `[{"type":"object"},{"type":"array"}]`) {
    return { type: "object", properties: {} }
  }
  if (schema.type !== "object") {
    throw new TypeError(
      `Tool ${name}: parameters must be an object Schema (Schema.Struct, Schema.Class or Schema.Record); its JSON Schema is ${JSON.stringify(schema)}`
    )
  }
  return "properties" in schema || "additionalProperties" in schema || "patternProperties" in schema ? schema : { ...schema, properties: {} }
}

// ---- constructors -----------------------------------------------------------------------------

const namePattern = /^[a-zA-Z0-9_-]+$/

const checkName = (kind: string, name: string) => {
  if (!namePattern.test(name)) throw new TypeError(`${kind} name must match ${namePattern.source} (codex and the Responses API require it): ${JSON.stringify(name)}`)
}

/**
 * Options of a tool whose handler returns text or {@link Content}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<A, I, RP, E, R> {
  /** What the tool does, for the model. */
  readonly description: string
  /** The arguments, as a Schema of an object (decoded from the model's JSON). */
  readonly parameters: Schema.Schema<A, I, RP>
  /** The tool's deadline. Default: the connection's `toolTimeout` (5 minutes). */
  readonly timeout?: Duration.DurationInput
  readonly handler: (args: A, context: CallContext) => Effect.Effect<Output, E, R>
}

/**
 * Options of a tool whose handler returns a value of the `success` Schema, sent as its JSON text.
 *
 * @since 0.1.0
 * @category models
 */
export interface OptionsWithSuccess<A, I, RP, S, SI, RS, E, R> {
  readonly description: string
  readonly parameters: Schema.Schema<A, I, RP>
  /** The result, encoded with this Schema and sent to the model as JSON text. */
  readonly success: Schema.Schema<S, SI, RS>
  readonly timeout?: Duration.DurationInput
  readonly handler: (args: A, context: CallContext) => Effect.Effect<S, E, R>
}

/**
 * Declares a tool. The name must match `^[a-zA-Z0-9_-]+$`; `parameters` must describe an object.
 * Both are checked here (a `TypeError` for a mistake in the program) rather than by the server
 * at `thread/start`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Tool } from "@effect-codex/app-server"
 *
 * const lookupCustomer = Tool.make("lookup_customer", {
 *   description: "Finds a customer by id",
 *   parameters: Schema.Struct({ id: Schema.Number }),
 *   handler: ({ id }) => Effect.succeed(`customer ${id}: Ada Lovelace`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  <A, I, RP, S, SI, RS, E, R>(name: string, options: OptionsWithSuccess<A, I, RP, S, SI, RS, E, R>): Tool<R | RP | RS>
  <A, I, RP, E, R>(name: string, options: Options<A, I, RP, E, R>): Tool<R | RP>
} = <A, I, RP, E, R>(
  name: string,
  options: Options<A, I, RP, E, R> | OptionsWithSuccess<A, I, RP, unknown, unknown, never, E, R>
): Tool<R | RP> => {
  checkName("tool", name)
  const inputSchema = inputSchemaOf(name, options.parameters)
  const decode = Schema.decodeUnknown(options.parameters, { errors: "all", onExcessProperty: "ignore" })
  const success = "success" in options ? options.success : undefined
  const toOutput: (value: unknown) => Effect.Effect<Content, ToolFailure, never> = success === undefined
    ? (value) => Effect.succeed(toContent(value as Output))
    : (value) =>
      Schema.encode(success)(value).pipe(
        Effect.mapError((error) => new ToolFailure({ reason: `the tool's result does not match its success Schema: ${error.message}` })),
        // `Schema.Void` encodes to `undefined`, which has no JSON: it is sent as `null`
        Effect.map((encoded) => text(JSON.stringify(encoded) ?? "null"))
      )
  const handler = options.handler as (args: A, context: CallContext) => Effect.Effect<unknown, E, R>
  return {
    [TypeId]: "Tool",
    name,
    description: options.description,
    inputSchema,
    timeout: options.timeout === undefined ? undefined : Duration.decode(options.timeout),
    call: (args, context) =>
      decode(args).pipe(
        Effect.mapError((error) =>
          new ToolFailure({ reason: `invalid arguments for ${name}: ${ParseResult.TreeFormatter.formatErrorSync(error)}` })
        ),
        Effect.flatMap((decoded) =>
          Effect.mapError(handler(decoded, context), (failure) => failure instanceof ToolFailure ? failure : new ToolFailure({ reason: messageOf(failure) }))
        ),
        Effect.flatMap(toOutput)
      )
  }
}

/**
 * Groups tools under a namespace; the model sees them as `namespace` + `name`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const namespace = <const Tools extends ReadonlyArray<Tool<unknown>>>(
  name: string,
  description: string,
  tools: Tools
): Namespace<Requirements<Tools[number]>> => {
  checkName("namespace", name)
  if (tools.length === 0) throw new TypeError(`namespace ${name} must contain at least one tool (codex requires it)`)
  return { [TypeId]: "Namespace", name, description, tools: tools as ReadonlyArray<Tool<Requirements<Tools[number]>>> }
}

// ---- wire -------------------------------------------------------------------------------------

const specOf = (tool: Tool<unknown>) => ({
  type: "function" as const,
  name: tool.name,
  description: tool.description,
  inputSchema: tool.inputSchema
})

/**
 * The `dynamicTools` of `thread/start` for a list of tools. Throws on duplicate names (codex
 * refuses them).
 *
 * @since 0.1.0
 * @category encoding
 */
export const toSpecs = (tools: ReadonlyArray<Definition<unknown>>): ReadonlyArray<Protocol.DynamicToolSpec> => {
  keyed(tools)
  return tools.map((definition): Protocol.DynamicToolSpec =>
    isNamespace(definition)
      ? { type: "namespace", name: definition.name, description: definition.description, tools: definition.tools.map(specOf) }
      : specOf(definition)
  )
}

const keyOf = (namespace: string | null | undefined, name: string) => `${namespace ?? ""}\u0000${name}`

/** The tools by namespace and name; throws on a duplicate. */
const keyed = <R>(tools: ReadonlyArray<Definition<R>>): ReadonlyMap<string, Tool<R>> => {
  const byKey = new Map<string, Tool<R>>()
  const add = (namespace: string | undefined, tool: Tool<R>) => {
    const key = keyOf(namespace, tool.name)
    if (byKey.has(key)) throw new TypeError(`duplicate tool name: ${namespace === undefined ? "" : `${namespace}.`}${tool.name}`)
    byKey.set(key, tool)
  }
  for (const definition of tools) {
    if (isNamespace(definition)) for (const tool of definition.tools) add(definition.name, tool)
    else add(undefined, definition)
  }
  return byKey
}

// ---- serving ----------------------------------------------------------------------------------

/**
 * The answer to a call that failed, with the reason as its text.
 *
 * @since 0.1.0
 * @category answers
 */
export const failure = (message: string): Protocol.DynamicToolCallResponse => ({
  success: false,
  contentItems: [{ type: "inputText", text: message }]
})

/**
 * The tools of one thread, served.
 *
 * @since 0.1.0
 * @category models
 */
export interface Server {
  /** Answers one `item/tool/call` (never fails: every fault is a `success: false` answer). */
  readonly handle: (params: Protocol.DynamicToolCallParams) => Effect.Effect<Protocol.DynamicToolCallResponse>
  /** Interrupts the calls of a turn still running (the turn completed or was interrupted). */
  readonly unsafeTurnEnded: (turnId: string) => void
}

/**
 * Serves tools for the scope: each call runs on a fiber of its own (the calls of a turn run
 * concurrently), with the tool's timeout or `defaultTimeout`; closing the scope interrupts the
 * calls still running, and so does {@link Server.unsafeTurnEnded} for one turn's calls.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = <R>(
  tools: ReadonlyArray<Definition<R>>,
  options: { readonly defaultTimeout: Duration.DurationInput }
): Effect.Effect<Server, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const byKey = keyed(tools)
    const defaultTimeout = Duration.decode(options.defaultTimeout)
    const context = yield* Effect.context<R>()
    const fibers = yield* FiberSet.make<Protocol.DynamicToolCallResponse>()
    const byTurn = new Map<string, Set<Fiber.RuntimeFiber<Protocol.DynamicToolCallResponse>>>()

    const run = (tool: Tool<R>, params: Protocol.DynamicToolCallParams): Effect.Effect<Protocol.DynamicToolCallResponse> => {
      const timeout = tool.timeout ?? defaultTimeout
      const label = params.namespace ? `${params.namespace}.${tool.name}` : tool.name
      return tool.call(params.arguments, { threadId: params.threadId, turnId: params.turnId, callId: params.callId }).pipe(
        Effect.timeoutFail({ duration: timeout, onTimeout: () => timedOut }),
        Effect.matchCauseEffect({
          onSuccess: (content): Effect.Effect<Protocol.DynamicToolCallResponse> => Effect.succeed({ success: true, contentItems: content.items }),
          onFailure: (cause) => {
            const failed = Cause.failureOption(cause)
            if (failed._tag === "Some") {
              return failed.value === timedOut
                ? Effect.as(
                  Effect.logWarning(`tool ${label} timed out after ${Duration.format(timeout)}`),
                  failure(`${label} timed out after ${Duration.format(timeout)}`)
                )
                : Effect.succeed(failure(failed.value.message))
            }
            if (Cause.isInterruptedOnly(cause)) return Effect.succeed(failure(`${label} was interrupted`))
            return Effect.as(Effect.logError(`tool ${label} failed with a defect`, cause), failure(`${label}: tool failed`))
          }
        }),
        Effect.provide(context)
      )
    }

    const track = (turnId: string, fiber: Fiber.RuntimeFiber<Protocol.DynamicToolCallResponse>) => {
      const running = byTurn.get(turnId) ?? new Set()
      running.add(fiber)
      byTurn.set(turnId, running)
      fiber.addObserver(() => {
        running.delete(fiber)
        if (running.size === 0 && byTurn.get(turnId) === running) byTurn.delete(turnId)
      })
    }

    const handle = (params: Protocol.DynamicToolCallParams): Effect.Effect<Protocol.DynamicToolCallResponse> => {
      const tool = byKey.get(keyOf(params.namespace, params.tool))
      if (tool === undefined) {
        const label = params.namespace ? `${params.namespace}.${params.tool}` : params.tool
        return Effect.succeed(failure(`unknown tool ${label}: this client does not serve it on thread ${params.threadId}`))
      }
      // The call's fiber is forked inside the mask, so it would inherit the uninterruptible region:
      // `interruptible` makes it interruptible again (its timeout, the turn's end and the scope
      // interrupt it), while the fork and its tracking stay atomic.
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(FiberSet.run(fibers, Effect.interruptible(run(tool, params))), (fiber) => {
          track(params.turnId, fiber)
          return restore(Fiber.join(fiber)).pipe(
            Effect.onInterrupt(() => Fiber.interrupt(fiber)),
            Effect.catchAllCause(() => Effect.succeed(failure(`${params.tool} was interrupted`)))
          )
        })
      )
    }

    const unsafeTurnEnded = (turnId: string) => {
      const running = byTurn.get(turnId)
      if (running === undefined) return
      byTurn.delete(turnId)
      for (const fiber of running) fiber.unsafeInterruptAsFork(FiberId.none)
    }

    return { handle, unsafeTurnEnded }
  })

/** The failure of a call that ran past its timeout. */
const timedOut = new ToolFailure({ reason: "timed out" })
