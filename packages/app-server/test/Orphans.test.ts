import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as ProcessRegistry from "../src/ProcessRegistry.js"

// The registry and reapOrphans against real, unrelated processes (`sleep`), never codex: a record
// is forged for each one, with an owner that is alive (this process), dead (a process that has
// exited), or a pid whose start time does not match.

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-orphans-test-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

interface Child {
  readonly child: ChildProcess
  readonly pid: number
  /** Resolves with the signal that ended it (or null). */
  readonly exit: Promise<NodeJS.Signals | null>
}

/** A real process unrelated to codex, killed at the end of the scope if still running. */
const spawnChild = (command: string, args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.async<Child>((resume) => {
      const child = spawn(command, args, { stdio: "ignore" })
      const exit = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)))
      child.once("spawn", () => resume(Effect.succeed({ child, pid: child.pid!, exit })))
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

/** The pid of a process that has exited (and been reaped): an owner that is gone. */
const deadPid = Effect.gen(function*() {
  const { exit, pid } = yield* spawnChild("true", [])
  yield* Effect.promise(() => exit)
  return pid
})

const startTimeOf = (pid: number) => Effect.map(ProcessRegistry.startTime(pid), Option.getOrThrow)

const record = (fields: {
  readonly pid: number
  readonly startTime: string | null
  readonly ownerPid: number
  readonly ownerStartTime: string | null
}) => new ProcessRegistry.ProcessRecord({ version: 1, codexHome: "/nowhere/codex-home", ...fields })

const isRunning = (child: Child) => child.child.exitCode === null && child.child.signalCode === null

describe.skipIf(process.platform !== "linux")("ProcessRegistry (Linux)", () => {
  it.live("startTime is field 22 of /proc/<pid>/stat, stable, and None for a gone pid", () =>
    Effect.gen(function*() {
      const own = yield* ProcessRegistry.startTime(process.pid)
      const stat = Fs.readFileSync(`/proc/${process.pid}/stat`, "utf8")
      const field22 = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]
      assert.deepStrictEqual(own, Option.some(field22!))
      assert.deepStrictEqual(yield* ProcessRegistry.startTime(process.pid), own)
      assert.isTrue(Option.isNone(yield* ProcessRegistry.startTime(yield* deadPid)))
    }).pipe(Effect.scoped))

  it.scopedLive("register writes <pid>.json with both start times and removes it at the close", () =>
    Effect.gen(function*() {
      const dir = Path.join(yield* tempDir, "registry")
      const sleeper = yield* spawnChild("sleep", ["30"])
      const file = Path.join(dir, `${sleeper.pid}.json`)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* ProcessRegistry.register({ directory: dir, pid: sleeper.pid, codexHome: "/some/home", binary: "/bin/sleep" })
        const written = JSON.parse(Fs.readFileSync(file, "utf8"))
        assert.deepInclude(written, {
          version: 1,
          pid: sleeper.pid,
          startTime: yield* startTimeOf(sleeper.pid),
          codexHome: "/some/home",
          ownerPid: process.pid,
          ownerStartTime: yield* startTimeOf(process.pid),
          binary: "/bin/sleep"
        })
        assert.strictEqual(Fs.statSync(dir).mode & 0o777, 0o700)
        assert.strictEqual(Fs.statSync(file).mode & 0o777, 0o600)
      }))
      assert.isFalse(Fs.existsSync(file))

      // a process that did not exit at the release keeps its record for a later reap
      yield* Effect.scoped(ProcessRegistry.register({ directory: dir, pid: sleeper.pid, stillRunning: () => true }))
      assert.isTrue(Fs.existsSync(file))
    }))

  it.scopedLive("an unwritable registry never fails the registration", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const blocker = Path.join(dir, "a-file")
      Fs.writeFileSync(blocker, "")
      yield* ProcessRegistry.register({ directory: Path.join(blocker, "registry"), pid: process.pid })
    }))

  it.scopedLive("owner gone, same process: ended with SIGTERM, record removed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const orphan = yield* spawnChild("sleep", ["30"])
      const owner = yield* deadPid
      const r = record({ pid: orphan.pid, startTime: yield* startTimeOf(orphan.pid), ownerPid: owner, ownerStartTime: "1" })
      yield* ProcessRegistry.write(dir, r)

      const report = yield* ProcessRegistry.reapOrphans({ directory: dir })
      assert.strictEqual(yield* Effect.promise(() => orphan.exit), "SIGTERM")
      assert.deepStrictEqual(report.ended.map((e) => [e.record.pid, e.signal, e.exited]), [[orphan.pid, "SIGTERM", true]])
      assert.deepStrictEqual([report.removed, report.kept, report.unverified, report.errors], [[], [], [], []])
      assert.deepStrictEqual(Fs.readdirSync(dir), [])
    }))

  it.scopedLive("owner gone, SIGTERM ignored: SIGKILL after termTimeout", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      // an ignored signal stays ignored across exec: a sleep that ignores SIGTERM
      const stubborn = yield* spawnChild("sh", ["-c", "trap '' TERM; exec sleep 30"])
      const owner = yield* deadPid
      // let sh exec sleep (the ignore disposition is set before), so the start time is sleep's = sh's
      yield* Effect.sleep("100 millis")
      yield* ProcessRegistry.write(
        dir,
        record({ pid: stubborn.pid, startTime: yield* startTimeOf(stubborn.pid), ownerPid: owner, ownerStartTime: "1" })
      )
      const report = yield* ProcessRegistry.reapOrphans({ directory: dir, termTimeout: "300 millis" })
      assert.strictEqual(yield* Effect.promise(() => stubborn.exit), "SIGKILL")
      assert.strictEqual(report.ended.length, 1)
      assert.strictEqual(report.ended[0]!.signal, "SIGKILL")
      assert.isTrue(report.ended[0]!.exited)
      assert.isAtLeast(report.ended[0]!.millis, 300)
      assert.deepStrictEqual(Fs.readdirSync(dir), [])
    }))

  it.scopedLive("owner gone, pid alive with another start time (a reused pid): not killed, record removed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const unrelated = yield* spawnChild("sleep", ["30"])
      const owner = yield* deadPid
      const real = Number(yield* startTimeOf(unrelated.pid))
      const r = record({ pid: unrelated.pid, startTime: String(real - 1), ownerPid: owner, ownerStartTime: "1" })
      yield* ProcessRegistry.write(dir, r)

      const report = yield* ProcessRegistry.reapOrphans({ directory: dir, termTimeout: "200 millis" })
      assert.deepStrictEqual(report.removed.map((x) => [x.record.pid, x.reason]), [[unrelated.pid, "pid reused"]])
      assert.deepStrictEqual(report.ended, [])
      assert.deepStrictEqual(Fs.readdirSync(dir), [])
      // still running a while later: nothing was sent to it
      yield* Effect.sleep("300 millis")
      assert.isTrue(isRunning(unrelated))
    }))

  it.scopedLive("owner gone, process gone: record removed as exited", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const gone = yield* deadPid
      yield* ProcessRegistry.write(dir, record({ pid: gone, startTime: "12345", ownerPid: yield* deadPid, ownerStartTime: "1" }))
      const report = yield* ProcessRegistry.reapOrphans({ directory: dir })
      assert.deepStrictEqual(report.removed.map((x) => [x.record.pid, x.reason]), [[gone, "exited"]])
      assert.deepStrictEqual(Fs.readdirSync(dir), [])
    }))

  it.scopedLive("a live owner: untouched, record kept", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const child = yield* spawnChild("sleep", ["30"])
      const r = record({
        pid: child.pid,
        startTime: yield* startTimeOf(child.pid),
        ownerPid: process.pid,
        ownerStartTime: yield* startTimeOf(process.pid)
      })
      yield* ProcessRegistry.write(dir, r)
      const report = yield* ProcessRegistry.reapOrphans({ directory: dir, termTimeout: "200 millis" })
      assert.deepStrictEqual(report.kept.map((k) => k.pid), [child.pid])
      assert.deepStrictEqual([report.ended, report.removed], [[], []])
      yield* Effect.sleep("300 millis")
      assert.isTrue(isRunning(child))
      assert.deepStrictEqual(Fs.readdirSync(dir), [`${child.pid}.json`])
    }))

  it.scopedLive("an owner pid that is alive but was reused (other start time) counts as gone", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const orphan = yield* spawnChild("sleep", ["30"])
      const ownStart = Number(yield* startTimeOf(process.pid))
      yield* ProcessRegistry.write(
        dir,
        record({ pid: orphan.pid, startTime: yield* startTimeOf(orphan.pid), ownerPid: process.pid, ownerStartTime: String(ownStart + 7) })
      )
      const report = yield* ProcessRegistry.reapOrphans({ directory: dir })
      assert.strictEqual(yield* Effect.promise(() => orphan.exit), "SIGTERM")
      assert.strictEqual(report.ended.length, 1)
    }))

  it.scopedLive("malformed files are reported and left alone; the valid records are still handled", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const orphan = yield* spawnChild("sleep", ["30"])
      yield* ProcessRegistry.write(
        dir,
        record({ pid: orphan.pid, startTime: yield* startTimeOf(orphan.pid), ownerPid: yield* deadPid, ownerStartTime: "1" })
      )
      Fs.writeFileSync(Path.join(dir, "garbage.json"), "{not json")
      Fs.writeFileSync(Path.join(dir, "4242.json"), JSON.stringify({ version: 1, pid: "4242" }))
      Fs.writeFileSync(Path.join(dir, "empty.json"), "")
      Fs.writeFileSync(
        Path.join(dir, "77.json"),
        JSON.stringify({ version: 1, pid: 78, startTime: "1", codexHome: null, ownerPid: 1, ownerStartTime: "1" })
      )
      Fs.mkdirSync(Path.join(dir, "adir.json"))
      Fs.writeFileSync(Path.join(dir, "notes.txt"), "not a record, not a .json")

      const report = yield* ProcessRegistry.reapOrphans({ directory: dir })
      assert.strictEqual(yield* Effect.promise(() => orphan.exit), "SIGTERM")
      assert.strictEqual(report.ended.length, 1)
      const errors = report.errors.map((e) => [Path.basename(e.file), e._tag])
      assert.deepStrictEqual(errors, [
        ["4242.json", "RegistryEntryError"],
        ["77.json", "RegistryEntryError"],
        ["adir.json", "RegistryEntryError"],
        ["empty.json", "RegistryEntryError"],
        ["garbage.json", "RegistryEntryError"]
      ])
      assert.match(report.errors[1]!.message, /77\.json: the file name does not match its pid 78/)
      assert.match(report.errors[4]!.message, /garbage\.json: not a process record/)
      assert.deepStrictEqual(Fs.readdirSync(dir).sort(), ["4242.json", "77.json", "adir.json", "empty.json", "garbage.json", "notes.txt"])
    }))

  it.scopedLive("a folder others can write to, and symlinked records, are not trusted: nothing is signalled", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const child = yield* spawnChild("sleep", ["30"])
      const planted = record({ pid: child.pid, startTime: yield* startTimeOf(child.pid), ownerPid: yield* deadPid, ownerStartTime: "1" })
      // a symlink to a valid record, in a private folder
      const elsewhere = Path.join(dir, "elsewhere")
      yield* ProcessRegistry.write(elsewhere, planted)
      const registry = Path.join(dir, "registry")
      Fs.mkdirSync(registry, { mode: 0o700 })
      Fs.symlinkSync(Path.join(elsewhere, `${child.pid}.json`), Path.join(registry, `${child.pid}.json`))
      const viaLink = yield* ProcessRegistry.reapOrphans({ directory: registry, termTimeout: "200 millis" })
      assert.deepStrictEqual(viaLink.errors.map((e) => e.reason), ["ignored: not a regular file"])
      assert.deepStrictEqual(viaLink.ended, [])
      // the record itself, in a folder writable by others
      Fs.chmodSync(elsewhere, 0o777)
      const open = yield* ProcessRegistry.reapOrphans({ directory: elsewhere, termTimeout: "200 millis" })
      assert.deepStrictEqual(open.errors.map((e) => e.reason), ["the folder is ignored: writable by others (mode 777)"])
      assert.deepStrictEqual([open.ended, open.removed], [[], []])
      yield* Effect.sleep("300 millis")
      assert.isTrue(isRunning(child))
    }))

  it.live("a missing registry folder is an empty report", () =>
    Effect.gen(function*() {
      const report = yield* ProcessRegistry.reapOrphans({ directory: Path.join(Os.tmpdir(), "effect-codex-no-such-dir-" + process.pid) })
      assert.deepStrictEqual(report, { ended: [], removed: [], kept: [], unverified: [], errors: [] })
    }))
})

describe("ProcessRegistry.defaultDirectory", () => {
  it("is $XDG_RUNTIME_DIR/effect-codex, else <tmpdir>/effect-codex-<uid>", () => {
    const saved = process.env.XDG_RUNTIME_DIR
    try {
      process.env.XDG_RUNTIME_DIR = "/run/user/1234"
      assert.strictEqual(ProcessRegistry.defaultDirectory(), "/run/user/1234/effect-codex")
      delete process.env.XDG_RUNTIME_DIR
      const uid = typeof process.getuid === "function" ? `-${process.getuid()}` : ""
      assert.strictEqual(ProcessRegistry.defaultDirectory(), Path.join(Os.tmpdir(), `effect-codex${uid}`))
      assert.strictEqual(ProcessRegistry.directoryOf(false), undefined)
      assert.strictEqual(ProcessRegistry.directoryOf("/x"), "/x")
    } finally {
      if (saved === undefined) delete process.env.XDG_RUNTIME_DIR
      else process.env.XDG_RUNTIME_DIR = saved
    }
  })
})
