/**
 * Where the pinned `codex` native binary lives (the platform package of `@openai/codex`), for the
 * scripts and tests of this package.
 */
import { createRequire } from "node:module"
import * as fs from "node:fs"
import * as path from "node:path"

const TARGETS: Record<string, readonly [pkg: string, triple: string]> = {
  "linux-x64": ["@openai/codex-linux-x64", "x86_64-unknown-linux-musl"],
  "linux-arm64": ["@openai/codex-linux-arm64", "aarch64-unknown-linux-musl"],
  "darwin-x64": ["@openai/codex-darwin-x64", "x86_64-apple-darwin"],
  "darwin-arm64": ["@openai/codex-darwin-arm64", "aarch64-apple-darwin"],
  "win32-x64": ["@openai/codex-win32-x64", "x86_64-pc-windows-msvc"],
  "win32-arm64": ["@openai/codex-win32-arm64", "aarch64-pc-windows-msvc"]
}

/** The platform package of `@openai/codex` for this machine and its target triple. */
export const platformTarget = (): readonly [pkg: string, triple: string] => {
  const target = TARGETS[`${process.platform}-${process.arch}`]
  if (target === undefined) throw new Error(`no codex binary for ${process.platform}-${process.arch}`)
  return target
}

/** The native executable inside an unpacked platform package. */
export const binaryIn = (packageDir: string): string =>
  path.join(packageDir, "vendor", platformTarget()[1], "bin", process.platform === "win32" ? "codex.exe" : "codex")

/** Absolute path of the native `codex` executable for this platform. */
export const codexBinaryPath = (): string => {
  const require = createRequire(import.meta.url)
  const pkgJson = require.resolve(`${platformTarget()[0]}/package.json`, { paths: [require.resolve("@openai/codex/package.json")] })
  return binaryIn(path.dirname(pkgJson))
}

/** Version of the installed `@openai/codex` package (the binary the schemas come from). */
export const codexPackageVersion = (): string => {
  const require = createRequire(import.meta.url)
  // read from disk, not through require's cache: codex:bump asks again after installing another version
  const file = require.resolve("@openai/codex/package.json")
  return (JSON.parse(fs.readFileSync(file, "utf8")) as { version: string }).version
}
