/**
 * @effect-codex/protocol: Effect Schemas for the Codex app-server protocol (the version in `generated/Version`), generated
 * from the pinned binary, plus JSON-RPC envelopes and typed method registries.
 *
 * @since 0.1.0
 */

/**
 * Every named type of the protocol, as an interface and an Effect Schema.
 *
 * @since 0.1.0
 */
export * as Protocol from "./generated/Schemas.js"

/**
 * Method registries: method → params / result Schemas, experimental flag.
 *
 * @since 0.1.0
 */
export * as Methods from "./generated/Methods.js"

/**
 * @since 0.1.0
 */
export * as Json from "./Json.js"

/**
 * @since 0.1.0
 */
export * as OpenEnum from "./OpenEnum.js"

/**
 * @since 0.1.0
 */
export * as JsonRpc from "./JsonRpc.js"

/**
 * Typed access to the registries: params and result types by method, decoders.
 *
 * @since 0.1.0
 */
export * as Registry from "./Registry.js"

/**
 * The pinned Codex version (`codexVersion`).
 *
 * @since 0.1.0
 */
export * as Version from "./generated/Version.js"
