/**
 * The difference between two protocol models (two Codex versions), as the Markdown section that
 * `npm run codex:bump` writes to `CHANGES.md`: methods added and removed in each registry (and
 * methods that became or stopped being experimental), types added and removed, and the types
 * that changed, with the fields that changed. Pure: two models in, text out.
 */
import type { Definition, Field, Method, Model, Node } from "./generator.js"

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
      return a === b ? [] : [`${a} → ${b.slice(field.key.length)}`]
    })
  }
}

/** One changed type: field changes for structs, otherwise the old and new shapes. */
export interface TypeChange {
  readonly name: string
  readonly fields: FieldChanges | undefined
  readonly before: string
  readonly after: string
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
  const fields = before.node._tag === "Struct" && after.node._tag === "Struct"
    ? diffFields(before.node.fields, after.node.fields)
    : undefined
  return { name: after.name, fields, before: a, after: b }
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

const code = (text: string) => `\`${text.replace(/`/g, "'")}\``

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
  change.fields === undefined
    ? [`- ${code(change.name)}: ${code(change.before)} → ${code(change.after)}`]
    : [
      `- ${code(change.name)}`,
      ...change.fields.added.map((field) => `  - added ${code(field)}`),
      ...change.fields.removed.map((field) => `  - removed ${code(field)}`),
      ...change.fields.changed.map((field) => `  - changed ${code(field)}`)
    ]

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
