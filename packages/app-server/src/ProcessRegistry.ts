/**
 * No orphaned `codex app-server` processes: a registry of the processes this SDK started, and
 * `reapOrphans`, which ends those whose owner is gone.
 *
 * **When the owner dies, codex exits by itself.** The transport talks to codex over pipes; when
 * the owning Node process dies, even by SIGKILL, the kernel closes its end of codex's stdin, and
 * codex 0.171.0 exits on stdin EOF (observed: idle 3-11 ms; three servers, one running a shell
 * command, all gone 17-57 ms after the owner's SIGKILL, the command's whole process group with
 * them; see docs/PROTOCOL.md, "Processes and orphans"). That is the mechanism, and the only one:
 * no supervisor process is spawned. A wrapper (`sh`/`node` watching the parent) would add a
 * process per server and a failure mode of its own (the wrapper itself can be killed), while
 * stdin EOF already is a parent-death signal with no polling delay, on every platform. Node has no
 * `prctl(PR_SET_PDEATHSIG)`; and a death signal *to codex* would be worse than EOF: codex ends a
 * command's process group on EOF or SIGTERM, but when codex is SIGKILLed only the command's shell
 * dies, and what that shell started (`a & b; wait`) is left running under PID 1.
 *
 * **The registry is the backstop** for what EOF does not cover: a codex that is wedged and does
 * not read stdin, or one that the owner's release could not end. Each process started by
 * `StdioTransport` gets one small JSON file, `<pid>.json`, in {@link defaultDirectory}
 * (`$XDG_RUNTIME_DIR/effect-codex`, else `<os.tmpdir()>/effect-codex-<uid>`; `CodexConfig.processRegistry`
 * changes it or turns it off): the pid and its start time, `CODEX_HOME`, and the owner's pid and
 * start time (see {@link ProcessRecord}). The file is written when the process has started and
 * removed once it has exited on release. Writing it never fails the start: a registry that cannot
 * be written is logged (debug) and skipped.
 *
 * **{@link reapOrphans}** reads every record and, for each one whose owner is gone, ends the process
 * — but only if it is still the same process: its start time must equal the recorded one, so a
 * reused pid is never signalled (its record is removed). It sends SIGTERM (to the process group
 * when codex leads one, as `StdioTransport` starts it), waits up to `termTimeout`, then SIGKILL
 * — and, on Linux, SIGKILL to the descendants codex had just before (for the reason above).
 * Records of live owners are left untouched; files that cannot be read as records are reported
 * (and logged), never fatal. `CodexConfig.reapOrphans: true` runs it before a transport starts.
 *
 * **What is checked where.** Linux: start times are field 22 of `/proc/<pid>/stat` (clock ticks
 * since boot), compared exactly, never wall clock; a zombie counts as exited. Other
 * POSIX systems (macOS, BSD): the start time is `ps -o lstart= -p <pid>` (one-second resolution,
 * compared as text). Where neither is available (Windows), no start time can be verified: the
 * owner counts as alive while `process.kill(pid, 0)` succeeds, and a process whose start time is
 * not known is never signalled — its record is reported as `unverified` and kept.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { execFile } from "node:child_process"
import type { Stats } from "node:fs"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"

/**
 * One registered process, as stored in `<pid>.json`.
 *
 * @since 0.1.0
 * @category models
 */
export class ProcessRecord extends Schema.Class<ProcessRecord>("@effect-codex/app-server/ProcessRecord")({
  /** Format version of the file. */
  version: Schema.Literal(1),
  /** Pid of the `codex app-server` process. */
  pid: Schema.Int,
  /** Its start time (see {@link startTime}); `null` where it cannot be read. */
  startTime: Schema.NullOr(Schema.String),
  /** `CODEX_HOME` of the process, `null` when inherited. */
  codexHome: Schema.NullOr(Schema.String),
  /** Pid of the Node process that started it. */
  ownerPid: Schema.Int,
  /** The owner's start time, `null` where it cannot be read. */
  ownerStartTime: Schema.NullOr(Schema.String),
  /** The executable that was started (information only). */
  binary: Schema.optional(Schema.String),
  /** Wall-clock time of the start, ISO 8601 (information only; never used to match processes). */
  startedAt: Schema.optional(Schema.String)
}) {}

/**
 * A registry file that could not be used, or an action on a record that failed. Reported by
 * {@link reapOrphans}, never raised.
 *
 * @since 0.1.0
 * @category errors
 */
export class RegistryEntryError extends Schema.TaggedError<RegistryEntryError>(
  "@effect-codex/app-server/RegistryEntryError"
)("RegistryEntryError", {
  /** The file concerned. */
  file: Schema.String,
  /** What went wrong. */
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `process registry: ${this.file}: ${this.reason}`
  }
}

/**
 * What {@link reapOrphans} did with each record.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReapReport {
  /**
   * Orphans that were ended, with the last signal sent, whether they exited within the bound, how
   * long it took, and (after a SIGKILL) the pids of their descendants that were killed with them.
   */
  readonly ended: ReadonlyArray<{
    readonly record: ProcessRecord
    readonly signal: "SIGTERM" | "SIGKILL"
    readonly exited: boolean
    readonly millis: number
    readonly descendantsKilled: ReadonlyArray<number>
  }>
  /** Records removed without signalling: the process was gone, or its pid now belongs to another process. */
  readonly removed: ReadonlyArray<{ readonly record: ProcessRecord; readonly reason: "exited" | "pid reused" }>
  /** Records of live owners, left untouched. */
  readonly kept: ReadonlyArray<ProcessRecord>
  /** Orphans whose identity could not be verified (no start time on this platform): not signalled, kept. */
  readonly unverified: ReadonlyArray<ProcessRecord>
  /** Files that are not records (or could not be read or removed): ignored. */
  readonly errors: ReadonlyArray<RegistryEntryError>
}

/**
 * Options of {@link reapOrphans}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReapOptions {
  /** The registry folder. Default {@link defaultDirectory}. */
  readonly directory?: string
  /** How long to wait after SIGTERM before SIGKILL, and again after SIGKILL. Default 2 s. */
  readonly termTimeout?: Duration.DurationInput
}

/**
 * The default registry folder: `$XDG_RUNTIME_DIR/effect-codex` when `XDG_RUNTIME_DIR` is set,
 * else `<os.tmpdir()>/effect-codex-<uid>` (`effect-codex` where there are no uids).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultDirectory = (): string => {
  const runtime = process.env.XDG_RUNTIME_DIR
  if (runtime !== undefined && runtime.length > 0) return Path.join(runtime, "effect-codex")
  const uid = typeof process.getuid === "function" ? `-${process.getuid()}` : ""
  return Path.join(Os.tmpdir(), `effect-codex${uid}`)
}

/**
 * The registry folder of a configuration: `undefined` when the registry is off (`false`).
 *
 * @since 0.1.0
 * @category utils
 */
export const directoryOf = (processRegistry: string | false | undefined): string | undefined =>
  processRegistry === false ? undefined : processRegistry ?? defaultDirectory()

// ---------------------------------------------------------------------------------------------
// process identity
// ---------------------------------------------------------------------------------------------

interface ProcStat {
  readonly state: string
  readonly ppid: number
  readonly pgrp: number
  readonly startTime: string
}

/** Fields of `/proc/<pid>/stat` after the `(comm)`, which may itself contain spaces and parentheses. */
const readProcStat = (pid: number): Effect.Effect<Option.Option<ProcStat>> =>
  Effect.promise(async () => {
    try {
      const text = await Fs.readFile(`/proc/${pid}/stat`, "utf8")
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
      // fields[0] is field 3 (state), fields[1] field 4 (ppid), fields[2] field 5 (pgrp), fields[19] field 22 (starttime)
      const startTime = fields[19]
      if (fields[0] === undefined || startTime === undefined || !/^\d+$/.test(startTime)) return Option.none()
      return Option.some({ state: fields[0], ppid: Number(fields[1]), pgrp: Number(fields[2]), startTime })
    } catch {
      return Option.none()
    }
  })

let procAvailable: boolean | undefined
const hasProc: Effect.Effect<boolean> = Effect.promise(async () => {
  if (procAvailable === undefined) {
    try {
      await Fs.access(`/proc/${process.pid}/stat`)
      procAvailable = true
    } catch {
      procAvailable = false
    }
  }
  return procAvailable
})

const psStartTime = (pid: number): Effect.Effect<Option.Option<string>> =>
  Effect.async<Option.Option<string>>((resume) => {
    execFile("ps", ["-o", "lstart=", "-p", String(pid)], { timeout: 5_000 }, (error, stdout) => {
      const text = error === null ? stdout.trim() : ""
      resume(Effect.succeed(text.length > 0 ? Option.some(`ps:${text}`) : Option.none()))
    })
  })

/**
 * The start time of a running process, as a string that stays the same for the life of that
 * process and differs for a later process with the same pid: on Linux the clock ticks since boot
 * (field 22 of `/proc/<pid>/stat`, zombies count as gone); elsewhere on POSIX `ps -o lstart=`
 * prefixed with `ps:`; `None` when the process does not exist or no source is available.
 *
 * @since 0.1.0
 * @category utils
 */
export const startTime = (pid: number): Effect.Effect<Option.Option<string>> =>
  Effect.flatMap(hasProc, (proc) => {
    if (proc) {
      return Effect.map(readProcStat(pid), Option.flatMap((s) => s.state === "Z" ? Option.none() : Option.some(s.startTime)))
    }
    return process.platform === "win32" ? Effect.succeed(Option.none()) : psStartTime(pid)
  })

const signalExists = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Whether the process recorded as (pid, start) still runs: same pid AND same start time when one was recorded. */
const isSameProcess = (pid: number, recorded: string | null): Effect.Effect<"same" | "gone" | "other" | "unknown"> =>
  Effect.map(startTime(pid), (now) => {
    if (Option.isSome(now)) return recorded === null ? "unknown" : now.value === recorded ? "same" : "other"
    // no start time now: gone on Linux/ps (where it would be readable), unknown on Windows
    if (recorded !== null) return "gone"
    return signalExists(pid) ? "unknown" : "gone"
  })

// ---------------------------------------------------------------------------------------------
// records
// ---------------------------------------------------------------------------------------------

const decodeRecord = Schema.decodeUnknown(Schema.parseJson(ProcessRecord))
const encodeRecord = Schema.encode(Schema.parseJson(ProcessRecord))

const fileOf = (directory: string, pid: number) => Path.join(directory, `${pid}.json`)

/**
 * Builds the record of a process just started by this Node process.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRecord = (options: {
  readonly pid: number
  readonly codexHome?: string | undefined
  readonly binary?: string | undefined
}): Effect.Effect<ProcessRecord> =>
  Effect.gen(function*() {
    const [processStart, ownerStart] = yield* Effect.all([startTime(options.pid), startTime(process.pid)], {
      concurrency: 2
    })
    return new ProcessRecord({
      version: 1,
      pid: options.pid,
      startTime: Option.getOrNull(processStart),
      codexHome: options.codexHome ?? process.env.CODEX_HOME ?? null,
      ownerPid: process.pid,
      ownerStartTime: Option.getOrNull(ownerStart),
      binary: options.binary,
      startedAt: new Date().toISOString()
    })
  })

/**
 * Writes a record (atomically: a temporary file renamed over `<pid>.json`), creating the folder
 * with mode `0700` when needed.
 *
 * @since 0.1.0
 * @category registry
 */
export const write = (directory: string, record: ProcessRecord): Effect.Effect<void, RegistryEntryError> => {
  const file = fileOf(directory, record.pid)
  return Effect.flatMap(Effect.orDie(encodeRecord(record)), (json) =>
    Effect.tryPromise({
      try: async () => {
        await Fs.mkdir(directory, { recursive: true, mode: 0o700 })
        const tmp = `${file}.${process.pid}.tmp`
        await Fs.writeFile(tmp, json + "\n", { mode: 0o600 })
        await Fs.rename(tmp, file)
      },
      catch: (cause) => new RegistryEntryError({ file, reason: `cannot write the record: ${String(cause)}`, cause })
    }))
}

/**
 * Removes the record of a pid (nothing when there is none).
 *
 * @since 0.1.0
 * @category registry
 */
export const remove = (directory: string, pid: number): Effect.Effect<void, RegistryEntryError> => {
  const file = fileOf(directory, pid)
  return Effect.tryPromise({
    try: () => Fs.rm(file, { force: true }),
    catch: (cause) => new RegistryEntryError({ file, reason: `cannot remove the record: ${String(cause)}`, cause })
  })
}

/**
 * Registers a process for the life of the scope: the record is written now and removed when the
 * scope closes — unless `stillRunning` (checked at the close) says the process did not exit, so
 * that a later {@link reapOrphans} can find it. Failures are logged at debug level and ignored.
 *
 * @since 0.1.0
 * @category registry
 */
export const register = (options: {
  readonly directory: string
  readonly pid: number
  readonly codexHome?: string | undefined
  readonly binary?: string | undefined
  readonly stillRunning?: () => boolean
}): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.flatMap(makeRecord(options), (record) => write(options.directory, record)).pipe(
      Effect.as(true),
      Effect.catchAll((error) => Effect.as(Effect.logDebug(error.message), false))
    ),
    (written) =>
      written && options.stillRunning?.() !== true
        ? Effect.catchAll(remove(options.directory, options.pid), (error) => Effect.logDebug(error.message))
        : Effect.void
  ).pipe(Effect.asVoid, Effect.annotateLogs({ module: "ProcessRegistry" }))

/**
 * Why a registry folder or file must not be trusted, if it must not: records are only read from a
 * folder that is this user's own and writable by nobody else, and from regular files (not
 * symlinks) of this user — anyone else could plant a record naming one of this user's processes.
 * Not checked where there are no uids (Windows).
 */
const notPrivate = (stat: Stats, folder: boolean): string | undefined => {
  if (folder ? !stat.isDirectory() : !stat.isFile()) return folder ? "not a directory" : "not a regular file"
  if (typeof process.getuid !== "function") return undefined
  if (stat.uid !== process.getuid()) return `owned by uid ${stat.uid}, not ${process.getuid()}`
  if (folder && (stat.mode & 0o022) !== 0) return `writable by others (mode ${(stat.mode & 0o777).toString(8)})`
  return undefined
}

/**
 * Reads every `*.json` file of the folder: the records, and an error per file that is not one
 * (unreadable, not JSON, not a record, or a name that is not `<pid>.json` of its pid). A missing
 * folder is an empty registry. On POSIX only a folder owned by this user and writable by nobody
 * else is read (else: one error, no records), and only regular files of this user (else: an
 * error each) — so no one else can plant a record that makes `reapOrphans` signal this user's
 * processes.
 *
 * @since 0.1.0
 * @category registry
 */
export const list = (
  directory: string
): Effect.Effect<{ readonly records: ReadonlyArray<ProcessRecord>; readonly errors: ReadonlyArray<RegistryEntryError> }> =>
  Effect.gen(function*() {
    const records: Array<ProcessRecord> = []
    const errors: Array<RegistryEntryError> = []
    const folder = yield* Effect.promise(() => Fs.lstat(directory).then((s) => Option.some(s), () => Option.none<Stats>()))
    if (Option.isNone(folder)) return { records, errors }
    const foreign = notPrivate(folder.value, true)
    if (foreign !== undefined) {
      errors.push(new RegistryEntryError({ file: directory, reason: `the folder is ignored: ${foreign}` }))
      return { records, errors }
    }
    const names = yield* Effect.promise(() => Fs.readdir(directory).catch((): Array<string> => []))
    for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
      const file = Path.join(directory, name)
      const read = yield* Effect.promise(async (): Promise<{ readonly text: string } | { readonly problem: string }> => {
        try {
          const problem = notPrivate(await Fs.lstat(file), false)
          return problem !== undefined ? { problem: `ignored: ${problem}` } : { text: await Fs.readFile(file, "utf8") }
        } catch {
          return { problem: "cannot be read" }
        }
      })
      if ("problem" in read) {
        errors.push(new RegistryEntryError({ file, reason: read.problem }))
        continue
      }
      const decoded = yield* Effect.either(decodeRecord(read.text))
      if (decoded._tag === "Left") {
        errors.push(new RegistryEntryError({ file, reason: `not a process record: ${decoded.left.message.replace(/\s+/g, " ").slice(0, 400)}` }))
      } else if (name !== `${decoded.right.pid}.json`) {
        errors.push(new RegistryEntryError({ file, reason: `the file name does not match its pid ${decoded.right.pid}` }))
      } else {
        records.push(decoded.right)
      }
    }
    return { records, errors }
  })

// ---------------------------------------------------------------------------------------------
// reaping
// ---------------------------------------------------------------------------------------------

/** SIGTERM/SIGKILL the process group when the process leads one (Linux: checked in /proc), else the process. */
const signal = (pid: number, sig: NodeJS.Signals): Effect.Effect<void> =>
  Effect.flatMap(readProcStat(pid), (stat) =>
    Effect.sync(() => {
      const group = process.platform !== "win32" && Option.isSome(stat) && stat.value.pgrp === pid
      try {
        process.kill(group ? -pid : pid, sig)
      } catch {
        try {
          process.kill(pid, sig)
        } catch {
          // already gone
        }
      }
    }))

/**
 * A process seen at one moment: its pid and start time (see {@link startTime}).
 *
 * @since 0.1.0
 * @category models
 */
export interface ProcessId {
  readonly pid: number
  readonly startTime: string
}

/**
 * Every descendant of a process, with its start time (Linux only: from /proc; elsewhere none).
 * Codex runs a turn's commands in sessions of their own, which a signal to codex's group does not
 * reach and which a SIGKILL of codex leaves behind (codex only ends them itself, on stdin EOF or
 * SIGTERM): take this snapshot before a SIGKILL, then {@link killAll} it.
 *
 * @since 0.1.0
 * @category utils
 */
export const descendantsOf = (root: number): Effect.Effect<ReadonlyArray<ProcessId>> =>
  Effect.gen(function*() {
    if (!(yield* hasProc)) return []
    const names = yield* Effect.promise(() => Fs.readdir("/proc").catch((): Array<string> => []))
    const stats = yield* Effect.forEach(
      names.filter((n) => /^\d+$/.test(n)),
      (n) => Effect.map(readProcStat(Number(n)), Option.map((s) => ({ pid: Number(n), ...s }))),
      { concurrency: 16 }
    )
    const children = new Map<number, Array<{ readonly pid: number; readonly startTime: string }>>()
    for (const s of stats) {
      if (Option.isNone(s) || s.value.state === "Z") continue
      const list = children.get(s.value.ppid) ?? []
      list.push({ pid: s.value.pid, startTime: s.value.startTime })
      children.set(s.value.ppid, list)
    }
    const out: Array<{ readonly pid: number; readonly startTime: string }> = []
    const walk = (pid: number) => {
      for (const child of children.get(pid) ?? []) {
        out.push(child)
        walk(child.pid)
      }
    }
    walk(root)
    return out
  })

/**
 * SIGKILLs each process of a snapshot that still runs as the same process (pid and start time;
 * its process group too when it leads one) and returns the pids signalled.
 *
 * @since 0.1.0
 * @category utils
 */
export const killAll = (processes: ReadonlyArray<ProcessId>): Effect.Effect<ReadonlyArray<number>> =>
  Effect.gen(function*() {
    const killed: Array<number> = []
    for (const p of processes) {
      if ((yield* isSameProcess(p.pid, p.startTime)) !== "same") continue
      yield* signal(p.pid, "SIGKILL")
      killed.push(p.pid)
    }
    return killed
  })

/** Polls (every 20 ms) until the process is no longer the recorded one, up to `timeout`. */
const awaitGone = (record: ProcessRecord, timeout: Duration.Duration): Effect.Effect<boolean> =>
  isSameProcess(record.pid, record.startTime).pipe(
    Effect.flatMap((s) => s === "same" ? Effect.fail("running" as const) : Effect.succeed(true)),
    Effect.retry({ schedule: Schedule.spaced(Duration.millis(20)) }),
    Effect.timeoutTo({ duration: timeout, onTimeout: () => false, onSuccess: (gone) => gone }),
    Effect.catchAll(() => Effect.succeed(false))
  )

const ownerAlive = (record: ProcessRecord): Effect.Effect<boolean> =>
  Effect.map(isSameProcess(record.ownerPid, record.ownerStartTime), (s) => s === "same" || s === "unknown")

/**
 * Ends the registered processes whose owner is gone, once per record:
 *
 * - owner alive (same pid and start time) → kept, untouched;
 * - owner gone, process gone → record removed (`exited`);
 * - owner gone, pid alive with another start time → a different process: not signalled, record
 *   removed (`pid reused`);
 * - owner gone, same process → SIGTERM, up to `termTimeout` for it to exit, then SIGKILL (and the
 *   same bound again), and on Linux SIGKILL for its descendants as they were just before (each
 *   checked by pid and start time: codex's commands run in sessions of their own, which codex ends
 *   on SIGTERM but cannot after a SIGKILL); record removed once it is gone;
 * - no start time to verify (Windows) → `unverified`, not signalled, kept;
 * - a file that is not a record → reported in `errors` (and logged as a warning), left in place.
 *
 * Never fails; the report says what happened.
 *
 * @since 0.1.0
 * @category reaping
 */
export const reapOrphans = (options: ReapOptions = {}): Effect.Effect<ReapReport> =>
  Effect.gen(function*() {
    const directory = options.directory ?? defaultDirectory()
    const termTimeout = Duration.decode(options.termTimeout ?? Duration.seconds(2))
    const { errors: listErrors, records } = yield* list(directory)
    const errors: Array<RegistryEntryError> = [...listErrors]
    const ended: Array<ReapReport["ended"][number]> = []
    const removed: Array<ReapReport["removed"][number]> = []
    const kept: Array<ProcessRecord> = []
    const unverified: Array<ProcessRecord> = []
    const drop = (record: ProcessRecord) =>
      Effect.catchAll(remove(directory, record.pid), (error) => Effect.sync(() => errors.push(error)))

    yield* Effect.forEach(records, (record) =>
      Effect.gen(function*() {
        if (yield* ownerAlive(record)) return kept.push(record)
        const state = yield* isSameProcess(record.pid, record.startTime)
        if (state === "gone") {
          removed.push({ record, reason: "exited" })
          return yield* drop(record)
        }
        if (state === "other") {
          removed.push({ record, reason: "pid reused" })
          return yield* drop(record)
        }
        if (state === "unknown") return unverified.push(record)
        const started = Date.now()
        yield* Effect.logInfo(`ending orphaned codex app-server ${record.pid} (owner ${record.ownerPid} is gone)`)
        yield* signal(record.pid, "SIGTERM")
        let last: "SIGTERM" | "SIGKILL" = "SIGTERM"
        let exited = yield* awaitGone(record, termTimeout)
        const descendantsKilled: Array<number> = []
        if (!exited && (yield* isSameProcess(record.pid, record.startTime)) === "same") {
          last = "SIGKILL"
          // codex cannot end its commands after a SIGKILL: they are ended here (same pid and start time only)
          const tree = yield* descendantsOf(record.pid)
          yield* signal(record.pid, "SIGKILL")
          exited = yield* awaitGone(record, termTimeout)
          descendantsKilled.push(...(yield* killAll(tree)))
        }
        ended.push({ record, signal: last, exited, millis: Date.now() - started, descendantsKilled })
        if (exited) yield* drop(record)
        else yield* Effect.logWarning(`orphaned codex app-server ${record.pid} did not exit after SIGKILL`)
      }), { concurrency: 4, discard: true })

    for (const error of errors) yield* Effect.logWarning(error.message)
    return { ended, removed, kept, unverified, errors }
  }).pipe(Effect.annotateLogs({ module: "ProcessRegistry" }))
