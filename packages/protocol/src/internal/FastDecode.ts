/**
 * A fast path in front of `Schema.decodeUnknownEither` for the plain part of the protocol's
 * Schemas (68 of the 86 notifications, every delta among them): the hot path of the SDK decodes
 * every incoming event through it.
 *
 * `compile(ast)` turns a Schema AST made only of what decodes to itself — string / number /
 * boolean / literal / unknown keywords, refinements of those, arrays, structs (property signatures
 * without renames or defaults) and unions where at most one member is an object — into a plain
 * function that validates and copies in one pass, with no `Either` per field. Anything else (a
 * `Transformation` such as `Schema.fromKey`, `Suspend`, `Declaration`, unions of structs, index
 * signatures …) makes `compile` return `undefined`, and the caller keeps the Schema decoder.
 *
 * The fast function never fails with its own message: it returns `FAIL`, and the caller then runs
 * the real Schema decoder, which produces the usual `ParseError`. So for accepted inputs the output
 * equals the Schema decoder's output (`onExcessProperty: "ignore"`: only the declared keys, in
 * declaration order) and for rejected inputs the error is the Schema decoder's.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"

/** What a fast decoder returns for an input it does not accept (the Schema decoder then runs). */
export const FAIL: unique symbol = Symbol("FastDecode/FAIL")
type Fast = (u: unknown) => unknown

const parseOptions: AST.ParseOptions = { onExcessProperty: "ignore" }

/** ASTs whose annotations change how they parse are left to Schema. */
const hasParserAnnotations = (ast: AST.AST): boolean =>
  Option.isSome(AST.getParseOptionsAnnotation(ast)) || Option.isSome(AST.getDecodingFallbackAnnotation(ast))

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** Whether values of this AST can never be objects or arrays (so a union stays unambiguous). */
const isScalar = (ast: AST.AST): boolean => {
  switch (ast._tag) {
    case "StringKeyword":
    case "NumberKeyword":
    case "BooleanKeyword":
    case "Literal":
      return true
    case "Refinement":
      return isScalar(ast.from)
    case "Union":
      return ast.types.every(isScalar)
    default:
      return false
  }
}

/** A validate-and-copy function for the AST, or `undefined` when the AST needs the Schema decoder. */
export const compile = (ast: AST.AST): Fast | undefined => {
  if (hasParserAnnotations(ast)) return undefined
  switch (ast._tag) {
    case "StringKeyword":
      return (u) => (typeof u === "string" ? u : FAIL)
    case "NumberKeyword":
      return (u) => (typeof u === "number" ? u : FAIL)
    case "BooleanKeyword":
      return (u) => (typeof u === "boolean" ? u : FAIL)
    case "Literal": {
      const literal = ast.literal
      return (u) => (u === literal ? u : FAIL)
    }
    case "UnknownKeyword":
    case "AnyKeyword":
      return (u) => u
    case "Refinement": {
      const from = compile(ast.from)
      if (from === undefined) return undefined
      const refinement = ast
      return (u) => {
        const a = from(u)
        if (a === FAIL) return FAIL
        return Option.isNone(refinement.filter(a, parseOptions, refinement)) ? a : FAIL
      }
    }
    case "Union": {
      const objects = ast.types.filter((t) => !isScalar(t))
      if (objects.length > 1) return undefined
      const members: Array<Fast> = []
      for (const t of ast.types) {
        const f = compile(t)
        if (f === undefined) return undefined
        members.push(f)
      }
      return (u) => {
        for (let i = 0; i < members.length; i++) {
          const a = members[i]!(u)
          if (a !== FAIL) return a
        }
        return FAIL
      }
    }
    case "TupleType": {
      if (ast.elements.length > 0 || ast.rest.length !== 1) return undefined
      const item = compile(ast.rest[0]!.type)
      if (item === undefined) return undefined
      return (u) => {
        if (!Array.isArray(u)) return FAIL
        const out = new Array(u.length)
        for (let i = 0; i < u.length; i++) {
          const a = item(u[i])
          if (a === FAIL) return FAIL
          out[i] = a
        }
        return out
      }
    }
    case "TypeLiteral": {
      if (ast.indexSignatures.length > 0) return undefined
      const names: Array<string> = []
      const optional: Array<boolean> = []
      const parsers: Array<Fast> = []
      for (const ps of ast.propertySignatures) {
        if (typeof ps.name !== "string") return undefined
        const f = compile(ps.type)
        if (f === undefined) return undefined
        names.push(ps.name)
        optional.push(ps.isOptional)
        parsers.push(f)
      }
      const n = names.length
      return (u) => {
        if (!isRecord(u)) return FAIL
        const out: Record<string, unknown> = {}
        for (let i = 0; i < n; i++) {
          const name = names[i]!
          if (!Object.hasOwn(u, name)) {
            if (optional[i]) continue
            return FAIL
          }
          const a = parsers[i]!(u[name])
          if (a === FAIL) return FAIL
          out[name] = a
        }
        return out
      }
    }
    default:
      return undefined
  }
}

/**
 * `Schema.decodeUnknownEither(schema, { onExcessProperty: "ignore" })` with the fast path in front
 * when the schema qualifies.
 */
export const decoder = (schema: Schema.Schema.Any): ((u: unknown) => Either.Either<unknown, ParseResult.ParseError>) => {
  const slow = Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown>, { onExcessProperty: "ignore" })
  const fast = compile(schema.ast)
  if (fast === undefined) return slow
  return (u) => {
    const a = fast(u)
    return a === FAIL ? slow(u) : Either.right(a)
  }
}

/** Whether a schema gets the fast path. */
export const isFast = (schema: Schema.Schema.Any): boolean => compile(schema.ast) !== undefined
