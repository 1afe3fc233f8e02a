/**
 * Where the pinned `codex` native binary lives (the platform package of `@openai/codex`), for the
 * scripts and tests of this package.
 */
import { createRequire } from "node:module"
import * as path from "node:path"

const TARGETS: Record<string, readonly [pkg: string, triple: string]> = {
  "linux-x64": ["@openai/codex-linux-x64", "x86_64-unknown-linux-musl"],
  "linux-arm64": ["@openai/codex-linux-arm64", "aarch64-unknown-linux-musl"],
  "darwin-x64": ["@openai/codex-darwin-x64", "x86_64-apple-darwin"],
  "darwin-arm64": ["@openai/codex-darwin-arm64", "aarch64-apple-darwin"],
  "win32-x64": ["@openai/codex-win32-x64", "x86_64-pc-windows-msvc"],
  "win32-arm64": ["@openai/codex-win32-arm64", "aarch64-pc-windows-msvc"]
}

/** Absolute path of the native `codex` executable for this platform. */
export const codexBinaryPath = (): string => {
  const target = TARGETS[`${process.platform}-${process.arch}`]
  if (target === undefined) throw new Error(`no codex binary for ${process.platform}-${process.arch}`)
  const require = createRequire(import.meta.url)
  const pkgJson = require.resolve(`${target[0]}/package.json`, { paths: [require.resolve("@openai/codex/package.json")] })
  return path.join(path.dirname(pkgJson), "vendor", target[1], "bin", process.platform === "win32" ? "codex.exe" : "codex")
}

/** Version of the installed `@openai/codex` package (the binary the schemas come from). */
export const codexPackageVersion = (): string => {
  const require = createRequire(import.meta.url)
  return (require("@openai/codex/package.json") as { version: string }).version
}
