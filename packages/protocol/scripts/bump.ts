/**
 * `npm run codex:bump -- <version>`: moves the whole workspace to another Codex version.
 *
 * 1. Checks the version before touching anything: it must exist on the registry, and the native
 *    binary of its platform package (fetched with `npm pack` into a temp folder) must generate its
 *    JSON Schema, which the generator must accept. Any failure here stops with a message and the
 *    tree as it was.
 * 2. Rewrites every pin: `@openai/codex` and `@effect-codex/protocol` in each package.json
 *    (dependencies, peers, dev dependencies, the root `overrides`) and the protocol package's
 *    version; then `npm install` (on failure the package files are restored).
 * 3. Regenerates the protocol (`npm run codegen`, which also writes the generated `Version`).
 * 4. Writes the protocol diff between the two versions to `packages/protocol/CHANGES.md` (newest
 *    first) and to stdout.
 * 5. Type-checks the workspace (`tsc -b`); when that passes, re-captures the real-traffic fixture
 *    (`scripts/capture-traffic.ts`) and removes the old version's one.
 *
 * A failing type-check or capture leaves the bumped tree in place (the code must be adapted to
 * what changed: the diff says what) and exits with 1.
 *
 * `npm run codex:bump -- --changes <from> <to>` only (re)writes the diff of two published versions.
 */
import { execFileSync, type ExecFileSyncOptions } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { binaryIn, codexPackageVersion, platformTarget } from "./binary.js"
import { readBundle } from "./codegen.js"
import { diffModels, printChanges } from "./diff.js"
import { buildModel, type Model } from "./generator.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "..", "..", "..")
const protocolDir = path.join(root, "packages", "protocol")
const changesFile = path.join(protocolDir, "CHANGES.md")
const fixturesDir = path.join(protocolDir, "test", "fixtures")
const PINNED = ["@openai/codex", "@effect-codex/protocol"]
const CHANGES_HEADER = "# Protocol changes\n\nWhat changed in the app-server protocol between the Codex versions this package was generated\nfrom, newest first. Written by `npm run codex:bump`.\n\n"

class BumpError extends Error {}

const npm = process.platform === "win32" ? "npm.cmd" : "npm"

// `npm run -s` passes `npm_config_loglevel=silent` down, which would hide the registry's errors.
const env = { ...process.env, npm_config_loglevel: "warn" }

const run = (command: string, args: ReadonlyArray<string>, options: ExecFileSyncOptions = {}): string =>
  execFileSync(command, args, { cwd: root, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...options }).toString()

const stderrOf = (error: unknown): string => {
  const stderr = (error as { stderr?: unknown }).stderr
  const text = typeof stderr === "string" ? stderr : Buffer.isBuffer(stderr) ? stderr.toString("utf8") : String(error)
  return text.trim().split("\n").slice(-15).join("\n")
}

const say = (line: string) => process.stdout.write(`codex:bump: ${line}\n`)

/** Every package.json of the workspace. */
const packageFiles = (): ReadonlyArray<string> => [
  path.join(root, "package.json"),
  ...fs.readdirSync(path.join(root, "packages")).map((name) => path.join(root, "packages", name, "package.json"))
    .filter((file) => fs.existsSync(file))
]

/** Replaces the pins equal to `from` under any key in `PINNED`, at any depth (overrides nest). */
const repin = (value: unknown, from: string, to: string): unknown => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value
  return Object.fromEntries(
    Object.entries(value).map(([key, entry]) => [
      key,
      PINNED.includes(key) && entry === from ? to : repin(entry, from, to)
    ])
  )
}

/** Step 1: the new binary's model, or a `BumpError` that says why not. */
const modelOf = (version: string): Model => {
  const [platformPackage] = platformTarget()
  const spec = `@openai/codex@${version}-${platformPackage.replace("@openai/codex-", "")}`
  try {
    run(npm, ["view", `@openai/codex@${version}`, "version"])
  } catch (error) {
    const reason = stderrOf(error).split("\n").find((line) => /No match|Not Found|ENOTFOUND|ETIMEDOUT|EAI_AGAIN/.test(line))
    throw new BumpError(`@openai/codex@${version} cannot be had from the registry: ${reason ?? stderrOf(error)}`)
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "codex-bump-"))
  try {
    say(`fetching ${spec}`)
    let tarball: string
    try {
      tarball = run(npm, ["pack", spec, "--pack-destination", dir, "--silent"]).trim().split("\n").pop() ?? ""
      run("tar", ["-xzf", path.join(dir, tarball), "-C", dir])
    } catch (error) {
      throw new BumpError(`could not fetch ${spec}, the native binary of codex ${version}: ${stderrOf(error)}`)
    }
    const binary = binaryIn(path.join(dir, "package"))
    const bundles = [false, true].map((experimental) => {
      try {
        return readBundle(experimental, binary)
      } catch (error) {
        throw new BumpError(
          `the codex ${version} binary failed to generate its JSON Schema` +
            `${experimental ? " (--experimental)" : ""}: ${stderrOf(error)}`
        )
      }
    })
    try {
      return buildModel(bundles[0]!, bundles[1]!) // two bundles, read just above
    } catch (error) {
      throw new BumpError(`the generator does not accept the protocol of codex ${version}: ${String(error)}`)
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Step 2: rewrites the pins and installs; restores the package files when the install fails. */
const repinAndInstall = (from: string, to: string): void => {
  const files = [...packageFiles(), path.join(root, "package-lock.json")]
  const saved = new Map(files.map((file) => [file, fs.readFileSync(file, "utf8")]))
  for (const file of packageFiles()) {
    const json = JSON.parse(saved.get(file)!) as Record<string, unknown> // read above
    const next = repin(json, from, to) as Record<string, unknown>
    if (file === path.join(protocolDir, "package.json")) next["version"] = to
    const text = JSON.stringify(next, null, 2) + "\n"
    if (text !== saved.get(file)) fs.writeFileSync(file, text)
  }
  try {
    say("npm install")
    run(npm, ["install", "--no-audit", "--no-fund"])
  } catch (error) {
    for (const [file, text] of saved) fs.writeFileSync(file, text)
    throw new BumpError(`npm install failed; the package files are restored (run \`npm install\` to resync node_modules):\n${stderrOf(error)}`)
  }
}

/** Step 4: prepends the section to CHANGES.md (replacing an older section for the same step). */
const recordChanges = (section: string, from: string, to: string): void => {
  const previous = fs.existsSync(changesFile) ? fs.readFileSync(changesFile, "utf8") : CHANGES_HEADER
  const body = previous.startsWith(CHANGES_HEADER) ? previous.slice(CHANGES_HEADER.length) : previous
  const sections = body.split(/^(?=## )/m).filter((part) => part.trim() !== "" && !part.startsWith(`## ${from} → ${to}\n`))
  fs.writeFileSync(changesFile, CHANGES_HEADER + [section.trimEnd() + "\n", ...sections.map((part) => part.trimEnd() + "\n")].join("\n"))
}

/** Step 5: `tsc -b`, then the traffic fixture of the new version. */
const checkAndCapture = (from: string, to: string): boolean => {
  try {
    say("type-checking (tsc -b)")
    run(path.join(root, "node_modules", ".bin", "tsc"), ["-b"])
  } catch (error) {
    const output = String((error as { stdout?: unknown }).stdout ?? "").trim().split("\n").slice(0, 40).join("\n")
    say(`the workspace does not type-check against codex ${to}; adapt the code to the changes above, then run ` +
      "`npx tsx --conditions=source packages/protocol/scripts/capture-traffic.ts`:\n" + output)
    return false
  }
  try {
    say("capturing real traffic")
    run(path.join(root, "node_modules", ".bin", "tsx"), ["--conditions=source", path.join(here, "capture-traffic.ts")])
  } catch (error) {
    say(`the traffic capture failed against codex ${to}:\n${stderrOf(error)}`)
    return false
  }
  const old = path.join(fixturesDir, `traffic-${from}.jsonl`)
  if (fs.existsSync(old)) fs.rmSync(old)
  return true
}

/** `--changes <from> <to>`: the diff of two published versions, recorded and printed. */
const changesOnly = (from: string, to: string): number => {
  const section = printChanges(from, to, diffModels(modelOf(from), modelOf(to)))
  recordChanges(section, from, to)
  process.stdout.write(`\n${section}\n`)
  return 0
}

const isVersion = (text: string) => /^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(text)

const main = (): number => {
  if (process.argv[2] === "--changes") {
    const [from = "", to = ""] = process.argv.slice(3)
    if (!isVersion(from) || !isVersion(to)) {
      say("usage: npm run codex:bump -- --changes <from> <to>")
      return 2
    }
    try {
      return changesOnly(from, to)
    } catch (error) {
      if (error instanceof BumpError) {
        say(error.message)
        return 1
      }
      throw error
    }
  }
  const to = process.argv[2] ?? ""
  if (!isVersion(to)) {
    say(`usage: npm run codex:bump -- <version> (e.g. 0.171.0); got ${JSON.stringify(to)}`)
    return 2
  }
  const from = codexPackageVersion()
  if (from === to) {
    say(`already on codex ${to}; nothing to do (\`npm run codegen\` regenerates the protocol)`)
    return 0
  }
  try {
    const before = buildModel(readBundle(false), readBundle(true))
    const after = modelOf(to)
    repinAndInstall(from, to)
    say("regenerating the protocol")
    run(npm, ["run", "codegen"])
    if (codexPackageVersion() !== to) throw new BumpError(`after the install @openai/codex is ${codexPackageVersion()}, not ${to}`)
    const section = printChanges(from, to, diffModels(before, after))
    recordChanges(section, from, to)
    process.stdout.write(`\n${section}\n`)
    say(`wrote ${path.relative(root, changesFile)}`)
    const ok = checkAndCapture(from, to)
    say(ok ? `moved from codex ${from} to ${to}; run \`npm test\`` : `moved the pins to codex ${to}, with the work above left to do`)
    return ok ? 0 : 1
  } catch (error) {
    if (error instanceof BumpError) {
      say(error.message)
      return 1
    }
    throw error
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  process.exitCode = main()
}
