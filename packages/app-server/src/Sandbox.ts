/**
 * Sandbox presets, as plain values: the protocol's own `SandboxPolicy` objects, readable as they
 * are, and accepted everywhere a sandbox is set.
 *
 * - In turn options they are the `sandboxPolicy` itself:
 *   `thread.run(input, { sandboxPolicy: Sandbox.readOnly })`.
 * - In `threadStart` / `threadResume` / `threadFork` they go in `sandbox` (next to the protocol's
 *   mode strings): `codex.threadStart({ sandbox: Sandbox.workspaceWrite({ networkAccess: true }) })`.
 *   The wire takes a mode there, so the SDK sends the preset's mode and its workspace options as
 *   the `sandbox_workspace_write` table of `config` ({@link toThreadParams}).
 *
 * The server echoes the effective policy back in the answer of `thread/start`
 * (`thread.settings.sandbox`), in the same shape, with its defaults filled in.
 *
 * @since 0.1.0
 */
import type * as Protocol from "@effect-codex/protocol/generated/Schemas"

/**
 * A sandbox preset: one of the protocol's sandbox policies that also has a thread-level mode.
 *
 * @since 0.1.0
 * @category models
 */
export type Preset = Extract<Protocol.SandboxPolicy, { readonly type: "readOnly" | "workspaceWrite" | "dangerFullAccess" }>

/**
 * Options of {@link workspaceWrite}.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkspaceWriteOptions {
  /** Whether commands may use the network. Server default: `false`. */
  readonly networkAccess?: boolean
  /** Absolute paths writable besides the working directory. */
  readonly writableRoots?: ReadonlyArray<string>
  /** Keep `/tmp` read-only. Server default: `false`. */
  readonly excludeSlashTmp?: boolean
  /** Keep `$TMPDIR` read-only. Server default: `false`. */
  readonly excludeTmpdirEnvVar?: boolean
}

/**
 * Commands may read anything and write nothing (mode `read-only`).
 *
 * @since 0.1.0
 * @category presets
 */
export const readOnly: Preset = { type: "readOnly" }

/**
 * Commands may write in the working directory (and `writableRoots`), with or without the network
 * (mode `workspace-write`).
 *
 * @since 0.1.0
 * @category presets
 */
export const workspaceWrite = (options: WorkspaceWriteOptions = {}): Preset => ({
  type: "workspaceWrite",
  ...(options.networkAccess === undefined ? {} : { networkAccess: options.networkAccess }),
  ...(options.writableRoots === undefined ? {} : { writableRoots: options.writableRoots }),
  ...(options.excludeSlashTmp === undefined ? {} : { excludeSlashTmp: options.excludeSlashTmp }),
  ...(options.excludeTmpdirEnvVar === undefined ? {} : { excludeTmpdirEnvVar: options.excludeTmpdirEnvVar })
})

/**
 * No sandbox at all (mode `danger-full-access`): only for throwaway machines.
 *
 * @since 0.1.0
 * @category presets
 */
export const fullAccess: Preset = { type: "dangerFullAccess" }

/**
 * Whether a value is a preset (an object) rather than a mode string.
 *
 * @since 0.1.0
 * @category guards
 */
export const isPreset = (u: Protocol.SandboxMode | Preset | null | undefined): u is Preset => typeof u === "object" && u !== null

/**
 * The thread-level mode of a preset.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toMode = (preset: Preset): Protocol.SandboxMode => {
  switch (preset.type) {
    case "readOnly":
      return "read-only"
    case "workspaceWrite":
      return "workspace-write"
    case "dangerFullAccess":
      return "danger-full-access"
  }
}

/**
 * What a preset becomes in the params of `thread/start` (and resume, fork): the mode in
 * `sandbox`, and the workspace options merged into the `sandbox_workspace_write` table of
 * `config` (over what `config` already has there).
 *
 * @since 0.1.0
 * @category conversions
 */
export const toThreadParams = (
  preset: Preset,
  config?: { readonly [key: string]: unknown } | null
): { readonly sandbox: Protocol.SandboxMode; readonly config?: { readonly [key: string]: unknown } | null } => {
  const sandbox = toMode(preset)
  if (preset.type !== "workspaceWrite") return config === undefined ? { sandbox } : { sandbox, config }
  const table = {
    ...(preset.networkAccess === undefined ? {} : { network_access: preset.networkAccess }),
    ...(preset.writableRoots === undefined ? {} : { writable_roots: preset.writableRoots }),
    ...(preset.excludeSlashTmp === undefined ? {} : { exclude_slash_tmp: preset.excludeSlashTmp }),
    ...(preset.excludeTmpdirEnvVar === undefined ? {} : { exclude_tmpdir_env_var: preset.excludeTmpdirEnvVar })
  }
  if (Object.keys(table).length === 0) return config === undefined ? { sandbox } : { sandbox, config }
  const existing = config?.sandbox_workspace_write
  const merged = typeof existing === "object" && existing !== null ? { ...existing, ...table } : table
  return { sandbox, config: { ...config, sandbox_workspace_write: merged } }
}
