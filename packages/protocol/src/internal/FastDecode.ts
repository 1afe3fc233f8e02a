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
      return ast.indexSignatures.length > 0 ? compileRecord(ast, mode) : compileStruct(ast, mode)
    case "Transformation":
      return compileRenames(ast, mode)
    default:
      return undefined
  }
}

/** Checks that are written inline in generated struct code instead of calling a compiled function. */
const inlineCheck = (ast: AST.AST): string | undefined => {
  if (Option.isSome(AST.getParseOptionsAnnotation(ast)) || Option.isSome(AST.getDecodingFallbackAnnotation(ast))) return undefined
  switch (ast._tag) {
    case "StringKeyword":
      return `typeof v !== "string"`
    case "NumberKeyword":
      return `typeof v !== "number"`
    case "BooleanKeyword":
      return `typeof v !== "boolean"`
    default:
      return undefined
  }
}

/**
 * A struct: the declared keys, in order; with `strict`, any other key fails. The function is
 * generated for the struct (`new Function`), so that every key is read with a constant name and
 * the result is built with one shape: monomorphic code, like a hand-written validator.
 */
const compileStruct = (ast: AST.TypeLiteral, mode: Mode): Fast | undefined => {
  const lines: Array<string> = [
    `if (typeof u !== "object" || u === null || Array.isArray(u)) return FAIL`
  ]
  const parsers: Array<Fast> = []
  const names: Array<string> = []
  const allRequired = ast.propertySignatures.every((ps) => !ps.isOptional)
  for (const ps of ast.propertySignatures) {
    // ("__proto__" in an object literal or an assignment would set the prototype)
    if (typeof ps.name !== "string" || ps.name === "__proto__") return undefined
    const key = JSON.stringify(ps.name)
    const inline = inlineCheck(ps.type)
    let check: string
    if (inline !== undefined) {
      check = `if (${inline}) return FAIL`
    } else {
      const f = compileWith(ps.type, mode)
      if (f === undefined) return undefined
      check = `v = p[${parsers.length}](v); if (v === FAIL) return FAIL`
      parsers.push(f)
    }
    const i = names.length
    names.push(ps.name)
    if (allRequired) {
      lines.push(`if (!hasOwn.call(u, ${key})) return FAIL`, `v = u[${key}]`, check, `const v${i} = v`)
    } else {
      lines.push(
        `if (hasOwn.call(u, ${key})) {`,
        `  v = u[${key}]`,
        `  ${check}`,
        `  out[${key}] = v`,
        ps.isOptional ? `}` : `} else return FAIL`
      )
    }
  }
  if (mode.strict) {
    lines.splice(1, 0, `for (const k in u) if (hasOwn.call(u, k) && !declared.has(k)) return FAIL`)
  }
  const body = allRequired
    ? [`let v`, ...lines, `return { ${names.map((name, i) => `${JSON.stringify(name)}: v${i}`).join(", ")} }`]
    : [`let v`, `const out = {}`, ...lines, `return out`]
  // eslint-disable-next-line no-new-func
  const make = new Function("FAIL", "hasOwn", "p", "declared", `return function struct(u) {\n${body.join("\n")}\n}`)
  return make(FAIL, hasOwn, parsers, new Set(names)) as Fast
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
 * A struct with renamed keys (`Schema.fromKey`). Decoding: the wire struct, then the renames, with
 * the keys in the order of the decoded struct. Encoding: the type struct, the renames back, then
 * the wire struct (which encodes the values), as the Schema encoder does.
 */
const compileRenames = (ast: AST.Transformation, mode: Mode): Fast | undefined => {
  if (ast.transformation._tag !== "TypeLiteralTransformation") return undefined
  if (ast.from._tag !== "TypeLiteral" || ast.to._tag !== "TypeLiteral") return undefined
  const wireKey = new Map<PropertyKey, PropertyKey>()
  for (const t of ast.transformation.propertySignatureTransformations) {
    if (t.decode !== identity || t.encode !== identity) return undefined
    wireKey.set(t.to, t.from)
  }
  const source = mode.decoding ? ast.from : ast.to
  const target = mode.decoding ? ast.to : ast.from
  const first = compileWith(source, mode)
  const last = mode.decoding ? undefined : compileWith(target, mode)
  if (first === undefined || (!mode.decoding && last === undefined)) return undefined
  // for each key of the target struct, the key it comes from in the source struct
  const typeKey = new Map<PropertyKey, PropertyKey>([...wireKey].map(([type, wire]) => [wire, type]))
  const names: Array<string> = []
  const sources: Array<string> = []
  for (const ps of target.propertySignatures) {
    const from = mode.decoding ? wireKey.get(ps.name) ?? ps.name : typeKey.get(ps.name) ?? ps.name
    if (typeof ps.name !== "string" || typeof from !== "string") return undefined
    names.push(ps.name)
    sources.push(from)
  }
  const n = names.length
  return (u) => {
    const a = first(u)
    if (a === FAIL) return FAIL
    const value = a as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (let i = 0; i < n; i++) {
      const from = sources[i]!
      if (hasOwn.call(value, from)) out[names[i]!] = value[from]
    }
    return last === undefined ? out : last(out)
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
