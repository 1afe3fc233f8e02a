// Test helper: the pinned binary's own JSON Schema (stable and experimental), generated once per run.
import { readBundle } from "../scripts/codegen.js"
import type { Bundle, JsonSchema } from "../scripts/generator.js"

let cache: { stable: Bundle; experimental: Bundle } | undefined

/** Both bundles, straight from `codex app-server generate-json-schema`. */
export const bundles = () => (cache ??= { stable: readBundle(false), experimental: readBundle(true) })

/** The JSON pointer of a named type inside a bundle (root namespace first, then v2). */
export const pointerOf = (bundle: Bundle, name: string): string =>
  name in bundle.definitions && name !== "v2" ? `#/definitions/${name}` : `#/definitions/v2/${name}`

/** The method names of one of the bundle's registry unions. */
export const methodsOf = (bundle: Bundle, union: string): Array<string> => {
  const defs = bundle.definitions as Record<string, JsonSchema>
  const schema = defs[union] ?? (bundle.definitions.v2 as Record<string, JsonSchema>)[union]
  return (schema?.oneOf ?? []).map((v) => v.properties?.method?.enum?.[0] as string)
}
