/**
 * `npm run codegen`: asks the pinned `codex` binary for its JSON Schema (stable and
 * `--experimental`) and writes the Effect Schemas under `src/generated/`.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { buildModel, refsOf, type Bundle } from "./generator.js"
import { printMethods, printSchemas, printVersion } from "./printer.js"
import { codexBinaryPath, codexPackageVersion } from "./binary.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const outDir = path.join(here, "..", "src", "generated")

/** Runs `generate-json-schema` of a `codex` binary (the pinned one by default) into a temp dir and reads the bundle. */
export const readBundle = (experimental: boolean, binary: string = codexBinaryPath()): Bundle => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "codex-schema-"))
  try {
    execFileSync(binary, ["app-server", "generate-json-schema", ...(experimental ? ["--experimental"] : []), "--out", dir], {
      stdio: ["ignore", "ignore", "pipe"]
    })
    return JSON.parse(fs.readFileSync(path.join(dir, "codex_app_server_protocol.schemas.json"), "utf8")) as Bundle
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const main = () => {
  const model = buildModel(readBundle(false), readBundle(true))
  fs.mkdirSync(outDir, { recursive: true })
  fs.writeFileSync(path.join(outDir, "Schemas.ts"), printSchemas(model, refsOf))
  fs.writeFileSync(path.join(outDir, "Methods.ts"), printMethods(model))
  fs.writeFileSync(path.join(outDir, "Version.ts"), printVersion(codexPackageVersion()))
  const count = (ms: ReadonlyArray<{ experimental: boolean }>) => `${ms.filter((m) => !m.experimental).length} stable / ${ms.length}`
  process.stdout.write(
    `codegen: ${model.definitions.length} types; client requests ${count(model.clientRequests)}, ` +
      `server notifications ${count(model.serverNotifications)}, server requests ${count(model.serverRequests)}\n`
  )
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) main()
