/**
 * How to start and talk to `codex app-server`: binary, home, environment, client identity,
 * timeouts and retry policy. Every field is optional; each module applies the documented default.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import type * as Redacted from "effect/Redacted"

/**
 * Retry policy for `-32001` (server overloaded) answers.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryPolicy {
  /** Total attempts, the first one included. Default 3. */
  readonly attempts?: number
  /** Delay before the first retry. Default 250 ms. */
  readonly initialDelay?: Duration.DurationInput
  /** Upper bound of a single delay. Default 2 s. */
  readonly maxDelay?: Duration.DurationInput
  /** Relative jitter applied to every delay (0.2 = ±20%). Default 0.2. */
  readonly jitter?: number
}

/**
 * Configuration of one `codex app-server` connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface CodexConfig {
  /** Path to the `codex` executable. Default: the native binary of the pinned `@openai/codex` package. */
  readonly codexBin?: string
  /** `CODEX_HOME` of the process (config.toml, sessions, auth). Default: inherited / `~/.codex`. */
  readonly codexHome?: string
  /** Working directory of the process. Default: the current directory. */
  readonly cwd?: string
  /** Environment variables merged over the parent's environment. */
  readonly env?: Readonly<Record<string, string>>
  /** `-c key=value` overrides passed to `codex app-server` (values are TOML). */
  readonly configOverrides?: Readonly<Record<string, string>>
  /** An OpenAI API key, passed to the process as `OPENAI_API_KEY`; never logged. */
  readonly apiKey?: Redacted.Redacted<string>
  /** Sent in `initialize`; `name` becomes the originator and user-agent prefix. */
  readonly clientInfo?: { readonly name: string; readonly version: string; readonly title?: string }
  /** Opt into experimental methods and fields (`capabilities.experimentalApi`). Default false. */
  readonly experimentalApi?: boolean
  /** Notification methods the server must not send (`capabilities.optOutNotificationMethods`). */
  readonly optOutNotificationMethods?: ReadonlyArray<string>
  /** Deadline of a request without its own. Default 120 s. */
  readonly requestTimeout?: Duration.DurationInput
  /**
   * A turn (or compaction) with no event for this long is interrupted and fails with
   * `TurnStalledError`; a turn's own `idleTimeout` overrides it. Default: off.
   */
  readonly turnIdleTimeout?: Duration.DurationInput
  /** How long a client-side tool (`Tool`) may run before its call is answered "timed out". Default 5 minutes; a tool's own `timeout` wins. */
  readonly toolTimeout?: Duration.DurationInput
  /** How long release waits after closing stdin, and again after SIGTERM. Default 2 s. */
  readonly shutdownTimeout?: Duration.DurationInput
  /** Fail (instead of warn) when the server's version differs from the pinned protocol version. */
  readonly strictVersion?: boolean
  /** Retry policy for `-32001`; `false` turns automatic retries off. */
  readonly retry?: RetryPolicy | false
  /** Largest accepted incoming line in bytes. Default 64 MiB. */
  readonly maxLineBytes?: number
  /** Lines of stderr kept for error reports. Default 200. */
  readonly stderrTailLines?: number
  /**
   * The folder of the process registry (`ProcessRegistry`): each started `codex app-server` is
   * recorded there until it has exited. Default `ProcessRegistry.defaultDirectory()`
   * (`$XDG_RUNTIME_DIR/effect-codex`, else `<tmpdir>/effect-codex-<uid>`); `false` turns it off.
   */
  readonly processRegistry?: string | false
  /**
   * Before starting the process, end the registered processes whose owner is gone
   * (`ProcessRegistry.reapOrphans` on the `processRegistry` folder). Default `false` for
   * `Codex.layer`, `true` for the processes of a `CodexPool`.
   */
  readonly reapOrphans?: boolean
}

/**
 * The configuration as a service, for layers that need it.
 *
 * @since 0.1.0
 * @category tags
 */
export class CodexConfigTag extends Context.Tag("@effect-codex/app-server/CodexConfig")<CodexConfigTag, CodexConfig>() {}

/**
 * Default request deadline.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRequestTimeout: Duration.Duration = Duration.seconds(120)

/**
 * Default wait of each release step.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultShutdownTimeout: Duration.Duration = Duration.seconds(2)

/**
 * Default maximum line size (64 MiB).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxLineBytes = 64 * 1024 * 1024

/**
 * Default number of stderr lines kept.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultStderrTailLines = 200

/**
 * Default deadline of a client-side tool call.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultToolTimeout: Duration.Duration = Duration.minutes(5)
