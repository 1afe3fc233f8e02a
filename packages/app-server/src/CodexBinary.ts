/**
 * Finds the `codex` executable to spawn.
 *
 * Order:
 * 1. `config.codexBin` when set: a path (absolute, or relative to the current directory) or a bare
 *    command name looked up on `PATH`. It must be an executable file; there is no fallback.
 * 2. The native binary of the pinned `@openai/codex` package for this platform: the optional
 *    dependency `@openai/codex-<platform>-<arch>` holds it under
 *    `vendor/<target-triple>/bin/codex[.exe]` (the same mapping as `@openai/codex/bin/codex.js`).
 *    The native binary is spawned directly, not the Node wrapper: one process less, ~150 ms faster
 *    startup on Node < 22.15, and signals reach the server itself.
 * 3. Otherwise `CodexBinaryNotFoundError`, listing everything that was tried and how to fix it.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { constants as fsConstants } from "node:fs"
import * as Fs from "node:fs/promises"
import { createRequire } from "node:module"
import * as Path from "node:path"
import { codexVersion } from "@effect-codex/protocol/generated/Version"
import type { CodexConfig } from "./CodexConfig.js"
import { CodexBinaryNotFoundError } from "./CodexError.js"

/**
 * The `@openai/codex` version this SDK is built and tested against (and depends on, exactly).
 *
 * @since 0.1.0
 * @category constants
 */
export const CODEX_VERSION: string = codexVersion

/**
 * A platform the pinned package ships a native binary for.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  /** Rust target triple, the directory under `vendor/`. */
  readonly triple: string
  /** The npm alias of the platform package, e.g. `@openai/codex-linux-x64`. */
  readonly packageName: string
  /** File name of the executable. */
  readonly executable: string
}

const targets: Readonly<Record<string, Target>> = {
  "linux-x64": {
    triple: "x86_64-unknown-linux-musl",
    packageName: "@openai/codex-linux-x64",
    executable: "codex"
  },
  "linux-arm64": {
    triple: "aarch64-unknown-linux-musl",
    packageName: "@openai/codex-linux-arm64",
    executable: "codex"
  },
  "darwin-x64": { triple: "x86_64-apple-darwin", packageName: "@openai/codex-darwin-x64", executable: "codex" },
  "darwin-arm64": {
    triple: "aarch64-apple-darwin",
    packageName: "@openai/codex-darwin-arm64",
    executable: "codex"
  },
  "win32-x64": {
    triple: "x86_64-pc-windows-msvc",
    packageName: "@openai/codex-win32-x64",
    executable: "codex.exe"
  },
  "win32-arm64": {
    triple: "aarch64-pc-windows-msvc",
    packageName: "@openai/codex-win32-arm64",
    executable: "codex.exe"
  }
}

/**
 * The native target for a Node `platform` / `arch` pair (`android` counts as `linux`), or
 * `undefined` when `@openai/codex` ships no binary for it.
 *
 * @since 0.1.0
 * @category utils
 */
export const targetFor = (platform: string, arch: string): Target | undefined =>
  targets[`${platform === "android" ? "linux" : platform}-${arch}`]

/**
 * Where the executable was found.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedBinary {
  /** Absolute path of the executable. */
  readonly path: string
  /** `config`: from `codexBin`; `package`: the native binary of the pinned `@openai/codex`. */
  readonly source: "config" | "package"
}

const isExecutableFile = (path: string): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    try {
      const stat = await Fs.stat(path)
      if (!stat.isFile()) return false
      await Fs.access(path, fsConstants.X_OK)
      return true
    } catch {
      return false
    }
  })

const installHint = (target: Target | undefined): string =>
  `Install the pinned runtime with \`npm install @openai/codex@${CODEX_VERSION}\`` +
  (target === undefined ? "" : ` (it brings the native binary ${target.packageName})`) +
  `, or set \`codexBin\` in the CodexConfig to a codex ${CODEX_VERSION} executable.`

const fromConfig = (codexBin: string): Effect.Effect<ResolvedBinary, CodexBinaryNotFoundError> =>
  Effect.gen(function*() {
    const hint =
      `The configured codexBin "${codexBin}" must be an executable file (a path, or a command on PATH); ` +
      `fix it, or leave codexBin unset to use the binary of @openai/codex@${CODEX_VERSION}.`
    const hasSeparator = codexBin.includes("/") || (process.platform === "win32" && codexBin.includes("\\"))
    const candidates: Array<string> = []
    if (hasSeparator || Path.isAbsolute(codexBin)) {
      candidates.push(Path.resolve(codexBin))
    } else {
      const names = process.platform === "win32" && Path.extname(codexBin) === ""
        ? [codexBin, `${codexBin}.exe`, `${codexBin}.cmd`]
        : [codexBin]
      for (const dir of (process.env.PATH ?? "").split(Path.delimiter)) {
        if (dir.length === 0) continue
        for (const name of names) candidates.push(Path.resolve(dir, name))
      }
    }
    for (const candidate of candidates) {
      if (yield* isExecutableFile(candidate)) return { path: candidate, source: "config" as const }
    }
    return yield* new CodexBinaryNotFoundError({
      searched: candidates.length > 0 ? candidates : [codexBin],
      hint
    })
  })

const fromPackage: Effect.Effect<ResolvedBinary, CodexBinaryNotFoundError> = Effect.gen(function*() {
  const target = targetFor(process.platform, process.arch)
  if (target === undefined) {
    return yield* new CodexBinaryNotFoundError({
      searched: [`@openai/codex native binary for ${process.platform}-${process.arch}`],
      hint: `@openai/codex@${CODEX_VERSION} has no native binary for ${process.platform}-${process.arch}; ` +
        `set \`codexBin\` in the CodexConfig to a codex executable built for this platform.`
    })
  }
  const require = createRequire(import.meta.url)
  const searched: Array<string> = []
  // 1. the platform package (an optional dependency of @openai/codex), 2. a vendor/ directory inside
  // @openai/codex itself (how the wrapper falls back)
  for (const pkg of [target.packageName, "@openai/codex"]) {
    let root: string
    try {
      root = Path.dirname(require.resolve(`${pkg}/package.json`))
    } catch {
      searched.push(`${pkg}/vendor/${target.triple}/bin/${target.executable} (package not installed)`)
      continue
    }
    const candidate = Path.join(root, "vendor", target.triple, "bin", target.executable)
    if (yield* isExecutableFile(candidate)) return { path: candidate, source: "package" as const }
    searched.push(candidate)
  }
  return yield* new CodexBinaryNotFoundError({ searched, hint: installHint(target) })
})

/**
 * Resolves the executable for a configuration (see the module documentation for the order).
 *
 * @since 0.1.0
 * @category resolution
 */
export const resolve = (
  config: Pick<CodexConfig, "codexBin"> = {}
): Effect.Effect<ResolvedBinary, CodexBinaryNotFoundError> =>
  config.codexBin !== undefined ? fromConfig(config.codexBin) : fromPackage
