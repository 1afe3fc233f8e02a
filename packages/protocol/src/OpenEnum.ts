/**
 * Open enums: string enums that a newer server may extend. Known values keep their literal types
 * (and editor completion); any other string still decodes, typed `string & {}`, so an SDK built
 * for one Codex version does not break on a value a newer server adds. The generator states which enums are
 * open (those the server sends).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The type of an open enum with the known values `A`.
 *
 * @since 0.1.0
 * @category models
 */
export type OpenEnum<A extends string> = A | (string & {})

/**
 * An open enum of the given known values. Property tests generate only the known values (the
 * pinned JSON Schema admits no others).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const A extends readonly [string, ...Array<string>]>(
  ...values: A
): Schema.Schema<OpenEnum<A[number]>> =>
  Schema.Union(
    Schema.Literal(...values),
    Schema.String.annotations({ arbitrary: () => (fc) => fc.constantFrom(...values) })
  ) as Schema.Schema<OpenEnum<A[number]>>
