/**
 * `@effect/ai` interop: serve the tools of an `@effect/ai` `Toolkit` to Codex, unchanged.
 *
 * `CodexTools.fromToolkit(toolkit)` turns each tool of the toolkit into an effect-codex
 * {@link Tool.Tool} (built with `Tool.make`): the same name, description and parameters Schema,
 * and the handler that `toolkit.toLayer(...)` registered, looked up from the context when the
 * model calls the tool. What the tools need — the handler services `Tool.Handler<name>` of
 * `@effect/ai`, plus the tools' own dependencies — is their requirement, so it shows up in the type
 * of `codex.threadStart` and is provided with the handler layer:
 *
 * ```ts
 * import { Tool as AiTool, Toolkit } from "@effect/ai"
 * import { Codex } from "@effect-codex/app-server"
 * import { CodexTools } from "@effect-codex/app-server/ai"
 * import { Effect, Schema } from "effect"
 *
 * const GetWeather = AiTool.make("get_weather", {
 *   description: "The weather in a city",
 *   parameters: { city: Schema.String },
 *   success: Schema.Struct({ city: Schema.String, celsius: Schema.Number })
 * })
 * const toolkit = Toolkit.make(GetWeather)
 * const handlers = toolkit.toLayer({ get_weather: ({ city }) => Effect.succeed({ city, celsius: 21 }) })
 *
 * const program = Effect.gen(function*() {
 *   const codex = yield* Codex.Codex
 *   const thread = yield* codex.threadStart({}, { tools: CodexTools.fromToolkit(toolkit) })
 *   return yield* thread.run("What is the weather in Paris?")
 * }).pipe(Effect.scoped, Effect.provide(handlers))
 * ```
 *
 * The result is encoded with the tool's `success` Schema and sent as its JSON text. A handler's
 * failure (in either `failureMode`: Codex has no "failed but returned" result) is answered
 * `success: false` with its message: the failure's `message` if it has one, else the failure
 * encoded with the tool's `failure` Schema, as JSON. Provider-defined tools (a provider's built-in
 * tools, such as OpenAI's web search) run on that provider, not in this program: they cannot be
 * served to Codex, and `fromToolkit` throws a `TypeError` for them.
 *
 * This module needs the optional peer dependency `@effect/ai` (0.37); the rest of the SDK does not.
 *
 * @since 0.1.0
 */
import * as AiTool from "@effect/ai/Tool"
import type * as Toolkit from "@effect/ai/Toolkit"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { ToolFailure } from "./CodexError.js"
import * as Tool from "./Tool.js"

/**
 * What the Codex tools of an `@effect/ai` tool need: its handler (the `Tool.Handler<name>`
 * service that `toolkit.toLayer(...)` provides) and the tool's own requirements (its
 * `dependencies` and what its Schemas need).
 *
 * @since 0.1.0
 * @category models
 */
export type ToolRequirements<T extends AiTool.Any> = AiTool.Handler<T["name"]> | AiTool.Requirements<T>

/**
 * What the Codex tools of a toolkit need, for every tool of it (see {@link ToolRequirements}).
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements<Tools extends Record<string, AiTool.Any>> = {
  readonly [Name in keyof Tools]: ToolRequirements<Tools[Name]>
}[keyof Tools]

/**
 * Options of {@link fromToolkit} and {@link fromTool}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The deadline of each call. Default: the connection's `toolTimeout` (5 minutes). */
  readonly timeout?: Duration.DurationInput
}

/** The message of a failure: its `message`, else its encoding by the tool's failure Schema, as JSON. */
const failureMessage = (tool: AiTool.Any, failure: unknown): Effect.Effect<string> => {
  if (Predicate.hasProperty(failure, "message") && typeof failure.message === "string" && failure.message !== "") {
    return Effect.succeed(failure.message)
  }
  const schema = tool.failureSchema as Schema.Schema<unknown, unknown, never>
  return Schema.encodeUnknown(schema)(failure).pipe(
    Effect.map((encoded) => JSON.stringify(encoded) ?? Tool.messageOf(failure)),
    Effect.orElseSucceed(() => Tool.messageOf(failure))
  )
}

/**
 * The Codex tool of one `@effect/ai` tool; see {@link fromToolkit}. Throws a `TypeError` for a
 * provider-defined tool, a name Codex refuses (`^[a-zA-Z0-9_-]+$`) or parameters that are not an
 * object.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromTool = <T extends AiTool.Any>(tool: T, options?: Options): Tool.Tool<ToolRequirements<T>> => {
  if (AiTool.isProviderDefined(tool)) {
    throw new TypeError(
      `CodexTools: ${tool.name} is a provider-defined tool (${tool.providerName}): it runs on its provider, not in this program, so it cannot be served to Codex; remove it from the toolkit given to Codex`
    )
  }
  const HandlerTag = Context.GenericTag<AiTool.Handler<T["name"]>>(tool.id)
  const parameters = tool.parametersSchema as unknown as Schema.Schema<unknown, unknown, never>
  const handler = (params: unknown): Effect.Effect<unknown, ToolFailure, AiTool.Handler<T["name"]>> =>
    Effect.flatMap(HandlerTag, (registered) =>
      registered.handler(params).pipe(
        // as `Toolkit` runs it: the context the handler layer was built in, under the caller's
        Effect.mapInputContext((input: Context.Context<never>) => Context.merge(registered.context, input)),
        Effect.catchAll((failure: unknown) => Effect.flatMap(failureMessage(tool, failure), (reason) => new ToolFailure({ reason })))
      ))
  // `success` makes `Tool.make` encode the result with the tool's Schema and send it as JSON text
  return Tool.make(tool.name, {
    description: tool.description ?? AiTool.getDescriptionFromSchemaAst(tool.parametersSchema.ast) ?? "",
    parameters,
    success: tool.successSchema as Schema.Schema<unknown, unknown, never>,
    ...(options?.timeout === undefined ? {} : { timeout: options.timeout }),
    handler
  })
}

/**
 * The Codex tools of an `@effect/ai` `Toolkit`, in the toolkit's order, for `threadStart`'s
 * `tools` (or `Tool.namespace`). Each call runs the handler registered by `toolkit.toLayer(...)`
 * with the decoded parameters, so the tools require that layer's services (see
 * {@link Requirements}): provide it around `threadStart`. Throws a `TypeError` for a
 * provider-defined tool, a name Codex refuses or parameters that are not an object.
 *
 * @example
 * ```ts
 * import { Tool as AiTool, Toolkit } from "@effect/ai"
 * import { Codex } from "@effect-codex/app-server"
 * import { CodexTools } from "@effect-codex/app-server/ai"
 * import { Effect, Schema } from "effect"
 *
 * const toolkit = Toolkit.make(
 *   AiTool.make("add", { parameters: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * )
 * const handlers = toolkit.toLayer({ add: ({ a, b }) => Effect.succeed(a + b) })
 *
 * const thread = Effect.flatMap(Codex.Codex, (codex) =>
 *   codex.threadStart({}, { tools: CodexTools.fromToolkit(toolkit) })
 * ).pipe(Effect.provide(handlers))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromToolkit = <Tools extends Record<string, AiTool.Any>>(
  toolkit: Toolkit.Toolkit<Tools>,
  options?: Options
): ReadonlyArray<Tool.Tool<Requirements<Tools>>> =>
  Object.values(toolkit.tools).map((tool) => fromTool(tool, options) as Tool.Tool<Requirements<Tools>>)
