/**
 * `codex app-server --listen stdio://` as a scoped `Transport`.
 *
 * The process is started with `Command` / `CommandExecutor` from `@effect/platform` (provide
 * `NodeContext.layer` or `NodeCommandExecutor.layer` from `@effect/platform-node`). That keeps the
 * subprocess behind an interface tests can fake (`CommandExecutor.makeExecutor`), and the Node
 * executor already spawns the child as a process-group leader, kills the group and reaps it. Two
 * gaps are covered here instead of dropping to `node:child_process`:
 * - The executor reports a death by signal only as a `PlatformError` whose description names the
 *   signal ("… receipt of signal: SIGKILL"); the signal is read back from that text.
 * - Its release waits for the exit without a bound; the process therefore lives in a scope of its
 *   own whose closing is bounded (and detached if it overruns).
 *
 * Behaviour:
 * - stdout is framed with `Transport.splitLines` (split on `"\n"` only, max line size, empty lines
 *   skipped) into a bounded mailbox: a consumer that stops reading stops the reads from the pipe.
 * - stderr is always drained, so a chatty process never blocks: its lines (ANSI colours removed) go
 *   into a ring buffer of `stderrTailLines` lines (`stderrTail`) and to live subscribers of `stderr`.
 * - Writes go through a bounded queue to one writer fiber (serialized, batched into one pipe write
 *   per queue chunk).
 * - When stdout ends or the process exits, the exit status is awaited (and stderr's end, briefly),
 *   then `incoming` fails with `ProcessExitedError` (exit code, signal, stderr tail) after the lines
 *   already received, `closed` completes with the same error and `send` fails with it.
 * - Release is a bounded ladder: close stdin (after the queued lines), wait `shutdownTimeout`
 *   (default 2 s) for the exit, SIGTERM the process group, wait again, SIGKILL the group, wait again.
 *   After a release started by the owner, `incoming` ends and `closed` is a `TransportClosedError`.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type { PlatformError } from "@effect/platform/Error"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as CodexBinary from "./CodexBinary.js"
import type { CodexConfig } from "./CodexConfig.js"
import {
  defaultMaxLineBytes,
  defaultShutdownTimeout,
  defaultStderrTailLines
} from "./CodexConfig.js"
import { CodexBinaryNotFoundError, ProcessExitedError, TransportClosedError } from "./CodexError.js"
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

/**
 * The `Command` that starts the server with the given executable.
 *
 * @since 0.1.0
 * @category constructors
 */
export const command = (config: CodexConfig, executable: string): Command.Command => {
  let cmd = Command.make(executable, ...args(config)).pipe(Command.env(environment(config)))
  if (config.cwd !== undefined) cmd = Command.workingDirectory(cmd, config.cwd)
  return cmd
}

// ---------------------------------------------------------------------------------------------
// internals
// ---------------------------------------------------------------------------------------------

/** Lines buffered between the stdout reader and the consumer of `incoming`. */
const INBOX_CAPACITY = 4096
/** Lines buffered between `send` and the stdin writer. */
const OUTBOX_CAPACITY = 1024
/** stderr lines longer than this are replaced by a marker. */
const STDERR_MAX_LINE_BYTES = 64 * 1024
/** How long to wait for stdout's end after the process exited, and for stderr's end. */
const DRAIN_GRACE = Duration.millis(250)

interface ExitStatus {
  readonly exitCode: number | null
  readonly signal: string | null
}

/** The Node executor reports a death by signal as "… receipt of signal: SIGKILL". */
const signalOf = (error: PlatformError): string | null => {
  const match = /signal:?\s*(SIG[A-Z0-9]+)/.exec(error.message)
  return match === null ? null : match[1]
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
  readonly publishAll: (items: Iterable<A>) => Effect.Effect<void>
  readonly end: Effect.Effect<void>
  readonly stream: Stream.Stream<A>
}

/** A live feed for any number of subscribers, never blocking the publisher; ends with `end`. */
const makeBroadcast = <A>(capacity: number): Effect.Effect<Broadcast<A>> =>
  Effect.map(PubSub.sliding<A | typeof END>(capacity), (pubsub) => {
    let ended = false
    const isItem = (u: A | typeof END): u is A => u !== END
    return {
      publishAll: (items) => ended ? Effect.void : Effect.asVoid(PubSub.publishAll(pubsub, items)),
      end: Effect.suspend(() => {
        if (ended) return Effect.void
        ended = true
        return Effect.asVoid(PubSub.publish(pubsub, END))
      }),
      stream: Stream.unwrapScoped(
        Effect.map(
          PubSub.subscribe(pubsub),
          (queue) => ended ? Stream.empty : Stream.fromQueue(queue).pipe(Stream.takeWhile(isItem))
        )
      )
    }
  })

const spawnError = (
  error: PlatformError,
  binary: CodexBinary.ResolvedBinary,
  config: CodexConfig
): CodexBinaryNotFoundError | TransportClosedError => {
  if (error._tag === "SystemError" && error.module === "FileSystem") {
    return new TransportClosedError({
      reason: `cannot start codex app-server: the working directory ${
        JSON.stringify(config.cwd ?? "")
      } is not accessible`,
      cause: error
    })
  }
  if (error._tag === "SystemError" && (error.reason === "NotFound" || error.reason === "PermissionDenied")) {
    return new CodexBinaryNotFoundError({
      searched: [binary.path],
      hint: `${binary.path} could not be executed (${error.message}). Reinstall @openai/codex@${CodexBinary.CODEX_VERSION}, ` +
        `or set codexBin to a working codex executable.`,
      cause: error
    })
  }
  return new TransportClosedError({ reason: `cannot start codex app-server: ${error.message}`, cause: error })
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
): Effect.Effect<
  StdioTransport.Service,
  CodexBinaryNotFoundError | TransportClosedError,
  CommandExecutor.CommandExecutor | Scope.Scope
> =>
  Effect.gen(function*() {
    const binary = yield* CodexBinary.resolve(config)
    const shutdownTimeout = Duration.decode(config.shutdownTimeout ?? defaultShutdownTimeout)
    const maxLineBytes = config.maxLineBytes ?? defaultMaxLineBytes
    const tail = new RingBuffer(config.stderrTailLines ?? defaultStderrTailLines)

    // The executor's own release waits for the exit without a bound: give the process a scope of
    // its own and bound its closing (the ladder below has normally reaped the process by then).
    const processScope = yield* Effect.acquireRelease(
      Scope.make(),
      (scope, exit) =>
        Scope.close(scope, exit).pipe(
          Effect.disconnect,
          Effect.interruptible,
          Effect.timeoutOption(shutdownTimeout),
          Effect.asVoid
        )
    )
    const proc = yield* Command.start(command(config, binary.path)).pipe(
      Scope.extend(processScope),
      Effect.mapError((error) => spawnError(error, binary, config))
    )
    const pid: number = proc.pid

    const closed = yield* Deferred.make<Transport.TransportError>()
    const exitStatus = yield* Deferred.make<ExitStatus>()
    const stdoutDone = yield* Deferred.make<void>()
    const stderrDone = yield* Deferred.make<void>()
    const inbox = yield* Mailbox.make<string, Transport.TransportError>({ capacity: INBOX_CAPACITY })
    const outbox = yield* Mailbox.make<string>({ capacity: OUTBOX_CAPACITY })
    const diagnostics = yield* makeBroadcast<Transport.Diagnostic>(256)
    const stderrLines = yield* makeBroadcast<string>(1024)
    /** Set when the owner releases the transport: the exit that follows is expected. */
    let closing = false
    let exited = false

    // exit status
    yield* proc.exitCode.pipe(
      Effect.map((code): ExitStatus => ({ exitCode: code, signal: null })),
      Effect.catchAll((error) => Effect.succeed<ExitStatus>({ exitCode: null, signal: signalOf(error) })),
      Effect.flatMap((status) => {
        exited = true
        return Deferred.succeed(exitStatus, status)
      }),
      Effect.forkScoped
    )

    // stdout -> lines -> inbox (suspends when the inbox is full: backpressure on the pipe)
    yield* proc.stdout.pipe(
      Stream.pipeThroughChannel(Transport.splitLines<PlatformError>({
        maxLineBytes,
        skipEmptyLines: true,
        onLineTooLong: (error) => Effect.zipRight(Effect.logWarning(error.message), diagnostics.publishAll([error]))
      })),
      Stream.runForEachChunk((lines) => inbox.offerAll(lines)),
      Effect.catchAll((error) => Effect.logDebug("codex app-server: reading stdout failed", error)),
      Effect.ensuring(Deferred.succeed(stdoutDone, undefined)),
      Effect.forkScoped
    )

    // stderr -> ring buffer + live subscribers; always drained
    yield* proc.stderr.pipe(
      Stream.pipeThroughChannel(Transport.splitLines<PlatformError>({
        maxLineBytes: STDERR_MAX_LINE_BYTES,
        onLineTooLong: (error) =>
          Effect.suspend(() => {
            const marker = `[stderr line of ${error.bytes} bytes dropped]`
            tail.push(marker)
            return stderrLines.publishAll([marker])
          })
      })),
      Stream.runForEachChunk((chunk) =>
        Effect.suspend(() => {
          const lines = Chunk.toReadonlyArray(chunk).map(stripAnsi)
          for (const line of lines) tail.push(line)
          return stderrLines.publishAll(lines)
        })
      ),
      Effect.catchAll((error) => Effect.logDebug("codex app-server: reading stderr failed", error)),
      Effect.ensuring(Effect.zipRight(Deferred.succeed(stderrDone, undefined), stderrLines.end)),
      Effect.forkScoped
    )

    // outbox -> stdin, one pipe write per chunk of queued lines; ends (closing stdin) with the outbox.
    // The platform sink waits for "drain" only between the items of a chunk, so every payload is
    // followed by an empty write: a full pipe then holds the writer (and, through the bounded
    // outbox, `send`) instead of growing Node's write buffer.
    const encoder = new TextEncoder()
    const flush = new Uint8Array(0)
    yield* Mailbox.toStream(outbox).pipe(
      Stream.mapChunks((lines) =>
        lines.length === 0
          ? Chunk.empty<Uint8Array>()
          : Chunk.make(encoder.encode(Chunk.toReadonlyArray(lines).join("\n") + "\n"), flush)
      ),
      Stream.run(proc.stdin),
      Effect.catchAll((error) => Effect.logDebug("codex app-server: writing stdin failed", error)),
      Effect.ensuring(outbox.shutdown),
      Effect.forkScoped
    )

    /** Records why the transport closed, once, and closes every channel with it. */
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
        yield* outbox.shutdown
        if (actual._tag === "TransportClosedError" && closing) yield* inbox.end
        else yield* inbox.fail(actual)
        yield* diagnostics.end
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

    // release ladder (registered after the fibers, so it runs before they are interrupted)
    const awaitExit = (timeout: Duration.Duration) =>
      Deferred.await(exitStatus).pipe(Effect.interruptible, Effect.timeoutOption(timeout), Effect.map(Option.isSome))
    const escalate = (signal: "SIGTERM" | "SIGKILL") =>
      Effect.logDebug(`codex app-server did not exit; sending ${signal} to process group ${pid}`).pipe(
        Effect.zipRight(proc.kill(signal).pipe(Effect.ignore, Effect.interruptible, Effect.timeoutOption(shutdownTimeout))),
        Effect.zipRight(awaitExit(DRAIN_GRACE))
      )
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closing = true
        if (!exited) {
          yield* outbox.end
          let done = yield* awaitExit(shutdownTimeout)
          if (!done) done = yield* escalate("SIGTERM")
          if (!done) done = yield* escalate("SIGKILL")
          if (!done) yield* Effect.logWarning(`codex app-server (pid ${pid}) did not exit after SIGKILL`)
        }
        const polled = yield* Deferred.poll(exitStatus)
        yield* finish(Option.isSome(polled) ? Option.some(yield* polled.value) : Option.none())
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

    const service: StdioTransport.Service = {
      pid,
      binary,
      send: (line) =>
        Effect.suspend(() =>
          exited
            ? sendFailure
            : line.includes("\n")
            ? Effect.dieMessage("Transport.send: a line must not contain \"\\n\"")
            : Effect.flatMap(outbox.offer(line), (ok) => ok ? Effect.void : sendFailure)
        ),
      incoming: Mailbox.toStream(inbox),
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
): Layer.Layer<
  Transport.Transport | StdioTransport,
  CodexBinaryNotFoundError | TransportClosedError,
  CommandExecutor.CommandExecutor
> =>
  Layer.scopedContext(
    Effect.map(make(config), (service) =>
      Context.make(Transport.Transport, service).pipe(Context.add(StdioTransport, service)))
  )
