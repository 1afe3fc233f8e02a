/**
 * Free-form JSON values of the protocol (config tables, tool arguments, MCP payloads): decoded
 * as `unknown`, passed through untouched, and generated as JSON-safe values in property tests.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Any JSON value. Keys inside it are never renamed.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonValue: Schema.Schema<unknown> = Schema.Unknown.pipe(
  // A required key must be present: `undefined` (a missing key) is not a JSON value.
  Schema.filter((u): boolean => u !== undefined, { message: () => "expected a JSON value" })
).annotations({
  identifier: "JsonValue",
  // JSON-safe values only (no undefined, NaN or -0), so that generated values survive JSON.
  arbitrary: () => (fc) => fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown)
})
