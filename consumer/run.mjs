// `npm run test:consumer`: the SDK as a user gets it. Packs the four packages, checks what the
// tarballs hold, installs them with `effect@3` from the registry into a fresh project outside the
// workspace (no links, no `source` condition, no tsx), type-checks a user program with `tsc`, runs it
// with plain `node` against the real pinned binary through FakeModel, imports every subpath the
// packages export, type-checks the README's programs, serves an `@effect/ai` Toolkit through
// `@effect-codex/app-server/ai` (with `@effect/ai` 0.37.0, its optional peer, installed), runs a
// conversation's turn on `@effect-codex/cluster`'s `layerSingle` (its `@effect/*` peers installed
// at the exact versions of its devDependencies: npm's `latest` is Effect 4), checks that `effect`
// is a peer of every package, that the project has exactly one `effect`, and that an install on a
// Node older than `engines` warns with the packages' names.
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "..")
const packages = ["protocol", "app-server", "testing", "cluster"]
const npm = process.platform === "win32" ? "npm.cmd" : "npm"
const env = { ...process.env, npm_config_loglevel: "warn", npm_config_fund: "false", npm_config_audit: "false" }

let failures = 0
let passes = 0
const check = (ok, what) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`)
  if (ok) passes++
  else failures++
}
const run = (command, args, cwd, timeout = 600_000) =>
  execFileSync(command, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout })

const work = fs.mkdtempSync(path.join(os.tmpdir(), "effect-codex-consumer-"))
const tarballs = path.join(work, "tarballs")
const project = path.join(work, "project")
fs.mkdirSync(tarballs)

try {
  // 1. Pack (prepack builds a fresh dist/).
  const packed = JSON.parse(
    run(npm, ["pack", "--json", "--pack-destination", tarballs, ...packages.flatMap((p) => ["-w", `packages/${p}`])], root)
  )
  const byName = new Map(packed.map((p) => [p.name, p]))
  for (const name of packages) {
    const info = byName.get(`@effect-codex/${name}`)
    const files = info.files.map((f) => f.path)
    const has = (file) => files.includes(file)
    console.log(
      `tarball ${info.filename}: ${(info.size / 1024).toFixed(1)} KiB packed, ${(info.unpackedSize / 1024).toFixed(1)} KiB unpacked, ${info.entryCount} files`
    )
    check(
      has("dist/index.js") && has("dist/index.d.ts") && has("dist/index.js.map") && has("dist/index.d.ts.map"),
      `${name}: dist/ with .js, .d.ts and maps`
    )
    check(has("src/index.ts") && has("README.md") && has("LICENSE") && has("package.json"), `${name}: src/, README.md, LICENSE`)
    const stray = files.filter((f) => /^(test|docs|build|scripts)\/|tsconfig|vitest|docgen|\.tsbuildinfo$/.test(f))
    check(stray.length === 0, `${name}: no tests, fixtures, tsconfigs or docs output${stray.length ? ` (found ${stray.join(", ")})` : ""}`)
  }

  // 2. A fresh project outside the workspace.
  fs.cpSync(path.join(here, "program"), project, { recursive: true })
  const tarball = (name) => `file:${path.join(tarballs, byName.get(`@effect-codex/${name}`).filename)}`
  const rootPackage = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
  const clusterPackage = JSON.parse(fs.readFileSync(path.join(root, "packages", "cluster", "package.json"), "utf8"))
  const clusterPeers = Object.fromEntries(
    Object.keys(clusterPackage.peerDependencies)
      .filter((name) => name.startsWith("@effect/"))
      .map((name) => [name, clusterPackage.devDependencies[name]])
  )
  fs.writeFileSync(
    path.join(project, "package.json"),
    JSON.stringify(
      {
        name: "effect-codex-consumer",
        private: true,
        type: "module",
        dependencies: {
          "@effect-codex/app-server": tarball("app-server"),
          "@effect-codex/protocol": tarball("protocol"),
          "@effect-codex/testing": tarball("testing"),
          "@effect-codex/cluster": tarball("cluster"),
          // the optional peer dependency of `@effect-codex/app-server/ai`, pinned to the 0.37 line (Effect 3)
          "@effect/ai": "0.37.0",
          // the cluster's peer dependencies, pinned to the versions it is developed with (the Effect 3 line)
          ...clusterPeers,
          effect: "^3.22.4"
        },
        devDependencies: {
          "@types/node": rootPackage.devDependencies["@types/node"],
          typescript: rootPackage.devDependencies.typescript
        }
      },
      null,
      2
    )
  )

  run(npm, ["install", "--prefer-offline"], project)
  check(!fs.existsSync(path.join(project, "node_modules", "@effect-codex", "app-server", "test")), "installed from the tarball (no workspace link)")
  check(
    packages.every((name) => {
      const installed = JSON.parse(fs.readFileSync(path.join(project, "node_modules", "@effect-codex", name, "package.json"), "utf8"))
      return installed.peerDependencies?.effect !== undefined && installed.dependencies?.effect === undefined
    }),
    "effect is a peer dependency of every package, never a dependency"
  )
  check(
    Object.entries(clusterPeers).every(([name, version]) => /^0\.\d+\.\d+$/.test(version) && JSON.parse(fs.readFileSync(path.join(project, "node_modules", name, "package.json"), "utf8")).version === version),
    `the cluster's peers installed at their exact versions (${Object.entries(clusterPeers).map(([n, v]) => `${n}@${v}`).join(", ")})`
  )

  // 3. npm names our packages when the running Node is older than `engines` (Node reports 18.19.0 here).
  const preload = path.join(work, "old-node.cjs")
  fs.writeFileSync(preload, 'Object.defineProperty(process, "version", { value: "v18.19.0" }); Object.defineProperty(process.versions, "node", { value: "18.19.0" })\n')
  const old = spawnSync(npm, ["install", "--dry-run", "--prefer-offline"], { cwd: project, env: { ...env, NODE_OPTIONS: `--require ${preload}` }, encoding: "utf8" })
  check(
    packages.every((name) => old.stderr.includes(`package: '@effect-codex/${name}@`)) && /required: \{ node: '>=20\.4' \}/.test(old.stderr),
    "an install on Node 18 warns EBADENGINE for each package, naming node >=20.4"
  )

  // 4. One effect.
  const effects = run(npm, ["ls", "effect", "--all", "--parseable"], project).trim().split("\n").filter(Boolean)
  const effectVersion = JSON.parse(fs.readFileSync(path.join(project, "node_modules", "effect", "package.json"), "utf8")).version
  console.log(`npm ls effect: ${effects.map((p) => path.relative(project, p)).join(", ")} (effect ${effectVersion})`)
  check(new Set(effects).size === 1 && effectVersion.startsWith("3."), "exactly one effect, on the 3.x line")

  // 5. Every exported subpath: imported by a generated module, type-checked and run.
  const subpaths = []
  for (const name of packages) {
    const dir = path.join(project, "node_modules", "@effect-codex", name)
    const modules = fs.readdirSync(path.join(dir, "dist"))
      .filter((f) => f.endsWith(".js") && f !== "index.js")
      .map((f) => f.slice(0, -3))
    subpaths.push(`@effect-codex/${name}`, ...modules.map((m) => `@effect-codex/${name}/${m}`))
  }
  subpaths.push("@effect-codex/protocol/generated/Schemas", "@effect-codex/protocol/generated/Methods", "@effect-codex/protocol/generated/Version")
  check(subpaths.includes("@effect-codex/app-server/ai"), "the @effect/ai subpath (@effect-codex/app-server/ai) is exported and covered")
  fs.writeFileSync(
    path.join(project, "src", "exports.ts"),
    "// Generated by consumer/run.mjs: every subpath the packages export.\n" +
      subpaths.map((s, i) => `import * as m${i} from "${s}"`).join("\n") +
      `\nconst modules: ReadonlyArray<object> = [${subpaths.map((_, i) => `m${i}`).join(", ")}]\n` +
      `console.log(\`imported \${modules.filter((m) => Object.keys(m).length > 0).length} of ${subpaths.length} subpaths\`)\n`
  )

  // 6. The README's "Use it in your project" programs, as a user pastes them (type-checked only: they need a model).
  const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
  const section = readme.slice(readme.indexOf("## Use it in your project"), readme.indexOf("\n## ", readme.indexOf("## Use it in your project") + 1))
  const snippets = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1])
  check(snippets.length === 2, `the README's "Use it in your project" has its two programs (found ${snippets.length})`)
  snippets.forEach((code, i) => fs.writeFileSync(path.join(project, "src", `readme-${i + 1}.ts`), `// From README.md.\n${code}export {}\n`))

  // 7. tsc, then plain node.
  const tsc = spawnSync(path.join(project, "node_modules", ".bin", "tsc"), ["-p", "."], { cwd: project, env, encoding: "utf8" })
  if (tsc.status !== 0) console.log(tsc.stdout, tsc.stderr)
  check(tsc.status === 0, "tsc (strict, NodeNext, exactOptionalPropertyTypes, no skipLibCheck) accepts the program")

  const exportsRun = spawnSync(process.execPath, ["out/exports.js"], { cwd: project, env, encoding: "utf8", timeout: 60_000 })
  check(
    exportsRun.status === 0 && exportsRun.stdout.includes(`imported ${subpaths.length} of ${subpaths.length} subpaths`),
    `every exported subpath imports under plain node (${subpaths.length}): ${exportsRun.stdout.trim() || exportsRun.stderr.trim()}`
  )

  const program = spawnSync(process.execPath, ["out/main.js"], { cwd: project, env, encoding: "utf8", timeout: 180_000 })
  process.stdout.write(program.stdout.trimEnd().replace(/^/gm, "  | ") + "\n")
  if (program.status !== 0) process.stdout.write(program.stderr)
  const out = program.stdout
  check(program.status === 0, "the program exits 0 under plain node")
  check(out.includes(`effect: approval asked for "echo from-effect"`) || /effect: approval asked for ".*echo from-effect/.test(out), "effect: the approval handler ran")
  check(out.includes(`effect: command output "from-effect"`), "effect: the command ran and its output streamed")
  check(out.includes(`effect: streamed answer "The command printed from-effect."`), "effect: the streamed final answer")
  check(out.includes(`effect: run answer "Done."`), "effect: thread.run's answer")
  check(/promise: approval asked for ".*echo from-promise/.test(out), "promise: the approval callback ran")
  check(
    out.includes(`promise: streamed answer "The command printed from-promise.", final "The command printed from-promise."`),
    "promise: the streamed turn and its final answer"
  )
  check(out.includes("promise: done"), "promise: the client closed")

  const ai = spawnSync(process.execPath, ["out/ai.js"], { cwd: project, env, encoding: "utf8", timeout: 120_000 })
  process.stdout.write(ai.stdout.trimEnd().replace(/^/gm, "  | ") + "\n")
  if (ai.status !== 0) process.stdout.write(ai.stderr)
  check(
    ai.status === 0 && ai.stdout.includes(`ai: tool output "42", answer "2 + 40 = 42."`) && ai.stdout.includes("ai: done"),
    "ai: an @effect/ai Toolkit served to the real binary (the handler's result reached the model)"
  )

  const clusterStart = Date.now()
  const cluster = spawnSync(process.execPath, ["out/cluster.js"], { cwd: project, env, encoding: "utf8", timeout: 120_000 })
  process.stdout.write(cluster.stdout.trimEnd().replace(/^/gm, "  | ") + "\n")
  if (cluster.status !== 0) process.stdout.write(cluster.stderr)
  check(
    cluster.status === 0 && cluster.stdout.includes(`cluster: answer "Hello from the cluster.", turn completed`) &&
      cluster.stdout.includes(`cluster: stored [["consumer:1",true]]`) && cluster.stdout.includes("cluster: done"),
    `cluster: a conversation's turn on CodexCluster.layerSingle (SQLite), and node exited by itself (${Date.now() - clusterStart} ms)`
  )
} catch (error) {
  console.log(String(error.stderr ?? error.stdout ?? error))
  check(false, `consumer test step failed: ${error.message}`)
} finally {
  if (process.env.KEEP_CONSUMER !== "1") fs.rmSync(work, { recursive: true, force: true })
  else console.log(`kept ${work}`)
}

console.log(`consumer: ${passes} passed, ${failures} failed`)
process.exitCode = failures === 0 ? 0 : 1
