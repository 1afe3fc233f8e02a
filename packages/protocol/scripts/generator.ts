/**
 * Turns the JSON Schema bundles of `codex app-server generate-json-schema` (stable and
 * `--experimental`) into TypeScript source: one interface pair (Type, Encoded) and one annotated
 * Effect Schema per named type, plus the method registries. Pure: bundles in, file texts out.
 *
 * Rules (each one is checked, and a violation fails the generator):
 * - Types come from the experimental bundle, a strict superset of the stable one; the stable
 *   bundle only decides which registry entries are experimental.
 * - Keys: a snake_case wire key (`call_id`) is `callId` on the TypeScript side (`Schema.fromKey`),
 *   both directions. Other keys (camelCase, leading `_`, kebab-case) are kept. Keys of free-form
 *   maps (`additionalProperties`) are never renamed. Two wire keys of one object that meet on the
 *   same camelCase name fail the generator.
 * - A key missing from `required` is an optional key (`?:`, never `undefined`); `null` is allowed
 *   only where the schema says so (`type: [.., "null"]`, `anyOf [.., {type: null}]`). Defaults are
 *   not applied: a value re-encodes to the JSON it came from.
 * - Enums: an enum is OPEN (unknown strings decode, typed `"a" | "b" | (string & {})`) when the
 *   server can send it, i.e. its type is reachable from a server notification, a server request's
 *   params or a client request's result. An enum the server only receives (reachable only from
 *   client request params and server request responses) stays CLOSED, so the SDK never sends a
 *   value the server would reject. Enums of one value are tags (they discriminate union members), always closed.
 * - Tagged unions stay closed: a variant a newer server adds fails to decode, and the runtime
 *   reports it as a decode error while still delivering the raw message (see RpcConnection).
 * - Unions list struct members with more keys first (decoding picks the first member that
 *   matches and ignores unknown keys, so a superset must be tried before its subset), and a
 *   member the schema declares closed (`additionalProperties: false`) rejects unknown keys, so
 *   that a value falls through to the member that really has them.
 * - Object variants that share properties (`properties` beside `oneOf`/`anyOf`) are flattened
 *   into one struct per variant.
 */

/** A JSON Schema node as the binary writes it (draft-07 subset). */
export interface JsonSchema {
  readonly $ref?: string
  readonly type?: string | ReadonlyArray<string>
  readonly enum?: ReadonlyArray<unknown>
  readonly properties?: Readonly<Record<string, JsonSchema>>
  readonly required?: ReadonlyArray<string>
  readonly additionalProperties?: boolean | JsonSchema
  readonly items?: JsonSchema | ReadonlyArray<JsonSchema>
  readonly oneOf?: ReadonlyArray<JsonSchema>
  readonly anyOf?: ReadonlyArray<JsonSchema>
  readonly allOf?: ReadonlyArray<JsonSchema>
  readonly format?: string
  readonly minimum?: number
  readonly minLength?: number
  readonly description?: string
  readonly title?: string
  readonly definitions?: Readonly<Record<string, JsonSchema>>
}

/** The bundle file `codex_app_server_protocol.schemas.json`. */
export interface Bundle {
  readonly definitions: Readonly<Record<string, JsonSchema>> & { readonly v2?: Readonly<Record<string, JsonSchema>> }
}

// ---------------------------------------------------------------------------------------------
// Intermediate representation
// ---------------------------------------------------------------------------------------------

/** A field of a struct. */
export interface Field {
  readonly wireKey: string
  readonly key: string
  readonly optional: boolean
  readonly node: Node
  readonly description: string | undefined
}

/** What a schema node means, independent of how it is printed. */
export type Node =
  | { readonly _tag: "Ref"; readonly name: string }
  | { readonly _tag: "String"; readonly minLength: number | undefined }
  | { readonly _tag: "Integer"; readonly min: number | undefined; readonly max: number | undefined }
  | { readonly _tag: "Number" }
  | { readonly _tag: "Boolean" }
  | { readonly _tag: "Null" }
  | { readonly _tag: "Json" }
  | { readonly _tag: "Enum"; readonly values: ReadonlyArray<string>; readonly tag: boolean }
  | { readonly _tag: "Array"; readonly item: Node }
  | { readonly _tag: "Record"; readonly value: Node }
  | { readonly _tag: "Struct"; readonly fields: ReadonlyArray<Field>; readonly rest: Node | undefined; readonly closed: boolean }
  | { readonly _tag: "Union"; readonly members: ReadonlyArray<Node> }
  | { readonly _tag: "Nullable"; readonly node: Node }

/** A named type of the protocol. */
export interface Definition {
  readonly name: string
  readonly node: Node
  readonly description: string | undefined
  readonly stable: boolean
}

/** One method of a registry. */
export interface Method {
  readonly method: string
  readonly params: Node | undefined
  readonly paramsRequired: boolean
  readonly result: string | undefined
  readonly experimental: boolean
  readonly description: string | undefined
}

/** Everything the printer needs. */
export interface Model {
  readonly definitions: ReadonlyArray<Definition>
  readonly clientRequests: ReadonlyArray<Method>
  readonly serverRequests: ReadonlyArray<Method>
  readonly serverNotifications: ReadonlyArray<Method>
  readonly clientNotifications: ReadonlyArray<Method>
  /** Definitions whose enums are open (reachable from what the server sends). */
  readonly serverSent: ReadonlySet<string>
}

const fail = (message: string): never => {
  throw new Error(`codegen: ${message}`)
}

/** Flattens `definitions` and `definitions.v2` into one namespace (identical duplicates allowed). */
export const flattenDefinitions = (bundle: Bundle): Map<string, JsonSchema> => {
  const out = new Map<string, JsonSchema>()
  const { v2, ...top } = bundle.definitions
  for (const [name, schema] of [...Object.entries(top), ...Object.entries(v2 ?? {})]) {
    const seen = out.get(name)
    if (seen !== undefined && JSON.stringify(seen) !== JSON.stringify(schema) && name !== "RequestId") {
      fail(`definition ${name} differs between the root and v2 namespaces`)
    }
    if (seen === undefined) out.set(name, schema)
  }
  return out
}

/** `call_id` → `callId`; keys that are not snake_case are returned unchanged. */
export const camelCase = (key: string): string =>
  /^[a-z][a-z0-9]*(_[a-z0-9]+)+$/.test(key) ? key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()) : key

const refName = (ref: string): string => {
  const match = /^#\/definitions\/(?:v2\/)?([A-Za-z0-9_]+)$/.exec(ref)
  return match?.[1] ?? fail(`unsupported $ref ${ref}`)
}

const isNullSchema = (s: JsonSchema): boolean => s.type === "null"

const INTEGER_FORMATS: Record<string, readonly [number | undefined, number | undefined]> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
  int64: [undefined, undefined],
  uint64: [0, undefined],
  uint: [0, undefined],
  int: [undefined, undefined],
  uint128: [0, undefined]
}

const integerNode = (s: JsonSchema): Node => {
  const bounds = s.format === undefined ? [undefined, undefined] : INTEGER_FORMATS[s.format]
  if (bounds === undefined) return fail(`unknown integer format ${s.format}`)
  const min = s.minimum !== undefined ? Math.max(s.minimum, bounds[0] ?? -Infinity) : bounds[0]
  return { _tag: "Integer", min, max: bounds[1] }
}

/** An object shape before it becomes a struct: own properties plus those of one variant. */
interface Shape {
  readonly properties: Record<string, JsonSchema>
  readonly required: ReadonlySet<string>
  readonly additional: boolean | JsonSchema | undefined
}

const shapesOf = (s: JsonSchema): ReadonlyArray<Shape> => {
  const own: Shape = {
    properties: { ...s.properties },
    required: new Set(s.required ?? []),
    additional: s.additionalProperties
  }
  const variants = s.oneOf ?? s.anyOf
  if (variants === undefined) return [own]
  return variants.flatMap((variant) => {
    if (variant.$ref !== undefined) return fail("a $ref variant beside properties is not supported")
    return shapesOf(variant).map((shape) => ({
      properties: { ...own.properties, ...shape.properties },
      required: new Set([...own.required, ...shape.required]),
      additional: shape.additional ?? own.additional
    }))
  })
}

const structOf = (shape: Shape, where: string): Node => {
  const fields: Array<Field> = []
  const keys = new Map<string, string>()
  for (const wireKey of Object.keys(shape.properties).sort()) {
    const property = shape.properties[wireKey]!
    const key = camelCase(wireKey)
    const clash = keys.get(key)
    if (clash !== undefined) fail(`${where}: wire keys ${clash} and ${wireKey} both become ${key}`)
    keys.set(key, wireKey)
    const single = property.enum?.length === 1 && shape.required.has(wireKey)
    fields.push({
      wireKey,
      key,
      optional: !shape.required.has(wireKey),
      node: single ? { _tag: "Enum", values: property.enum as ReadonlyArray<string>, tag: true } : toNode(property, `${where}.${wireKey}`),
      description: property.description
    })
  }
  const additional = shape.additional
  const rest = additional === true ? { _tag: "Json" } as const : typeof additional === "object" ? toNode(additional, `${where}{}`) : undefined
  return { _tag: "Struct", fields, rest, closed: additional === false }
}

const unionOf = (members: ReadonlyArray<Node>): Node => {
  const nullable = members.some((m) => m._tag === "Null")
  const rest = members.filter((m) => m._tag !== "Null")
  // Merge plain string enums into one literal set (keeps `"a" | "b"` readable).
  const enums = rest.filter((m): m is Extract<Node, { _tag: "Enum" }> => m._tag === "Enum")
  const others = rest.filter((m) => m._tag !== "Enum")
  const merged: Array<Node> = enums.length > 0
    ? [{ _tag: "Enum", values: enums.flatMap((e) => e.values), tag: false }, ...others]
    : others
  const inner: Node = merged.length === 1 ? merged[0]! : { _tag: "Union", members: merged }
  return nullable ? { _tag: "Nullable", node: inner } : inner
}

/** Reads one JSON Schema node. `where` names it in error messages. */
export const toNode = (s: JsonSchema, where: string): Node => {
  if (s.$ref !== undefined) return { _tag: "Ref", name: refName(s.$ref) }
  if (s.allOf !== undefined) {
    if (s.allOf.length !== 1) fail(`${where}: allOf with ${s.allOf.length} members`)
    return toNode(s.allOf[0]!, where)
  }
  if (s.properties !== undefined && (s.oneOf !== undefined || s.anyOf !== undefined)) {
    return unionOf(shapesOf(s).map((shape, i) => structOf(shape, `${where}|${i}`)))
  }
  const variants = s.oneOf ?? s.anyOf
  if (variants !== undefined) {
    return unionOf(variants.map((v, i) => (isNullSchema(v) ? { _tag: "Null" } : toNode(v, `${where}|${i}`))))
  }
  if (Array.isArray(s.type)) {
    const types = s.type as ReadonlyArray<string>
    return unionOf(types.map((type) => (type === "null" ? { _tag: "Null" } : toNode({ ...s, type }, where))))
  }
  if (s.enum !== undefined) {
    if (!s.enum.every((v) => typeof v === "string")) fail(`${where}: non-string enum`)
    return { _tag: "Enum", values: s.enum as ReadonlyArray<string>, tag: false }
  }
  switch (s.type) {
    case undefined:
      return { _tag: "Json" }
    case "string":
      return { _tag: "String", minLength: s.minLength }
    case "integer":
      return integerNode(s)
    case "number":
      return { _tag: "Number" }
    case "boolean":
      return { _tag: "Boolean" }
    case "null":
      return { _tag: "Null" }
    case "array": {
      if (s.items === undefined) return { _tag: "Array", item: { _tag: "Json" } }
      if (Array.isArray(s.items)) return fail(`${where}: tuple arrays are not supported`)
      return { _tag: "Array", item: toNode(s.items as JsonSchema, `${where}[]`) }
    }
    case "object": {
      if (s.properties === undefined) {
        const ap = s.additionalProperties
        if (ap === false) return { _tag: "Struct", fields: [], rest: undefined, closed: true }
        return { _tag: "Record", value: typeof ap === "object" ? toNode(ap, `${where}{}`) : { _tag: "Json" } }
      }
      return structOf(shapesOf(s)[0]!, where)
    }
    default:
      return fail(`${where}: unsupported type ${String(s.type)}`)
  }
}

/**
 * Untagged unions decode to their first matching member and ignore unknown keys, so a struct whose
 * keys are a superset of another member's must come first, or its extra fields would be lost.
 * Orders the members of every union by key count, most first (refs resolved).
 */
const orderUnions = (node: Node, structOfRef: (name: string) => Node | undefined): Node => {
  const keyCount = (n: Node, depth = 0): number => {
    const target = n._tag === "Ref" ? structOfRef(n.name) : n
    if (target === undefined || depth > 8) return 0
    if (target._tag === "Struct") return target.fields.length
    if (target._tag === "Union") return Math.max(...target.members.map((m) => keyCount(m, depth + 1)))
    if (target._tag === "Nullable") return keyCount(target.node, depth + 1)
    return 0
  }
  const go = (n: Node): Node => {
    switch (n._tag) {
      case "Array":
        return { ...n, item: go(n.item) }
      case "Record":
        return { ...n, value: go(n.value) }
      case "Nullable":
        return { ...n, node: go(n.node) }
      case "Struct":
        return { ...n, fields: n.fields.map((f) => ({ ...f, node: go(f.node) })), rest: n.rest && go(n.rest) }
      case "Union":
        return { ...n, members: n.members.map(go).sort((a, b) => keyCount(b) - keyCount(a)) }
      default:
        return n
    }
  }
  return go(node)
}

const childrenOf = (node: Node): ReadonlyArray<Node> => {
  switch (node._tag) {
    case "Array":
      return [node.item]
    case "Record":
      return [node.value]
    case "Nullable":
      return [node.node]
    case "Union":
      return node.members
    case "Struct":
      return [...node.fields.map((f) => f.node), ...(node.rest ? [node.rest] : [])]
    default:
      return []
  }
}

/** Names a node refers to, directly or through its children. */
export const refsOf = (node: Node): ReadonlyArray<string> =>
  node._tag === "Ref" ? [node.name] : childrenOf(node).flatMap(refsOf)

const methodOf = (variant: JsonSchema, where: string): { method: string; params: JsonSchema | undefined; paramsRequired: boolean } => {
  const method = variant.properties?.method?.enum?.[0]
  if (typeof method !== "string") return fail(`${where}: a variant without a method literal`)
  return { method, params: variant.properties?.params, paramsRequired: (variant.required ?? []).includes("params") }
}

/**
 * Result types of client requests whose name does not follow `XParams` → `XResponse`.
 * The generator checks each entry against the schema (and that every `*Response` type is claimed).
 */
export const RESULT_OVERRIDES: Readonly<Record<string, string>> = {
  "memory/reset": "MemoryResetResponse",
  "rollout/compress": "RolloutCompressResponse",
  "account/gatewayOAuth/cancel": "GatewayOAuthCancelResponse",
  "remoteControl/status/read": "RemoteControlStatusReadResponse",
  "config/mcpServer/reload": "McpServerRefreshResponse",
  "windowsSandbox/readiness": "WindowsSandboxReadinessResponse",
  "accountSession/list": "AccountSessionsResponse",
  "account/logout": "LogoutAccountResponse",
  "account/securitySetup/read": "GetAccountSecuritySetupResponse",
  "account/workspaceMessages/read": "GetWorkspaceMessagesResponse",
  "externalAgentConfig/import/readHistories": "ExternalAgentConfigImportHistoriesReadResponse",
  "config/value/write": "ConfigWriteResponse",
  "config/batchWrite": "ConfigWriteResponse",
  // 0.171.0: the schema names no result; the server answers with a config write (seen on the wire)
  "modelProvider/default/set": "ConfigWriteResponse",
  "configRequirements/read": "ConfigRequirementsReadResponse"
}

const paramsNode = (params: JsonSchema | undefined, where: string): Node | undefined =>
  params === undefined || isNullSchema(params) ? undefined : toNode(params, where)

const resultName = (method: string, params: Node | undefined, defs: ReadonlyMap<string, unknown>): string => {
  const override = RESULT_OVERRIDES[method]
  if (override !== undefined) return defs.has(override) ? override : fail(`override ${method} → ${override}: no such type`)
  const paramsRef = params === undefined ? undefined : refsOf(params)[0]
  const name = paramsRef?.replace(/Params$/, "Response")
  if (name === undefined || !defs.has(name)) return fail(`no result type for ${method} (params ${paramsRef}); add it to RESULT_OVERRIDES`)
  return name
}

const registry = (
  defs: ReadonlyMap<string, JsonSchema>,
  union: string,
  stableMethods: ReadonlySet<string>,
  withResult: boolean
): Array<Method> =>
  (defs.get(union)?.oneOf ?? fail(`${union} missing`)).map((variant, i) => {
    const { method, params, paramsRequired } = methodOf(variant, `${union}[${i}]`)
    const node = paramsNode(params, `${union}.${method}`)
    return {
      method,
      params: node,
      paramsRequired,
      result: withResult ? resultName(method, node, defs) : undefined,
      experimental: !stableMethods.has(method),
      description: variant.description
    }
  })

const methodsIn = (defs: ReadonlyMap<string, JsonSchema>, union: string): Set<string> =>
  new Set((defs.get(union)?.oneOf ?? []).map((v, i) => methodOf(v, `${union}[${i}]`).method))

/** Builds the model from the two bundles. */
export const buildModel = (stable: Bundle, experimental: Bundle): Model => {
  const stableDefs = flattenDefinitions(stable)
  const defs = flattenDefinitions(experimental)
  for (const name of stableDefs.keys()) if (!defs.has(name)) fail(`stable type ${name} is missing from the experimental schema`)
  const reserved = new Set(["Schema", "JsonValue", "OpenEnum"])
  const read: Array<Definition> = [...defs.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, schema]) => {
      if (reserved.has(name) || !/^[A-Z][A-Za-z0-9]*$/.test(name)) fail(`unusable type name ${name}`)
      return { name, node: toNode(schema, name), description: schema.description, stable: stableDefs.has(name) }
    })
  const nodes = new Map(read.map((d) => [d.name, d.node]))
  const definitions = read.map((d) => ({ ...d, node: orderUnions(d.node, (name) => nodes.get(name)) }))
  const clientRequests = registry(defs, "ClientRequest", methodsIn(stableDefs, "ClientRequest"), true)
  const serverRequests = registry(defs, "ServerRequest", methodsIn(stableDefs, "ServerRequest"), false).map((m) => ({
    ...m,
    result: m.params && refsOf(m.params)[0] ? refsOf(m.params)[0]!.replace(/Params$/, "Response") : fail(`server request ${m.method} without params`)
  }))
  const serverNotifications = registry(defs, "ServerNotification", methodsIn(stableDefs, "ServerNotification"), false)
  const clientNotifications = registry(defs, "ClientNotification", methodsIn(stableDefs, "ClientNotification"), false)
  for (const m of serverRequests) if (!defs.has(m.result!)) fail(`server request ${m.method}: no type ${m.result}`)

  const claimed = new Set([...clientRequests, ...serverRequests].map((m) => m.result!))
  const unclaimed = [...defs.keys()].filter((n) => n.endsWith("Response") && !claimed.has(n) && !n.startsWith("JSONRPC"))
  if (unclaimed.length > 0) fail(`response types no method returns: ${unclaimed.join(", ")}`)

  // What the server sends: notification params, server request params, client request results.
  const byName = new Map(definitions.map((d) => [d.name, d]))
  const serverSent = new Set<string>()
  const visit = (name: string): void => {
    if (serverSent.has(name)) return
    serverSent.add(name)
    for (const ref of refsOf(byName.get(name)?.node ?? fail(`unknown type ${name}`))) visit(ref)
  }
  for (const m of [...serverNotifications, ...serverRequests]) if (m.params) refsOf(m.params).forEach(visit)
  for (const m of clientRequests) visit(m.result!)
  for (const name of ["JSONRPCErrorError", "ServerNotification", "ServerRequest"]) if (byName.has(name)) visit(name)

  return { definitions, clientRequests, serverRequests, serverNotifications, clientNotifications, serverSent }
}
