/**
 * `codex app-server --listen stdio://` as a scoped `Transport`.
 *
 * The process is started with `node:child_process` (as a process-group leader on POSIX, so that
 * the release can signal the server and whatever it started). The hot path stays out of the
 * fiber runtime: each stdout read is framed and handed to the connection's listener in the same
 * callback, and each line sent is one pipe write. (`@effect/platform`'s `Command` would put a
 * stream, a channel and a fiber hand-off between every read and the connection, and two writes
 * per line on stdin; measured in BENCHMARKS.md, that per-read cost competes with codex for the
 * CPU and slows its turns.)
 *
 * Behaviour:
 * - stdout is framed with `Transport.makeLineFramer` (split on `"\n"` only, max line size, empty
 *   lines skipped). A consumer that applies back-pressure pauses the reads from the pipe.
 * - stderr is always drained, so a chatty process never blocks: its lines (ANSI colours removed) go
 *   into a ring buffer of `stderrTailLines` lines (`stderrTail`) and to live subscribers of `stderr`.
 * - `send` writes its line at once (writes are serialized in call order); while the pipe is full it
 *   waits for `"drain"`, so a stalled server holds its senders instead of growing a buffer.
 * - When stdout ends or the process exits, the exit status is awaited (and stderr's end, briefly),
 *   then the lines fail with `ProcessExitedError` (exit code, signal, stderr tail) after the ones
 *   already received, `closed` completes with the same error and `send` fails with it.
 * - Release is a bounded ladder: close stdin, wait `shutdownTimeout` (default 2 s) for the exit,
 *   SIGTERM the process group, wait again, SIGKILL the group (and, on Linux, the descendants it
 *   had: the commands of turns run in sessions of their own), wait again. After a release started
 *   by the owner, the lines end and `closed` is a `TransportClosedError`.
 * - If the owner dies without a release (even by SIGKILL), codex sees stdin EOF and exits by
 *   itself. Each process is recorded in the `ProcessRegistry` (`processRegistry`) until it has
 *   exited; `reapOrphans: true` ends the recorded processes of dead owners before the spawn.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs/promises"
import * as CodexBinary from "./CodexBinary.js"
import * as ProcessRegistry from "./ProcessRegistry.js"
import type { CodexConfig } from "./CodexConfig.js"
import {
  defaultMaxLineBytes,
  defaultShutdownTimeout,
  defaultStderrTailLines
} from "./CodexConfig.js"
import { CodexBinaryNotFoundError, LineTooLongError, ProcessExitedError, TransportClosedError } from "./CodexError.js"
import * as Transport from "./Transport.js"

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace StdioTransport {
  /**
   * A `Transport.Service` with access to the process behind it.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service extends Transport.Transport.Service {
    /** Process id of `codex app-server` (also its process group id on POSIX). */
    readonly pid: number
    /** The executable that was started. */
    readonly binary: CodexBinary.ResolvedBinary
    /** stderr lines (ANSI colours removed) from the moment of subscription; ends when stderr closes. */
    readonly stderr: Stream.Stream<string>
    /** The last `stderrTailLines` lines of stderr, oldest first. */
    readonly stderrTail: Effect.Effect<ReadonlyArray<string>>
  }
}

/**
 * The stdio transport with its process details. `layer` provides it next to `Transport.Transport`.
 *
 * @since 0.1.0
 * @category tags
 */
export class StdioTransport extends Context.Tag("@effect-codex/app-server/StdioTransport")<
  StdioTransport,
  StdioTransport.Service
>() {}

/**
 * Arguments passed to the executable: `app-server --listen stdio://` and one `-c key=value` per
 * `configOverrides` entry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const args = (config: CodexConfig): ReadonlyArray<string> => {
  const out = ["app-server", "--listen", "stdio://"]
  for (const [key, value] of Object.entries(config.configOverrides ?? {})) {
    out.push("-c", `${key}=${value}`)
  }
  return out
}

/**
 * Variables set on top of the parent's environment: `config.env`, then `CODEX_HOME` from
 * `codexHome` and `OPENAI_API_KEY` from `apiKey` when given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const environment = (config: CodexConfig): Record<string, string> => {
  const env: Record<string, string> = { ...config.env }
  if (config.codexHome !== undefined) env.CODEX_HOME = config.codexHome
  if (config.apiKey !== undefined) env.OPENAI_API_KEY = Redacted.value(config.apiKey)
  return env
}

// ---------------------------------------------------------------------------------------------
// internals
// ---------------------------------------------------------------------------------------------

/** Lines kept for a consumer that has not started yet, and for `incoming`'s buffer. */
const INBOX_CAPACITY = 4096
/** stderr lines longer than this are replaced by a marker. */
const STDERR_MAX_LINE_BYTES = 64 * 1024
/** How long to wait for stdout's end after the process exited, and for stderr's end. */
const DRAIN_GRACE = Duration.millis(250)

interface ExitStatus {
  readonly exitCode: number | null
  readonly signal: string | null
}

const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]/g
const stripAnsi = (line: string): string => line.includes("\u001b") ? line.replace(ANSI, "") : line

class RingBuffer {
  private readonly items: Array<string> = []
  private next = 0
  constructor(readonly capacity: number) {}
  push(item: string): void {
    if (this.capacity <= 0) return
    if (this.items.length < this.capacity) {
      this.items.push(item)
    } else {
      this.items[this.next] = item
      this.next = (this.next + 1) % this.capacity
    }
  }
  toArray(): ReadonlyArray<string> {
    return this.items.length < this.capacity
      ? this.items.slice()
      : [...this.items.slice(this.next), ...this.items.slice(0, this.next)]
  }
}

const END: unique symbol = Symbol.for("@effect-codex/app-server/StdioTransport/END")

interface Broadcast<A> {
  readonly publishAll: (items: Iterable<A>) => void
  readonly end: () => void
  readonly stream: Stream.Stream<A>
}

/** A live feed for any number of subscribers, never blocking the publisher; ends with `end`. */
const makeBroadcast = <A>(capacity: number): Effect.Effect<Broadcast<A>> =>
  Effect.map(PubSub.sliding<A | typeof END>(capacity), (pubsub) => {
    let ended = false
    const isItem = (u: A | typeof END): u is A => u !== END
    return {
      publishAll: (items) => {
        if (!ended) for (const item of items) pubsub.unsafeOffer(item)
      },
      end: () => {
        if (ended) return
        ended = true
        pubsub.unsafeOffer(END)
      },
      stream: Stream.unwrapScoped(
        Effect.map(
          PubSub.subscribe(pubsub),
          (queue) => ended ? Stream.empty : Stream.fromQueue(queue).pipe(Stream.takeWhile(isItem))
        )
      )
    }
  })

const spawnError = (
  error: NodeJS.ErrnoException,
  binary: CodexBinary.ResolvedBinary
): CodexBinaryNotFoundError | TransportClosedError =>
  error.code === "ENOENT" || error.code === "EACCES"
    ? new CodexBinaryNotFoundError({
      searched: [binary.path],
      hint: `${binary.path} could not be executed (${error.message}). Reinstall @openai/codex@${CodexBinary.CODEX_VERSION}, ` +
        `or set codexBin to a working codex executable.`,
      cause: error
    })
    : new TransportClosedError({ reason: `cannot start codex app-server: ${error.message}`, cause: error })

const checkCwd = (cwd: string | undefined): Effect.Effect<void, TransportClosedError> =>
  cwd === undefined ? Effect.void : Effect.tryPromise({
    try: async () => {
      if (!(await Fs.stat(cwd)).isDirectory()) throw new Error(`${cwd} is not a directory`)
    },
    catch: (cause) =>
      new TransportClosedError({
        reason: `cannot start codex app-server: the working directory ${JSON.stringify(cwd)} is not accessible`,
        cause
      })
  })

/** Spawns the process and waits until it is running (or failed to start). */
const spawnProcess = (config: CodexConfig, binary: CodexBinary.ResolvedBinary) =>
  Effect.async<ChildProcess, CodexBinaryNotFoundError | TransportClosedError>((resume) => {
    let child: ChildProcess
    try {
      child = spawn(binary.path, args(config), {
        cwd: config.cwd,
        env: { ...process.env, ...environment(config) },
        stdio: ["pipe", "pipe", "pipe"],
        detached: process.platform !== "win32"
      })
    } catch (error) {
      resume(Effect.fail(spawnError(error as NodeJS.ErrnoException, binary)))
      return
    }
    const onError = (error: Error) => {
      child.off("spawn", onSpawn)
      resume(Effect.fail(spawnError(error, binary)))
    }
    const onSpawn = () => {
      child.off("error", onError)
      resume(Effect.succeed(child))
    }
    child.once("error", onError)
    child.once("spawn", onSpawn)
  })

/** Sends a signal to the process group (POSIX), else to the process. */
const signalGroup = (child: ChildProcess, signal: NodeJS.Signals): void => {
  try {
    if (process.platform !== "win32") process.kill(-child.pid!, signal)
    else child.kill(signal)
  } catch {
    try {
      child.kill(signal)
    } catch {
      // already gone
    }
  }
}

// ---------------------------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------------------------

/**
 * Starts `codex app-server` and returns the transport; the process lives as long as the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: CodexConfig = {}
): Effect.Effect<StdioTransport.Service, CodexBinaryNotFoundError | TransportClosedError, Scope.Scope> =>
  Effect.gen(function*() {
    const binary = yield* CodexBinary.resolve(config)
    const shutdownTimeout = Duration.decode(config.shutdownTimeout ?? defaultShutdownTimeout)
    const maxLineBytes = config.maxLineBytes ?? defaultMaxLineBytes
    const tail = new RingBuffer(config.stderrTailLines ?? defaultStderrTailLines)
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)

    yield* checkCwd(config.cwd)
    const registry = ProcessRegistry.directoryOf(config.processRegistry)
    if (config.reapOrphans === true && registry !== undefined) {
      yield* ProcessRegistry.reapOrphans({ directory: registry, termTimeout: shutdownTimeout })
    }
    const child = yield* Effect.uninterruptible(spawnProcess(config, binary))
    // the "spawn" event came, so there is a pid
    const pid = child.pid!
    const stdin = child.stdin!
    const stdout = child.stdout!
    const stderr = child.stderr!

    const closed = yield* Deferred.make<Transport.TransportError>()
    const exitStatus = yield* Deferred.make<ExitStatus>()
    const stdoutDone = yield* Deferred.make<void>()
    const stderrDone = yield* Deferred.make<void>()
    const diagnostics = yield* makeBroadcast<Transport.Diagnostic>(256)
    const stderrLines = yield* makeBroadcast<string>(1024)
    /** Set when the owner releases the transport: the exit that follows is expected. */
    let closing = false
    let exited = false
    let stdinOpen = true

    child.on("error", (error) => runFork(Effect.logDebug("codex app-server: process error", error)))
    child.once("exit", (code, signal) => {
      exited = true
      Deferred.unsafeDone(exitStatus, Exit.succeed({ exitCode: code, signal }))
    })

    // stdout -> lines -> the consumer, in the read callback
    const delivery = Transport.makeDelivery({
      pause: () => stdout.pause(),
      resume: () => stdout.resume(),
      fork: (effect) => runFork(effect),
      capacity: INBOX_CAPACITY
    })
    const stdoutFramer = Transport.makeLineFramer({
      maxLineBytes,
      skipEmptyLines: true,
      onLineTooLong: (bytes, limit) => {
        const error = new LineTooLongError({ bytes, limit })
        runFork(Effect.logWarning(error.message))
        diagnostics.publishAll([error])
      }
    })
    // Node decodes stdout (its string decoder keeps a character split across reads whole)
    stdout.setEncoding("utf8")
    stdout.on("data", (text: string) => {
      const lines: Array<string> = []
      stdoutFramer.pushText(text, lines)
      delivery.push(lines)
    })
    stdout.once("end", () => {
      const lines: Array<string> = []
      stdoutFramer.end(lines)
      delivery.push(lines)
    })
    stdout.once("close", () => Deferred.unsafeDone(stdoutDone, Exit.void))
    stdout.on("error", (error) => runFork(Effect.logDebug("codex app-server: reading stdout failed", error)))

    // stderr -> ring buffer + live subscribers; always drained
    const stderrFramer = Transport.makeLineFramer({
      maxLineBytes: STDERR_MAX_LINE_BYTES,
      onLineTooLong: (bytes) => {
        const marker = `[stderr line of ${bytes} bytes dropped]`
        tail.push(marker)
        stderrLines.publishAll([marker])
      }
    })
    const takeStderr = (lines: Array<string>) => {
      for (let i = 0; i < lines.length; i++) {
        lines[i] = stripAnsi(lines[i]!)
        tail.push(lines[i]!)
      }
      stderrLines.publishAll(lines)
    }
    stderr.on("data", (bytes: Uint8Array) => {
      const lines: Array<string> = []
      stderrFramer.push(bytes, lines)
      takeStderr(lines)
    })
    stderr.once("end", () => {
      const lines: Array<string> = []
      stderrFramer.end(lines)
      takeStderr(lines)
    })
    stderr.once("close", () => {
      stderrLines.end()
      Deferred.unsafeDone(stderrDone, Exit.void)
    })
    stderr.on("error", (error) => runFork(Effect.logDebug("codex app-server: reading stderr failed", error)))

    // stdin: a broken pipe (EPIPE after the exit) is reported through `closed`, not thrown
    stdin.on("error", (error) => {
      stdinOpen = false
      runFork(Effect.logDebug("codex app-server: writing stdin failed", error))
    })
    stdin.once("close", () => {
      stdinOpen = false
    })

    /** Records why the transport closed, once, and ends the lines with it. */
    const finish = (status: Option.Option<ExitStatus>) =>
      Effect.gen(function*() {
        const reason: Transport.TransportError = closing
          ? new TransportClosedError({ reason: "the transport was released by its owner" })
          : new ProcessExitedError({
            exitCode: Option.match(status, { onNone: () => null, onSome: (s) => s.exitCode }),
            signal: Option.match(status, { onNone: () => null, onSome: (s) => s.signal }),
            stderrTail: tail.toArray()
          })
        if (yield* Deferred.succeed(closed, reason)) {
          yield* Effect.logDebug(`codex app-server: transport closed: ${reason.message}`)
        }
        const actual = yield* Deferred.await(closed)
        stdinOpen = false
        delivery.end(actual._tag === "TransportClosedError" && closing ? undefined : actual)
        diagnostics.end()
      })

    // supervisor: stdout's end or the exit (plus a grace for the last output), then the status
    yield* Effect.gen(function*() {
      yield* Effect.raceFirst(
        Deferred.await(stdoutDone),
        Effect.zipRight(Deferred.await(exitStatus), Effect.sleep(DRAIN_GRACE))
      )
      const status = yield* Effect.timeoutOption(Deferred.await(exitStatus), shutdownTimeout)
      yield* Effect.timeoutOption(Deferred.await(stderrDone), DRAIN_GRACE)
      yield* finish(status)
    }).pipe(Effect.forkScoped)

    // the registry record; its release (after the ladder below) removes it once the process exited
    if (registry !== undefined) {
      yield* ProcessRegistry.register({
        directory: registry,
        pid,
        codexHome: environment(config).CODEX_HOME,
        binary: binary.path,
        stillRunning: () => !exited
      })
    }

    // release ladder
    const awaitExit = (timeout: Duration.Duration) =>
      Deferred.await(exitStatus).pipe(Effect.interruptible, Effect.timeoutOption(timeout), Effect.map(Option.isSome))
    const escalate = (signal: "SIGTERM" | "SIGKILL") =>
      Effect.gen(function*() {
        yield* Effect.logDebug(`codex app-server did not exit; sending ${signal} to process group ${pid}`)
        // a SIGKILLed codex cannot end its commands (own sessions, not in its group): they are killed here
        const tree = signal === "SIGKILL" ? yield* ProcessRegistry.descendantsOf(pid) : []
        signalGroup(child, signal)
        const done = yield* awaitExit(DRAIN_GRACE)
        yield* ProcessRegistry.killAll(tree)
        return done
      })
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closing = true
        if (!exited) {
          stdinOpen = false
          stdin.end()
          let done = yield* awaitExit(shutdownTimeout)
          if (!done) done = yield* escalate("SIGTERM")
          if (!done) done = yield* escalate("SIGKILL")
          if (!done) yield* Effect.logWarning(`codex app-server (pid ${pid}) did not exit after SIGKILL`)
        } else if (process.platform !== "win32") {
          // the server is gone; whatever it started in its group goes with it
          signalGroup(child, "SIGTERM")
        }
        const polled = yield* Deferred.poll(exitStatus)
        yield* finish(Option.isSome(polled) ? Option.some(yield* polled.value) : Option.none())
        stdout.destroy()
        stderr.destroy()
        stdin.destroy()
      })
    )

    const sendFailure: Effect.Effect<never, Transport.TransportError> = Deferred.await(closed).pipe(
      Effect.timeoutTo({
        duration: shutdownTimeout,
        onTimeout: () => new TransportClosedError({ reason: "stdin of codex app-server is closed" }),
        onSuccess: identity
      }),
      Effect.flatMap(Effect.fail)
    )
    /** Waits until the pipe has room again (or the transport closed). */
    const drained = Effect.async<void, Transport.TransportError>((resume) => {
      const onDrain = () => {
        stdin.off("close", onClose)
        resume(Effect.void)
      }
      const onClose = () => {
        stdin.off("drain", onDrain)
        resume(sendFailure)
      }
      stdin.once("drain", onDrain)
      stdin.once("close", onClose)
      return Effect.sync(() => {
        stdin.off("drain", onDrain)
        stdin.off("close", onClose)
      })
    })

    const service: StdioTransport.Service = {
      pid,
      binary,
      send: (line) =>
        Effect.suspend(() => {
          if (exited || !stdinOpen) return sendFailure
          if (line.includes("\n")) return Effect.dieMessage("Transport.send: a line must not contain \"\\n\"")
          return stdin.write(line + "\n") ? Effect.void : drained
        }),
      incoming: delivery.incoming,
      listen: delivery.listen,
      closed: Deferred.await(closed),
      diagnostics: diagnostics.stream,
      stderr: stderrLines.stream,
      stderrTail: Effect.sync(() => tail.toArray())
    }
    return service
  }).pipe(Effect.annotateLogs({ module: "StdioTransport" }))

/**
 * A layer running `codex app-server` for its lifetime and providing it both as `Transport` and as
 * `StdioTransport`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: CodexConfig = {}
): Layer.Layer<Transport.Transport | StdioTransport, CodexBinaryNotFoundError | TransportClosedError> =>
  Layer.scopedContext(
    Effect.map(make(config), (service) =>
      Context.make(Transport.Transport, service).pipe(Context.add(StdioTransport, service)))
  )
