/**
 * The difference between two protocol models (two Codex versions), as the Markdown section that
 * `npm run codex:bump` writes to `CHANGES.md`: methods added and removed in each registry (and
 * methods that became or stopped being experimental), types added and removed, and the types
 * that changed, with the fields that changed. Pure: two models in, text out.
 */
import type { Definition, Field, Method, Model, Node } from "./generator.js"

const code = (text: string) => `\`${text.replace(/`/g, "'")}\``

/** A short, stable, one-line description of a node (`string | null`, `Thread[]`, `{ id, name? }`). */
export const describeNode = (node: Node): string => {
  switch (node._tag) {
    case "Ref":
      return node.name
    case "String":
    case "Number":
    case "Boolean":
    case "Null":
      return node._tag.toLowerCase()
    case "Integer":
      return "integer"
    case "Json":
      return "unknown"
    case "Enum":
      return node.values.map((value) => JSON.stringify(value)).join(" | ")
    case "Array": {
      const item = describeNode(node.item)
      return /[ |]/.test(item) ? `Array<${item}>` : `${item}[]`
    }
    case "Record":
      return `Record<string, ${describeNode(node.value)}>`
    case "Struct":
      return `{ ${node.fields.map(describeField).join(", ")}${node.rest === undefined ? "" : ", …"} }`
    case "Union":
      return node.members.map(describeNode).join(" | ")
    case "Nullable":
      return `${describeNode(node.node)} | null`
  }
}

const describeField = (field: Field): string => `${field.key}${field.optional ? "?" : ""}: ${describeNode(field.node)}`

/** What changed in one struct's fields. */
export interface FieldChanges {
  readonly added: ReadonlyArray<string>
  readonly removed: ReadonlyArray<string>
  readonly changed: ReadonlyArray<string>
}

/** Field-level changes of two structs (`key: type` for added ones, `key: old → new` for changed ones). */
export const diffFields = (before: ReadonlyArray<Field>, after: ReadonlyArray<Field>): FieldChanges => {
  const old = new Map(before.map((field) => [field.key, field]))
  const now = new Map(after.map((field) => [field.key, field]))
  return {
    added: after.filter((field) => !old.has(field.key)).map(describeField),
    removed: before.filter((field) => !now.has(field.key)).map((field) => field.key),
    changed: after.flatMap((field) => {
      const previous = old.get(field.key)
      if (previous === undefined) return []
      const [a, b] = [describeField(previous), describeField(field)]
      return a === b ? [] : [`${a} → ${b}`]
    })
  }
}

/**
 * One changed type: what changed in a struct's fields, in a union's members (each compared like
 * a type of its own) or in an enum's values; otherwise only the old and new shapes.
 */
export interface TypeChange {
  readonly name: string
  /** Lines of detail (`added x: string`, `member type: "a"` …), empty when only the shapes say it. */
  readonly details: ReadonlyArray<string>
  readonly before: string
  readonly after: string
}

/**
 * The members of a union keyed by what tells them apart: their tag field (`type: "x"`), their
 * only key (`{ httpConnectionFailed }`), or `string enum`; a repeated key gets a number
 * (`type: "imageGeneration" #2`).
 */
const unionMembers = (node: Node): Map<string, Node> | undefined => {
  if (node._tag !== "Union") return undefined
  const members = new Map<string, Node>()
  for (const member of node.members) {
    let key: string
    if (member._tag === "Struct") {
      const tag = member.fields.find((field) => field.node._tag === "Enum" && field.node.values.length === 1)
      if (tag !== undefined && tag.node._tag === "Enum") key = `${tag.key}: ${JSON.stringify(tag.node.values[0])}`
      else if (member.fields.length === 1) key = `{ ${member.fields[0]!.key} }` // length checked
      else return undefined
    } else if (member._tag === "Enum") {
      key = "string enum"
    } else {
      key = describeNode(member)
    }
    let unique = key
    for (let n = 2; members.has(unique); n++) unique = `${key} #${n}`
    members.set(unique, member)
  }
  return members
}

const fieldLines = (changes: FieldChanges): ReadonlyArray<string> => [
  ...changes.added.map((field) => `added ${code(field)}`),
  ...changes.removed.map((field) => `removed ${code(field)}`),
  ...changes.changed.map((field) => `changed ${code(field)}`)
]

/** Detail lines for two shapes of one type, or `undefined` when only the shapes can say it. */
const detailsOf = (before: Node, after: Node): ReadonlyArray<string> | undefined => {
  if (before._tag === "Struct" && after._tag === "Struct") return fieldLines(diffFields(before.fields, after.fields))
  if (before._tag === "Enum" && after._tag === "Enum") {
    return [
      ...after.values.filter((value) => !before.values.includes(value)).map((value) => `added value ${code(JSON.stringify(value))}`),
      ...before.values.filter((value) => !after.values.includes(value)).map((value) => `removed value ${code(JSON.stringify(value))}`)
    ]
  }
  const [old, now] = [unionMembers(before), unionMembers(after)]
  if (old === undefined || now === undefined) return undefined
  return [
    ...[...now.keys()].filter((key) => !old.has(key)).map((key) => `added member ${code(key)}: ${code(describeNode(now.get(key)!))}`),
    ...[...old.keys()].filter((key) => !now.has(key)).map((key) => `removed member ${code(key)}`),
    ...[...now].flatMap(([key, member]) => {
      const previous = old.get(key)
      if (previous === undefined || describeNode(previous) === describeNode(member)) return []
      const details = detailsOf(previous, member)
      return details === undefined
        ? [`changed member ${code(key)}: ${code(describeNode(previous))} → ${code(describeNode(member))}`]
        : [`member ${code(key)}`, ...details.map((line) => `  ${line}`)]
    })
  ]
}

/** Added, removed and changed entries of one registry. */
export interface RegistryChanges {
  readonly added: ReadonlyArray<string>
  readonly removed: ReadonlyArray<string>
  /** Methods whose experimental flag, params or result changed. */
  readonly changed: ReadonlyArray<string>
}

/** The whole difference of two models. */
export interface ProtocolChanges {
  readonly clientRequests: RegistryChanges
  readonly serverRequests: RegistryChanges
  readonly serverNotifications: RegistryChanges
  readonly clientNotifications: RegistryChanges
  readonly typesAdded: ReadonlyArray<string>
  readonly typesRemoved: ReadonlyArray<string>
  readonly typesChanged: ReadonlyArray<TypeChange>
}

const describeMethod = (method: Method): string =>
  `${method.experimental ? "experimental " : ""}(${method.params === undefined ? "" : describeNode(method.params)}) → ${
    method.result ?? "void"
  }`

const diffRegistry = (before: ReadonlyArray<Method>, after: ReadonlyArray<Method>): RegistryChanges => {
  const old = new Map(before.map((method) => [method.method, method]))
  const now = new Map(after.map((method) => [method.method, method]))
  const label = (method: Method) => `${method.method}${method.experimental ? " (experimental)" : ""}`
  return {
    added: after.filter((method) => !old.has(method.method)).map(label),
    removed: before.filter((method) => !now.has(method.method)).map(label),
    changed: after.flatMap((method) => {
      const previous = old.get(method.method)
      if (previous === undefined) return []
      const [a, b] = [describeMethod(previous), describeMethod(method)]
      return a === b ? [] : [`${method.method}: ${a} ⇒ ${b}`]
    })
  }
}

const diffType = (before: Definition, after: Definition): TypeChange | undefined => {
  const [a, b] = [describeNode(before.node), describeNode(after.node)]
  if (a === b) return undefined
  return { name: after.name, details: detailsOf(before.node, after.node) ?? [], before: a, after: b }
}

/** Compares two models. */
export const diffModels = (before: Model, after: Model): ProtocolChanges => {
  const old = new Map(before.definitions.map((definition) => [definition.name, definition]))
  const now = new Map(after.definitions.map((definition) => [definition.name, definition]))
  return {
    clientRequests: diffRegistry(before.clientRequests, after.clientRequests),
    serverRequests: diffRegistry(before.serverRequests, after.serverRequests),
    serverNotifications: diffRegistry(before.serverNotifications, after.serverNotifications),
    clientNotifications: diffRegistry(before.clientNotifications, after.clientNotifications),
    typesAdded: after.definitions.filter((definition) => !old.has(definition.name)).map((definition) => definition.name),
    typesRemoved: before.definitions.filter((definition) => !now.has(definition.name)).map((definition) => definition.name),
    typesChanged: after.definitions.flatMap((definition) => {
      const previous = old.get(definition.name)
      const change = previous === undefined ? undefined : diffType(previous, definition)
      return change === undefined ? [] : [change]
    })
  }
}

const registrySection = (title: string, changes: RegistryChanges): ReadonlyArray<string> =>
  changes.added.length + changes.removed.length + changes.changed.length === 0
    ? []
    : [
      `### ${title}`,
      "",
      ...changes.added.map((method) => `- added ${code(method)}`),
      ...changes.removed.map((method) => `- removed ${code(method)}`),
      ...changes.changed.map((method) => `- changed ${code(method)}`),
      ""
    ]

const typeChangeLines = (change: TypeChange): ReadonlyArray<string> =>
  change.details.length === 0
    ? [`- ${code(change.name)}: ${code(change.before)} → ${code(change.after)}`]
    : [`- ${code(change.name)}`, ...change.details.map((line) => `${line.replace(/^( *)/, "  $1- ")}`)]

/** True when nothing differs. */
export const isEmpty = (changes: ProtocolChanges): boolean =>
  [changes.clientRequests, changes.serverRequests, changes.serverNotifications, changes.clientNotifications].every(
    (registry) => registry.added.length + registry.removed.length + registry.changed.length === 0
  ) && changes.typesAdded.length + changes.typesRemoved.length + changes.typesChanged.length === 0

/** The Markdown section for `CHANGES.md`: `## <from> → <to>` and one subsection per kind of change. */
export const printChanges = (from: string, to: string, changes: ProtocolChanges): string => {
  const counts = (registry: RegistryChanges) => `+${registry.added.length} −${registry.removed.length}`
  const lines = [
    `## ${from} → ${to}`,
    "",
    `Client requests ${counts(changes.clientRequests)}, server requests ${counts(changes.serverRequests)}, ` +
    `server notifications ${counts(changes.serverNotifications)}; types +${changes.typesAdded.length} ` +
    `−${changes.typesRemoved.length}, ${changes.typesChanged.length} changed.`,
    "",
    ...(isEmpty(changes) ? ["No difference in the protocol.", ""] : []),
    ...registrySection("Client requests", changes.clientRequests),
    ...registrySection("Server requests", changes.serverRequests),
    ...registrySection("Server notifications", changes.serverNotifications),
    ...registrySection("Client notifications", changes.clientNotifications),
    ...(changes.typesAdded.length === 0 ? [] : ["### Types added", "", changes.typesAdded.map(code).join(", "), ""]),
    ...(changes.typesRemoved.length === 0 ? [] : ["### Types removed", "", changes.typesRemoved.map(code).join(", "), ""]),
    ...(changes.typesChanged.length === 0 ? [] : ["### Types changed", "", ...changes.typesChanged.flatMap(typeChangeLines), ""])
  ]
  return lines.join("\n")
}
