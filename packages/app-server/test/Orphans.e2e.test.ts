import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { FakeModel } from "@effect-codex/testing"
import * as Approvals from "../src/Approvals.js"
import * as CodexBinary from "../src/CodexBinary.js"
import * as Codex from "../src/Codex.js"
import * as ProcessRegistry from "../src/ProcessRegistry.js"
import * as StdioTransport from "../src/StdioTransport.js"

// No orphans, against the real binary. An owner process (test/fixtures/orphan-owner.ts) starts
// a CodexPool of 3 (three codex app-servers), runs a turn on one and a `sleep 300` command on another, and is
// SIGKILLed: every codex it started, and the command, must be gone within the guard (polled in
// /proc), and its thread must resume in a new process on the same CODEX_HOME. Then a codex whose
// owner is gone (simulated: a process the test holds, with a record naming a dead owner) is ended
// by `reapOrphans: true` when a new `Codex.layer` starts.

const fixture = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "fixtures", "orphan-owner.ts")
const repoRoot = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
/** Guards only: the waits below end on a condition, these bound a failure. */
const ownerReadyGuardMs = 60_000
const goneGuardMs = 20_000

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-orphans-e2e-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

interface Stat {
  readonly ppid: number
  readonly state: string
  readonly comm: string
}
const stat = (pid: number): Stat | undefined => {
  try {
    const text = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
    return { state: fields[0]!, ppid: Number(fields[1]), comm: text.slice(text.indexOf("(") + 1, text.lastIndexOf(")")) }
  } catch {
    return undefined
  }
}
/** Running: in /proc and not a zombie. */
const running = (pid: number): boolean => {
  const s = stat(pid)
  return s !== undefined && s.state !== "Z"
}
/** Every descendant of a pid (from /proc), with its command name. */
const descendants = (root: number): Array<{ readonly pid: number; readonly comm: string }> => {
  const children = new Map<number, Array<{ pid: number; comm: string }>>()
  for (const name of Fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue
    const s = stat(Number(name))
    if (s === undefined) continue
    const list = children.get(s.ppid) ?? []
    list.push({ pid: Number(name), comm: s.comm })
    children.set(s.ppid, list)
  }
  const out: Array<{ pid: number; comm: string }> = []
  const walk = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      out.push(child)
      walk(child.pid)
    }
  }
  walk(root)
  return out
}

const cmdline = (pid: number): string => {
  try {
    return Fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a.length > 0).join(" ")
  } catch {
    return ""
  }
}
/** The two background sleeps of "run two sleeps" (other short-lived processes of codex may be named `sleep` too). */
const backgroundSleeps = (tree: ReadonlyArray<{ readonly pid: number }>) =>
  tree.filter((c) => cmdline(c.pid) === "sleep 300" || cmdline(c.pid) === "sleep 301").map((c) => c.pid)
/** Waits (on the condition, within the guard) until both background sleeps run under `pid`; the tree then. */
const awaitBackgroundSleeps = (pid: number) =>
  Effect.promise(async () => {
    const since = performance.now()
    let found = descendants(pid)
    while (backgroundSleeps(found).length < 2 && performance.now() - since < goneGuardMs) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      found = descendants(pid)
    }
    return found
  })

/** Polls every 5 ms until each pid has left /proc (or is a zombie); the ms it took per pid, `undefined` if still running at the guard. */
const awaitGone = (pids: ReadonlyArray<number>, since: number, guardMs: number) =>
  Effect.promise(async () => {
    const gone = new Map<number, number>()
    while (gone.size < pids.length && performance.now() - since < guardMs) {
      for (const pid of pids) if (!gone.has(pid) && !running(pid)) gone.set(pid, Math.round((performance.now() - since) * 10) / 10)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    return pids.map((pid) => ({ pid, ms: gone.get(pid) }))
  })

interface Owner {
  readonly child: ChildProcess
  readonly report: { readonly pids: ReadonlyArray<number>; readonly threadId: string; readonly busyThreadId: string }
}

/** Starts the owner process and waits for its report line (or its early exit). */
const startOwner = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.async<Owner, Error>((resume) => {
      const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", fixture], {
        cwd: repoRoot,
        env: { ...process.env, ...env, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      const guard = setTimeout(() => {
        child.kill("SIGKILL")
        resume(Effect.fail(new Error(`the owner did not report within ${ownerReadyGuardMs} ms; stderr: ${stderr}`)))
      }, ownerReadyGuardMs)
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk
        const line = stdout.split("\n").find((l) => l.startsWith("{\"pids\""))
        if (line !== undefined) {
          clearTimeout(guard)
          resume(Effect.succeed({ child, report: JSON.parse(line) }))
        }
      })
      child.once("exit", (code, signal) => {
        clearTimeout(guard)
        resume(Effect.fail(new Error(`the owner exited early (${code ?? signal}); stdout: ${stdout}; stderr: ${stderr}`)))
      })
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

const respond = (request: FakeModel.RecordedRequest): FakeModel.Reply | undefined => {
  const text = FakeModel.lastUserText(request)
  if (text === "run sleep") {
    return FakeModel.toolOutputs(request).length === 0
      ? FakeModel.execCommand("sleep 300", { yieldTimeMs: 60_000 })
      : FakeModel.stall(FakeModel.text("slept"))
  }
  if (text === "run two sleeps") {
    return FakeModel.toolOutputs(request).length === 0
      ? FakeModel.execCommand("sleep 300 & sleep 301; wait", { yieldTimeMs: 60_000 })
      : FakeModel.stall(FakeModel.text("slept"))
  }
  if (text === "hello") return FakeModel.text("hello back")
  if (text === "again") return FakeModel.text("again back")
  return undefined
}

describe.skipIf(process.platform !== "linux")("no orphans (real codex app-server)", () => {
  it.scopedLive("the owner is SIGKILLed: its three app-servers and their command exit, its thread resumes elsewhere", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make({ respond })
      const registry = Path.join(yield* tempDir, "registry")
      const { child, report } = yield* startOwner({
        ORPHAN_OWNER_CONFIG: JSON.stringify({ codexHome: fake.codexHome, cwd: fake.workspace, processRegistry: registry })
      })
      assert.strictEqual(report.pids.length, 3)
      for (const pid of report.pids) assert.strictEqual(stat(pid)?.comm, "codex")
      // each server is recorded, with the owner's pid
      const listed = yield* ProcessRegistry.list(registry)
      assert.deepStrictEqual(listed.records.map((r) => r.pid).sort(), [...report.pids].sort())
      for (const r of listed.records) {
        assert.strictEqual(r.ownerPid, child.pid)
        assert.strictEqual(r.codexHome, fake.codexHome)
        assert.deepStrictEqual(yield* ProcessRegistry.startTime(r.pid), Option.fromNullable(r.startTime))
      }
      // the command item is reported before the shell runs it: wait (on the condition) for `sleep`
      const commands = yield* Effect.promise(async () => {
        const since = performance.now()
        let found = report.pids.flatMap(descendants)
        while (!found.some((c) => c.comm === "sleep") && performance.now() - since < goneGuardMs) {
          await new Promise((resolve) => setTimeout(resolve, 20))
          found = report.pids.flatMap(descendants)
        }
        return found
      })
      assert.isTrue(commands.some((c) => c.comm === "sleep"), `no sleep among ${JSON.stringify(commands)}`)

      const killedAt = performance.now()
      child.kill("SIGKILL")
      const servers = yield* awaitGone(report.pids, killedAt, goneGuardMs)
      const others = yield* awaitGone(commands.map((c) => c.pid), killedAt, goneGuardMs)
      const left = [...servers, ...others].filter((g) => g.ms === undefined)
      console.log(
        `owner SIGKILLed: app-servers gone after ${servers.map((s) => s.ms).join(", ")} ms; ` +
          `their descendants (${commands.map((c) => c.comm).join(", ")}) after ${others.map((s) => s.ms).join(", ")} ms; left: ${left.length}`
      )
      assert.deepStrictEqual(left, [])

      // the dead owner could not remove its records; the reaper does, without signalling anything
      const reaped = yield* ProcessRegistry.reapOrphans({ directory: registry })
      assert.deepStrictEqual(
        reaped.removed.map((r) => [r.record.pid, r.reason]).sort(),
        [...report.pids].sort().map((pid) => [pid, "exited"])
      )
      assert.deepStrictEqual(reaped.ended, [])
      assert.deepStrictEqual(Fs.readdirSync(registry), [])

      // a new process on the same CODEX_HOME resumes the thread the dead owner used
      const context = yield* Layer.build(
        Codex.layer({ ...fake.config, processRegistry: registry }).pipe(Layer.provide(Approvals.declineAll))
      )
      const codex = Context.get(context, Codex.Codex)
      const resumeStarted = performance.now()
      const resumed = yield* codex.threadResume(report.threadId)
      const resumeMs = Math.round(performance.now() - resumeStarted)
      assert.strictEqual(resumed.info.turns.length, 1)
      const again = yield* resumed.run("again")
      assert.deepStrictEqual([again.turn.status, Option.getOrNull(again.finalResponse)], ["completed", "again back"])
      // the thread whose turn was running (a command) when its owner died
      const busyStarted = performance.now()
      const busy = yield* codex.threadResume(report.busyThreadId)
      const busyMs = Math.round(performance.now() - busyStarted)
      const lastTurn = busy.info.turns[busy.info.turns.length - 1]
      console.log(
        `thread/resume after the owner's death: ${resumeMs} ms (idle thread), ${busyMs} ms (thread with a turn in flight; ` +
          `its last turn: status ${lastTurn?.status}, error ${JSON.stringify(lastTurn?.error ?? null)})`
      )
      assert.strictEqual(busy.info.turns.length, 1)
    }), { timeout: 120_000 })

  it.scopedLive("the writer lock: held while an orphan lives, free as soon as it is gone (even by SIGKILL)", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make({ respond })
      const build = Layer.build(Codex.layer({ ...fake.config, processRegistry: false }).pipe(Layer.provide(Approvals.declineAll)))
      // the orphan: a server that keeps running with the thread loaded
      const orphanScope = yield* Effect.acquireRelease(Scope.make(), (scope) => Scope.close(scope, Exit.void))
      const orphanContext = yield* Scope.extend(build, orphanScope)
      const orphanPid = Context.get(orphanContext, StdioTransport.StdioTransport).pid
      const thread = yield* Scope.extend(Context.get(orphanContext, Codex.Codex).threadStart(), orphanScope)
      yield* thread.run("hello")

      const codex = Context.get(yield* build, Codex.Codex)
      const refusedAt = performance.now()
      const refused = yield* Effect.flip(codex.threadResume(thread.id))
      const refusedMs = Math.round(performance.now() - refusedAt)
      assert.match(refused.message, /already has an active writer/)

      // what the first process holds under CODEX_HOME (open files, and its entries in /proc/locks)
      const held = Fs.readdirSync(`/proc/${orphanPid}/fd`).flatMap((fd) => {
        try {
          const target = Fs.readlinkSync(`/proc/${orphanPid}/fd/${fd}`)
          return target.startsWith(fake.codexHome) ? [Path.relative(fake.codexHome, target)] : []
        } catch {
          return []
        }
      })
      const lockFile = Path.join("thread-writer-locks", `${thread.id}.lock`)
      assert.include(held, lockFile)
      // the writer lock is an flock(2) on that file (the POSIX READ locks are sqlite's)
      const flocks = Fs.readFileSync("/proc/locks", "utf8").split("\n")
        .filter((l) => l.split(/\s+/).includes(String(orphanPid)) && /FLOCK\s+ADVISORY\s+WRITE/.test(l))
      assert.strictEqual(flocks.length, 1)
      assert.strictEqual(refused._tag, "InvalidRequestError")

      const killedAt = performance.now()
      process.kill(-orphanPid, "SIGKILL")
      const [gone] = yield* awaitGone([orphanPid], killedAt, goneGuardMs)
      // the file stays; the kernel dropped the flock with the process
      assert.isTrue(Fs.existsSync(Path.join(fake.codexHome, lockFile)))
      const resumedAt = performance.now()
      const resumed = yield* codex.threadResume(thread.id)
      const resumedMs = Math.round(performance.now() - resumedAt)
      const again = yield* resumed.run("again")
      console.log(
        `writer lock: resume while the first process lives -> ${JSON.stringify(refused.message)} after ${refusedMs} ms; ` +
          `that process SIGKILLed, gone after ${gone?.ms} ms; resume right after: ${resumedMs} ms, next turn ${again.turn.status}`
      )
      assert.strictEqual(again.turn.status, "completed")
    }), { timeout: 60_000 })

  it.scopedLive("a wedged orphan (SIGSTOPped) with a running command: SIGKILL after the bound, and the command's processes with it", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make({ respond })
      const registry = Path.join(yield* tempDir, "registry")
      const scope = yield* Effect.acquireRelease(Scope.make(), (scope) => Scope.close(scope, Exit.void))
      const context = yield* Scope.extend(
        Layer.build(Codex.layer({ ...fake.config, processRegistry: false }).pipe(Layer.provide(Approvals.declineAll))),
        scope
      )
      const pid = Context.get(context, StdioTransport.StdioTransport).pid
      // unsandboxed: under bwrap (its own pid namespace) the kernel would end the command with the sandbox
      const thread = yield* Scope.extend(Context.get(context, Codex.Codex).threadStart({ sandbox: "danger-full-access" }), scope)
      yield* Scope.extend(thread.turn("run two sleeps"), scope)
      // a shell with two background sleeps: SIGKILL of codex ends the shell, not its children
      const tree = yield* awaitBackgroundSleeps(pid)
      const sleeps = backgroundSleeps(tree)
      assert.strictEqual(sleeps.length, 2, JSON.stringify(tree))

      const record = yield* ProcessRegistry.makeRecord({ pid, codexHome: fake.codexHome })
      const deadOwner = yield* Effect.async<number>((resume) => {
        const c = spawn("true", [], { stdio: "ignore" })
        c.once("exit", () => resume(Effect.succeed(c.pid!)))
      })
      yield* ProcessRegistry.write(registry, new ProcessRegistry.ProcessRecord({ ...record, ownerPid: deadOwner, ownerStartTime: "1" }))
      process.kill(pid, "SIGSTOP")

      const started = performance.now()
      const report = yield* ProcessRegistry.reapOrphans({ directory: registry, termTimeout: "500 millis" })
      const left = (yield* awaitGone([pid, ...tree.map((c) => c.pid)], started, goneGuardMs)).filter((g) => g.ms === undefined)
      console.log(
        `wedged orphan: ended by ${report.ended[0]?.signal} after ${report.ended[0]?.millis} ms; ` +
          `descendants killed: ${report.ended[0]?.descendantsKilled.length} of ${tree.length}; left: ${left.length}`
      )
      assert.strictEqual(report.ended.length, 1)
      assert.strictEqual(report.ended[0]!.signal, "SIGKILL")
      assert.isTrue(report.ended[0]!.exited)
      // the background sleeps outlive codex's SIGKILL (see the release ladder's test): the reaper
      // killed them, directly or through their shell's process group (whichever came first)
      assert.isNotEmpty(report.ended[0]!.descendantsKilled)
      assert.deepStrictEqual(left, [])
      assert.deepStrictEqual(Fs.readdirSync(registry), [])
    }), { timeout: 60_000 })

  it.scopedLive("the release ladder's SIGKILL (a wedged codex) takes the command's processes with it", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make({ respond })
      const scope = yield* Scope.make()
      const context = yield* Scope.extend(
        Layer.build(
          Codex.layer({ ...fake.config, processRegistry: false, shutdownTimeout: "300 millis" }).pipe(Layer.provide(Approvals.declineAll))
        ),
        scope
      )
      const pid = Context.get(context, StdioTransport.StdioTransport).pid
      // unsandboxed: under bwrap (its own pid namespace) the kernel would end the command with the sandbox
      const thread = yield* Scope.extend(Context.get(context, Codex.Codex).threadStart({ sandbox: "danger-full-access" }), scope)
      // the turn outlives the closing scope: its finalizer would wait (Turn.abortTimeout) for a wedged server
      yield* thread.turn("run two sleeps")
      const tree = yield* awaitBackgroundSleeps(pid)
      assert.strictEqual(backgroundSleeps(tree).length, 2, JSON.stringify(tree))
      // wedged: ignores stdin EOF and SIGTERM, so the release has to SIGKILL it
      process.kill(pid, "SIGSTOP")
      const closing = performance.now()
      yield* Scope.close(scope, Exit.void)
      const closeMs = Math.round(performance.now() - closing)
      const left = (yield* awaitGone([pid, ...tree.map((c) => c.pid)], closing, goneGuardMs)).filter((g) => g.ms === undefined)
      console.log(`release of a wedged codex: closed after ${closeMs} ms; ${tree.length} descendants, left: ${left.length}`)
      assert.deepStrictEqual(left, [])
    }), { timeout: 60_000 })

  it.scopedLive("reapOrphans: true ends a real codex whose owner is gone, and registers the new one until its release", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make({})
      const registry = Path.join(yield* tempDir, "registry")
      const binary = yield* CodexBinary.resolve()
      // an orphan: codex in its own group, its stdin held open by this test (so EOF cannot end it)
      const orphan = yield* Effect.acquireRelease(
        Effect.async<ChildProcess>((resume) => {
          const child = spawn(binary.path, ["app-server", "--listen", "stdio://"], {
            env: { ...process.env, CODEX_HOME: fake.codexHome },
            stdio: ["pipe", "pipe", "ignore"],
            detached: true
          })
          // running for real: answered `initialize` (its signal handlers are installed by then)
          child.stdout!.once("data", () => resume(Effect.succeed(child)))
          child.stdin!.write(JSON.stringify({ id: 1, method: "initialize", params: { clientInfo: { name: "orphan", version: "0" } } }) + "\n")
        }),
        (child) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
      )
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        orphan.once("exit", (code, signal) => resolve({ code, signal }))
      )
      const deadOwner = yield* Effect.async<number>((resume) => {
        const c = spawn("true", [], { stdio: "ignore" })
        c.once("exit", () => resume(Effect.succeed(c.pid!)))
      })
      const record = yield* ProcessRegistry.makeRecord({ pid: orphan.pid!, codexHome: fake.codexHome })
      yield* ProcessRegistry.write(
        registry,
        new ProcessRegistry.ProcessRecord({ ...record, ownerPid: deadOwner, ownerStartTime: "1" })
      )

      const started = performance.now()
      const pid = yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(
          Codex.layer({ ...fake.config, processRegistry: registry, reapOrphans: true }).pipe(Layer.provide(Approvals.declineAll))
        )
        const pid = Context.get(context, StdioTransport.StdioTransport).pid
        // the orphan was ended before the new server started; only the new one is recorded
        assert.isFalse(running(orphan.pid!))
        const listed = yield* ProcessRegistry.list(registry)
        assert.deepStrictEqual(listed.records.map((r) => [r.pid, r.ownerPid]), [[pid, process.pid]])
        return pid
      }))
      const status = yield* Effect.promise(() => exited)
      console.log(`reapOrphans ended a real orphaned codex: exit ${JSON.stringify(status)}; layer ready after ${Math.round(performance.now() - started)} ms`)
      assert.deepStrictEqual(status, { code: 0, signal: null })
      assert.isFalse(running(pid))
      // released: the record is gone
      assert.deepStrictEqual(Fs.readdirSync(registry), [])
    }), { timeout: 60_000 })
})
