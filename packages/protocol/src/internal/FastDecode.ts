/**
 * A fast path in front of `Schema.decodeUnknownEither` for the protocol's Schemas: the hot path of
 * the SDK decodes every incoming event through it.
 *
 * `compile(ast)` turns a Schema AST into a plain function that validates and copies in one pass,
 * with no `Either` per field. It covers what the generated Schemas are made of: string / number /
 * boolean / literal / unknown keywords and refinements of those, arrays, structs (optional keys,
 * renamed keys through `Schema.fromKey`, records with string keys), unions (members are tried in
 * the order the Schema decoder tries them: the same literal-keyed search tree), recursive types
 * (`Suspend`), and the `onExcessProperty: "error"` parse option of strict union members. Anything
 * else (other transformations, declarations, template literals …) makes `compile` return
 * `undefined`, and the caller keeps the Schema decoder.
 *
 * The fast function never fails with its own message: it returns `FAIL`, and the caller then runs
 * the real Schema decoder, which produces the usual `ParseError`. So for accepted inputs the output
 * equals the Schema decoder's output (`onExcessProperty: "ignore"` unless a member says otherwise:
 * only the declared keys, in declaration order) and for rejected inputs the error is the Schema
 * decoder's. `test/FastDecode.test.ts` checks both on every covered Schema.
 */
import * as Either from "effect/Either"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import { JsonValue } from "../Json.js"

/** What a fast decoder returns for an input it does not accept (the Schema decoder then runs). */
export const FAIL: unique symbol = Symbol("FastDecode/FAIL")
/** A compiled decoder or encoder: the value, or `FAIL`. */
export type Fast = (u: unknown) => unknown

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** The literal-valued required keys of a union member, as the Schema parser sees them (decoding or encoding). */
const literalsOf = (ast: AST.AST, decoding: boolean): ReadonlyArray<readonly [PropertyKey, AST.Literal]> => {
  switch (ast._tag) {
    case "TypeLiteral": {
      const out: Array<readonly [PropertyKey, AST.Literal]> = []
      for (const ps of ast.propertySignatures) {
        const type = decoding ? AST.encodedAST(ps.type) : AST.typeAST(ps.type)
        if (AST.isLiteral(type) && !ps.isOptional) out.push([ps.name, type])
      }
      return out
    }
    case "Refinement":
      return literalsOf(ast.from, decoding)
    case "Suspend":
      return literalsOf(ast.f(), decoding)
    case "Transformation":
      return literalsOf(decoding ? ast.from : ast.to, decoding)
    default:
      return []
  }
}

/**
 * The order in which the Schema decoder tries the members of a union for an input: the members
 * bucketed by the literal values of their keys (only the bucket of the input's value is tried),
 * then the members without literal keys. The same algorithm as the decoder's own search tree.
 */
const searchTree = (members: ReadonlyArray<AST.AST>, decoding: boolean) => {
  const keys = new Map<PropertyKey, Map<string, Array<number>>>()
  const otherwise: Array<number> = []
  members.forEach((member, index) => {
    const tags = literalsOf(member, decoding)
    if (tags.length === 0) {
      otherwise.push(index)
      return
    }
    for (let j = 0; j < tags.length; j++) {
      const [key, literal] = tags[j]!
      const hash = String(literal.literal)
      let buckets = keys.get(key)
      if (buckets === undefined) keys.set(key, buckets = new Map())
      const bucket = buckets.get(hash)
      if (bucket !== undefined) {
        if (j < tags.length - 1) continue
        bucket.push(index)
      } else {
        buckets.set(hash, [index])
        break
      }
    }
  })
  return { keys: [...keys], otherwise }
}

const hasOwn = Object.prototype.hasOwnProperty

/**
 * What is being compiled: a decoder or an encoder, under `onExcessProperty: "error"` (`strict`)
 * or not, with its cache of compiled functions per AST (`null` while being compiled: a recursive
 * reference).
 */
interface Mode {
  readonly decoding: boolean
  readonly strict: boolean
  readonly cache: Map<AST.AST, Fast | undefined | null>
}
const mode = (decoding: boolean, strict: boolean): Mode => ({ decoding, strict, cache: new Map() })
const modes = { decode: [mode(true, false), mode(true, true)], encode: [mode(false, false), mode(false, true)] } as const
const withStrict = (m: Mode, strict: boolean): Mode => (m.decoding ? modes.decode : modes.encode)[strict ? 1 : 0]

/** A validate-and-copy decoder for the AST, or `undefined` when the AST needs the Schema decoder. */
export const compile = (ast: AST.AST): Fast | undefined => compileWith(ast, modes.decode[0])

/** The same for encoding (type side in, wire side out), or `undefined` when the AST needs the Schema encoder. */
export const compileEncoder = (ast: AST.AST): Fast | undefined => compileWith(ast, modes.encode[0])

const compileWith = (ast: AST.AST, mode: Mode): Fast | undefined => {
  const cache = mode.cache
  const cached = cache.get(ast)
  if (cached !== undefined) {
    if (cached !== null) return cached
    // A recursive reference to a type being compiled: call it through the cache once it is ready.
    return (u) => {
      const f = cache.get(ast)
      return typeof f === "function" ? f(u) : FAIL
    }
  }
  if (cache.has(ast)) return undefined
  cache.set(ast, null)
  const f = compileNode(ast, mode)
  cache.set(ast, f)
  return f
}

const compileNode = (ast: AST.AST, inherited: Mode): Fast | undefined => {
  if (Option.isSome(AST.getDecodingFallbackAnnotation(ast))) return undefined
  let mode = inherited
  const parseOptions = AST.getParseOptionsAnnotation(ast)
  if (Option.isSome(parseOptions)) {
    const { onExcessProperty, ...rest } = parseOptions.value
    if (Object.keys(rest).length > 0 || (onExcessProperty !== "error" && onExcessProperty !== "ignore")) return undefined
    mode = withStrict(mode, onExcessProperty === "error")
  }
  const strict = mode.strict
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
    case "UndefinedKeyword":
      return (u) => (u === undefined ? u : FAIL)
    case "UnknownKeyword":
    case "AnyKeyword":
      return (u) => u
    case "Refinement": {
      // Encoding checks the refinement on the type side, then encodes what it refines: the same
      // steps when that is a type already (all the protocol's refinements: numbers, strings, JSON).
      if (!mode.decoding && AST.typeAST(ast.from) !== ast.from) return undefined
      const from = compileWith(ast.from, mode)
      if (from === undefined) return undefined
      const refinement = ast
      const options: AST.ParseOptions = { onExcessProperty: strict ? "error" : "ignore" }
      return (u) => {
        const a = from(u)
        if (a === FAIL) return FAIL
        return Option.isNone(refinement.filter(a, options, refinement)) ? a : FAIL
      }
    }
    case "Suspend":
      return compileWith(ast.f(), mode)
    case "Union": {
      const members: Array<Fast> = []
      for (const t of ast.types) {
        const f = compileWith(t, mode)
        if (f === undefined) return undefined
        members.push(f)
      }
      const { keys, otherwise } = searchTree(ast.types, mode.decoding)
      if (keys.length === 0) {
        return (u) => {
          for (let i = 0; i < members.length; i++) {
            const a = members[i]!(u)
            if (a !== FAIL) return a
          }
          return FAIL
        }
      }
      return (u) => {
        if (typeof u === "object" && u !== null) {
          for (let k = 0; k < keys.length; k++) {
            const [name, buckets] = keys[k]!
            if (!hasOwn.call(u, name)) continue
            const bucket = buckets.get(String((u as Record<PropertyKey, unknown>)[name]))
            if (bucket === undefined) continue
            for (let i = 0; i < bucket.length; i++) {
              const a = members[bucket[i]!]!(u)
              if (a !== FAIL) return a
            }
          }
        }
        for (let i = 0; i < otherwise.length; i++) {
          const a = members[otherwise[i]!]!(u)
          if (a !== FAIL) return a
        }
        return FAIL
      }
    }
    case "TupleType": {
      if (ast.elements.length > 0 || ast.rest.length !== 1) return undefined
      const item = compileWith(ast.rest[0]!.type, mode)
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
    case "TypeLiteral":
      // `Schema.Struct({})` takes any value but null and undefined, as it is (the Schema parser's rule)
      if (ast.propertySignatures.length === 0 && ast.indexSignatures.length === 0) {
        return (u) => (u === null || u === undefined ? FAIL : u)
      }
      return ast.indexSignatures.length > 0 ? compileRecord(ast, mode) : generate(ast, mode)
    case "Transformation":
      return generate(ast, mode)
    default:
      return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Generated code for structs
// ---------------------------------------------------------------------------------------------

/**
 * A struct (or a struct with renamed keys) becomes one generated function (`new Function`): every
 * key is read with a constant name, the result is built with one shape, and what the struct holds
 * is inlined — scalars, literals, known refinements (integers, ranges, lengths, JSON values),
 * `NullOr`, unions of scalars, arrays, nested structs. Unions of structs, records and recursive
 * references are calls to their compiled functions. Few calls and little code per value: this
 * is what makes a decode cheap when it runs once per event on a cold CPU cache.
 */
class Emitter {
  readonly lines: Array<string> = []
  readonly refs: Array<unknown> = []
  private next = 0
  fresh(prefix: string): string {
    return `${prefix}${this.next++}`
  }
  ref(value: unknown): string {
    this.refs.push(value)
    return `p[${this.refs.length - 1}]`
  }
  line(code: string): void {
    this.lines.push(code)
  }
}

/** How deep nested structs are inlined (deeper ones become calls), to bound the generated code. */
const INLINE_DEPTH = 4

/** The annotations that change how a node parses: `strict` from a parse-options annotation, or unsupported. */
const modeAt = (ast: AST.AST, mode: Mode): Mode | undefined => {
  if (Option.isSome(AST.getDecodingFallbackAnnotation(ast))) return undefined
  const parseOptions = AST.getParseOptionsAnnotation(ast)
  if (Option.isNone(parseOptions)) return mode
  const { onExcessProperty, ...rest } = parseOptions.value
  if (Object.keys(rest).length > 0 || (onExcessProperty !== "error" && onExcessProperty !== "ignore")) return undefined
  return withStrict(mode, onExcessProperty === "error")
}

/** The check of a refinement Schema ships, as an expression over `x`; `undefined` for any other. */
const refinementCheck = (ast: AST.Refinement, x: string): string | undefined => {
  if (ast === JsonValue.ast) return `${x} !== undefined`
  const id = AST.getSchemaIdAnnotation(ast)
  const json = AST.getJSONSchemaAnnotation(ast)
  if (Option.isNone(id)) return undefined
  const bounds = Option.getOrElse(json, () => ({})) as { minimum?: unknown; maximum?: unknown; minLength?: unknown }
  const num = (n: unknown) => (typeof n === "number" && Number.isFinite(n) ? String(n) : undefined)
  switch (id.value) {
    case Schema.IntSchemaId:
      return `Number.isSafeInteger(${x})`
    case Schema.BetweenSchemaId: {
      const min = num(bounds.minimum)
      const max = num(bounds.maximum)
      return min === undefined || max === undefined ? undefined : `${x} >= ${min} && ${x} <= ${max}`
    }
    case Schema.GreaterThanOrEqualToSchemaId: {
      const min = num(bounds.minimum)
      return min === undefined ? undefined : `${x} >= ${min}`
    }
    case Schema.MinLengthSchemaId: {
      const min = num(bounds.minLength)
      return min === undefined ? undefined : `${x}.length >= ${min}`
    }
    default:
      return undefined
  }
}

/**
 * For ASTs whose accepted values decode (and encode) to themselves: a boolean expression over the
 * variable `x` that tells whether a value is accepted. `undefined` for anything else.
 */
const predicate = (ast: AST.AST, mode: Mode, x: string): string | undefined => {
  if (modeAt(ast, mode) !== mode) return undefined
  switch (ast._tag) {
    case "StringKeyword":
      return `typeof ${x} === "string"`
    case "NumberKeyword":
      return `typeof ${x} === "number"`
    case "BooleanKeyword":
      return `typeof ${x} === "boolean"`
    case "UndefinedKeyword":
      return `${x} === undefined`
    case "UnknownKeyword":
    case "AnyKeyword":
      return "true"
    case "Literal":
      return typeof ast.literal === "bigint" ? undefined : `${x} === ${JSON.stringify(ast.literal)}`
    case "Refinement": {
      if (!mode.decoding && AST.typeAST(ast.from) !== ast.from) return undefined
      const from = predicate(ast.from, mode, x)
      const check = refinementCheck(ast, x)
      return from === undefined || check === undefined ? undefined : `(${from}) && ${check}`
    }
    case "Union": {
      const members: Array<string> = []
      for (const t of ast.types) {
        const p = predicate(t, mode, x)
        if (p === undefined) return undefined
        members.push(`(${p})`)
      }
      return members.join(" || ")
    }
    default:
      return undefined
  }
}

/**
 * Emits the statements that check the value of the variable `input` (and `return FAIL` when it
 * is not accepted); returns the expression that holds the result. `undefined` when the AST (or
 * something inside it) needs the Schema parser.
 */
const emit = (ast: AST.AST, inherited: Mode, input: string, e: Emitter, depth: number): string | undefined => {
  const mode = modeAt(ast, inherited)
  if (mode === undefined) return undefined
  const check = predicate(ast, mode, input)
  if (check !== undefined) {
    if (check !== "true") e.line(`if (!(${check})) return FAIL`)
    return input
  }
  const call = () => {
    const f = compileWith(ast, mode)
    if (f === undefined) return undefined
    const out = e.fresh("r")
    e.line(`const ${out} = ${e.ref(f)}(${input}); if (${out} === FAIL) return FAIL`)
    return out
  }
  switch (ast._tag) {
    case "Refinement": {
      if (!mode.decoding && AST.typeAST(ast.from) !== ast.from) return undefined
      if (refinementCheck(ast, "x") === undefined) return call()
      const from = emit(ast.from, mode, input, e, depth)
      if (from === undefined) return undefined
      const value = e.fresh("x")
      e.line(`const ${value} = ${from}`)
      e.line(`if (!(${refinementCheck(ast, value)})) return FAIL`)
      return value
    }
    case "Union": {
      // NullOr(X): null is null (no protocol type decodes null to anything else), the rest is X's
      const [first, second] = ast.types
      const isNull = (t: AST.AST | undefined) => t !== undefined && AST.isLiteral(t) && t.literal === null
      const nullable = ast.types.length !== 2 ? undefined : isNull(second) ? first : isNull(first) ? second : undefined
      if (nullable === undefined || modeAt(nullable, mode) === undefined) return call()
      const out = e.fresh("n")
      e.line(`let ${out} = null`)
      e.line(`if (${input} !== null) {`)
      const value = emit(nullable, mode, input, e, depth)
      if (value === undefined) return undefined
      e.line(`${out} = ${value}`)
      e.line(`}`)
      return out
    }
    case "TupleType": {
      if (ast.elements.length > 0 || ast.rest.length !== 1) return undefined
      const out = e.fresh("a")
      const i = e.fresh("i")
      const item = e.fresh("v")
      e.line(`if (!Array.isArray(${input})) return FAIL`)
      e.line(`const ${out} = new Array(${input}.length)`)
      e.line(`for (let ${i} = 0; ${i} < ${input}.length; ${i}++) {`)
      e.line(`const ${item} = ${input}[${i}]`)
      const value = emit(ast.rest[0]!.type, mode, item, e, depth)
      if (value === undefined) return undefined
      e.line(`${out}[${i}] = ${value}`)
      e.line(`}`)
      return out
    }
    case "TypeLiteral":
      if (ast.indexSignatures.length > 0) return call()
      if (ast.propertySignatures.length === 0) {
        // `Schema.Struct({})` takes any value but null and undefined, as it is (the Schema parser's rule)
        e.line(`if (${input} === null || ${input} === undefined) return FAIL`)
        return input
      }
      return depth >= INLINE_DEPTH ? call() : emitStruct(fieldsOf(ast), mode, input, e, depth)
    case "Transformation": {
      const fields = renamedFields(ast, mode)
      if (fields === undefined) return undefined
      return depth >= INLINE_DEPTH ? call() : emitStruct(fields, mode, input, e, depth)
    }
    case "Suspend":
      return call()
    default:
      return undefined
  }
}

/** A field of a struct: where it is read, where it is written, and its type. */
interface Field {
  readonly from: PropertyKey
  readonly to: PropertyKey
  readonly type: AST.AST
  readonly isOptional: boolean
}

const fieldsOf = (ast: AST.TypeLiteral): ReadonlyArray<Field> =>
  ast.propertySignatures.map((ps) => ({ from: ps.name, to: ps.name, type: ps.type, isOptional: ps.isOptional }))

/**
 * The fields of a struct with renamed keys (`Schema.fromKey`). Decoding reads the wire keys and
 * writes the decoded struct's keys in its order; encoding reads the type keys and writes the
 * wire struct's keys in its order. The values go through the wire struct's property types (which
 * check the type side too), as the Schema parser does.
 */
const renamedFields = (ast: AST.Transformation, mode: Mode): ReadonlyArray<Field> | undefined => {
  if (ast.transformation._tag !== "TypeLiteralTransformation") return undefined
  if (ast.from._tag !== "TypeLiteral" || ast.to._tag !== "TypeLiteral") return undefined
  if (ast.from.indexSignatures.length > 0 || ast.to.indexSignatures.length > 0) return undefined
  const wireKey = new Map<PropertyKey, PropertyKey>()
  for (const t of ast.transformation.propertySignatureTransformations) {
    if (t.decode !== identity || t.encode !== identity) return undefined
    wireKey.set(t.to, t.from)
  }
  const wire = new Map(ast.from.propertySignatures.map((ps) => [ps.name, ps]))
  if (wire.size !== ast.to.propertySignatures.length) return undefined
  const typeKeyOf = new Map([...wireKey].map(([type, w]) => [w, type]))
  const order = mode.decoding ? ast.to.propertySignatures.map((ps) => wireKey.get(ps.name) ?? ps.name) : [...wire.keys()]
  const fields: Array<Field> = []
  for (const key of order) {
    const ps = wire.get(key)
    if (ps === undefined) return undefined
    const typeKey = typeKeyOf.get(key) ?? key
    fields.push(
      mode.decoding
        ? { from: key, to: typeKey, type: ps.type, isOptional: ps.isOptional }
        : { from: typeKey, to: key, type: ps.type, isOptional: ps.isOptional }
    )
  }
  return fields
}

/** Emits a struct: the object check, the excess-key check under `strict`, then each field. */
const emitStruct = (fields: ReadonlyArray<Field>, mode: Mode, input: string, e: Emitter, depth: number): string | undefined => {
  // ("__proto__" in an object literal or an assignment would set the prototype)
  if (fields.some((f) => typeof f.from !== "string" || typeof f.to !== "string" || f.to === "__proto__")) return undefined
  e.line(`if (typeof ${input} !== "object" || ${input} === null || Array.isArray(${input})) return FAIL`)
  if (mode.strict) {
    const k = e.fresh("k")
    const declared = e.ref(new Set(fields.map((f) => f.from)))
    e.line(`for (const ${k} in ${input}) if (hasOwn.call(${input}, ${k}) && !${declared}.has(${k})) return FAIL`)
  }
  const allRequired = fields.every((f) => !f.isOptional)
  const out = e.fresh("o")
  const values: Array<string> = []
  if (!allRequired) e.line(`const ${out} = {}`)
  for (const field of fields) {
    const from = JSON.stringify(field.from)
    const to = JSON.stringify(field.to)
    const v = e.fresh("v")
    if (allRequired) {
      e.line(`if (!hasOwn.call(${input}, ${from})) return FAIL`)
      e.line(`const ${v} = ${input}[${from}]`)
      const value = emit(field.type, mode, v, e, depth + 1)
      if (value === undefined) return undefined
      values.push(`${to}: ${value}`)
    } else {
      e.line(`if (hasOwn.call(${input}, ${from})) {`)
      e.line(`const ${v} = ${input}[${from}]`)
      const value = emit(field.type, mode, v, e, depth + 1)
      if (value === undefined) return undefined
      e.line(`${out}[${to}] = ${value}`)
      e.line(field.isOptional ? `}` : `} else return FAIL`)
    }
  }
  if (allRequired) e.line(`const ${out} = { ${values.join(", ")} }`)
  return out
}

/** A struct, or a struct with renamed keys, as one generated function. */
const generate = (ast: AST.TypeLiteral | AST.Transformation, mode: Mode): Fast | undefined => {
  const e = new Emitter()
  const result = emit(ast, mode, "u", e, 0)
  if (result === undefined) return undefined
  // eslint-disable-next-line no-new-func
  const make = new Function("FAIL", "hasOwn", "p", `return function decode(u) {\n${e.lines.join("\n")}\nreturn ${result}\n}`)
  return make(FAIL, hasOwn, e.refs) as Fast
}

/** A record with string keys (`Schema.Record({ key: Schema.String, value })`), nothing else declared. */
const compileRecord = (ast: AST.TypeLiteral, mode: Mode): Fast | undefined => {
  if (ast.propertySignatures.length > 0 || ast.indexSignatures.length !== 1) return undefined
  const signature = ast.indexSignatures[0]!
  if (signature.parameter._tag !== "StringKeyword") return undefined
  const value = compileWith(signature.type, mode)
  if (value === undefined) return undefined
  return (u) => {
    if (!isRecord(u)) return FAIL
    const out: Record<string, unknown> = {}
    for (const key in u) {
      if (!hasOwn.call(u, key)) continue
      const a = value(u[key])
      if (a === FAIL) return FAIL
      out[key] = a
    }
    return out
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

/**
 * The decoded value or `FAIL`, with no `Either` on the way (the hot path): the fast function when
 * the schema qualifies, else the Schema decoder.
 */
export const valueDecoder = (schema: Schema.Schema.Any): Fast => {
  const fast = compile(schema.ast)
  if (fast !== undefined) return fast
  const slow = Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown>, { onExcessProperty: "ignore" })
  return (u) => {
    const result = slow(u)
    return Either.isRight(result) ? result.right : FAIL
  }
}

/**
 * `Schema.encodeUnknownEither(schema)` with the fast path in front when the schema qualifies.
 */
export const encoder = (schema: Schema.Schema.Any): ((a: unknown) => Either.Either<unknown, ParseResult.ParseError>) => {
  const slow = Schema.encodeUnknownEither(schema as Schema.Schema<unknown, unknown>)
  const fast = compileEncoder(schema.ast)
  if (fast === undefined) return slow
  return (a) => {
    const u = fast(a)
    return u === FAIL ? slow(a) : Either.right(u)
  }
}

/** Whether a schema gets the fast path. */
export const isFast = (schema: Schema.Schema.Any): boolean => compile(schema.ast) !== undefined

/** Whether a schema gets the fast path for encoding. */
export const isFastEncoder = (schema: Schema.Schema.Any): boolean => compileEncoder(schema.ast) !== undefined
