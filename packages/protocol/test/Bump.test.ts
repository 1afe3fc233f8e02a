// `npm run codex:bump` on bad input: it stops with a message and leaves the workspace as it was.
// The script runs for real; only `npm` is replaced (a fake on PATH playing the registry), so no
// network is needed and nothing is installed.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { platformTarget } from "../scripts/binary.js"

const protocolDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const root = path.resolve(protocolDir, "..", "..")
const bump = path.join(protocolDir, "scripts", "bump.ts")
const tsx = path.join(root, "node_modules", "tsx", "dist", "cli.mjs")

/** Every file `codex:bump` may write: the package files, the lockfile, CHANGES.md and the generated code. */
const watched = (): Map<string, string> => {
  const files = [
    path.join(root, "package.json"),
    path.join(root, "package-lock.json"),
    path.join(protocolDir, "CHANGES.md"),
    ...fs.readdirSync(path.join(root, "packages")).map((name) => path.join(root, "packages", name, "package.json")),
    ...fs.readdirSync(path.join(protocolDir, "src", "generated")).map((name) => path.join(protocolDir, "src", "generated", name)),
    ...fs.readdirSync(path.join(protocolDir, "test", "fixtures")).map((name) => path.join(protocolDir, "test", "fixtures", name))
  ]
  return new Map(files.filter((file) => fs.existsSync(file)).map((file) => [file, fs.readFileSync(file, "utf8")]))
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "effect-codex-bump-test-"))
afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

/**
 * A fake `npm` in a folder of its own: `npm view` answers as the registry does for a version it
 * does not have (or finds it, with `viewOk`); `npm pack` makes a platform package whose `codex`
 * is `binary` (a shell script).
 */
const fakeNpm = (name: string, options: { readonly viewOk: boolean; readonly binary?: string }): string => {
  const dir = path.join(work, name)
  const triple = platformTarget()[1]
  const pkg = path.join(dir, "pkg", "package", "vendor", triple, "bin")
  fs.mkdirSync(pkg, { recursive: true })
  fs.writeFileSync(path.join(pkg, "codex"), options.binary ?? "#!/bin/sh\nexit 1\n", { mode: 0o755 })
  fs.writeFileSync(
    path.join(dir, "npm"),
    [
      "#!/bin/sh",
      'case "$1" in',
      options.viewOk
        ? '  view) echo "$2" | sed "s/.*@//"; exit 0 ;;'
        : `  view) echo "npm error code E404" >&2; echo "npm error 404 No match found for version \${2##*@}" >&2; echo "npm error 404  '$2' is not in this registry." >&2; exit 1 ;;`,
      `  pack) dest="$4"; tar -czf "$dest/codex-fake.tgz" -C "${path.join(dir, "pkg")}" package; echo codex-fake.tgz; exit 0 ;;`,
      '  *) echo "fake npm: unexpected $*" >&2; exit 1 ;;',
      "esac",
      ""
    ].join("\n"),
    { mode: 0o755 }
  )
  return dir
}

const runBump = (args: ReadonlyArray<string>, npmDir?: string) =>
  spawnSync(process.execPath, [tsx, bump, ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, PATH: npmDir === undefined ? process.env.PATH : `${npmDir}${path.delimiter}${process.env.PATH}` }
  })

describe("codex:bump on bad input", () => {
  it("a malformed version: usage, exit 2, nothing touched", () => {
    const before = watched()
    const result = runBump(["not-a-version"])
    expect(result.status).toBe(2)
    expect(result.stdout).toContain('usage: npm run codex:bump -- <version> (e.g. 0.171.0); got "not-a-version"')
    expect(watched()).toEqual(before)
  })

  it("a version the registry does not have: the registry's reason, exit 1, nothing touched", () => {
    const before = watched()
    const result = runBump(["9999.0.0"], fakeNpm("missing", { viewOk: false }))
    expect(result.status).toBe(1)
    expect(result.stdout).toContain("@openai/codex@9999.0.0 cannot be had from the registry: npm error 404 No match found for version 9999.0.0")
    expect(watched()).toEqual(before)
  })

  it("a binary that fails to generate its JSON Schema: its stderr, exit 1, nothing touched", () => {
    const before = watched()
    const binary = '#!/bin/sh\necho "error: unrecognized subcommand generate-json-schema" >&2\nexit 2\n'
    const result = runBump(["9999.0.0"], fakeNpm("broken", { viewOk: true, binary }))
    expect(result.status).toBe(1)
    expect(result.stdout).toContain("the codex 9999.0.0 binary failed to generate its JSON Schema")
    expect(result.stdout).toContain("unrecognized subcommand generate-json-schema")
    expect(watched()).toEqual(before)
  })
})
