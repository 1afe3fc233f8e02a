import { assert, describe, it } from "@effect/vitest"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { FakeModel } from "@effect-codex/testing"
import { CodexCluster, CodexJobs } from "../src/index.js"

// CodexJobs over the real binary and a FakeModel on 127.0.0.1: a batch in one process (retries,
// concurrency, progress, results), and a batch whose process is SIGKILLed mid-batch and resumed
// by a new process on the same SQLite file and CODEX_HOME. Every wait is for an answer, a line
// or a count; timeouts are guards only.

const fixture = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "fixtures", "jobs-batch.ts")
const root = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-jobs-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** Requests whose last user message is `text`. */
const requestsFor = (requests: ReadonlyArray<FakeModel.RecordedRequest>, text: string) =>
  requests.filter((r) => r.path.endsWith("/responses") && FakeModel.lastUserText(r) === text).length

const guard = <A, E, R>(what: string, seconds = 90) => (effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutFail(effect, { duration: Duration.seconds(seconds), onTimeout: () => new Error(`timed out: ${what}`) })

describe("CodexJobs (real binary)", () => {
  it.scopedLive("a batch in one process: concurrency 2, a failed reply retried, outcomes in order, progress to done = total", () =>
    Effect.gen(function*() {
      // "flaky" fails its first reply (response.failed: the turn fails), then answers; "doomed" always fails
      const seen = new Map<string, number>()
      const fake = yield* FakeModel.make({
        respond: (request) => {
          const text = FakeModel.lastUserText(request) ?? ""
          const n = (seen.get(text) ?? 0) + 1
          seen.set(text, n)
          if (text.startsWith("doomed") || (text.startsWith("flaky") && n === 1)) return FakeModel.failed("server_error", `no luck for ${text}`)
          return FakeModel.text(`re: ${text}`)
        }
      })
      const dir = yield* tempDir
      const jobs = CodexJobs.make("review")
      const context = yield* Layer.build(
        CodexJobs.layer(jobs).pipe(
          Layer.provideMerge(CodexCluster.layerSingle({ pool: { size: 2, config: fake.config }, storage: CodexCluster.sqlite(Path.join(dir, "cluster.db")) }))
        )
      )
      const provide = Effect.provide(context)
      const inputs = ["file a.ts", "file b.ts", "file c.ts", "flaky d.ts", "file e.ts", "file f.ts"]
      const batch: CodexJobs.Batch = {
        batchId: "batch-1",
        tasks: inputs.map((input, i) => ({ id: `t${i}`, input })),
        concurrency: 2,
        retries: 2
      }
      const progress = yield* Effect.fork(Stream.runCollect(jobs.progress("batch-1", { interval: Duration.millis(20) })).pipe(provide))
      const outcomes = yield* jobs.run(batch).pipe(provide, guard("the batch"))

      assert.deepStrictEqual(outcomes.map((o) => o.taskId), ["t0", "t1", "t2", "t3", "t4", "t5"])
      for (const [i, o] of outcomes.entries()) {
        assert.strictEqual(o._tag, "Done", JSON.stringify(o))
        if (o._tag !== "Done") continue
        assert.strictEqual(Option.getOrNull(o.result.finalResponse), `re: ${inputs[i]}`)
        assert.strictEqual(o.attempts, i === 3 ? 2 : 1)
        assert.strictEqual(o.conversationId, `review/batch-1/t${i}`)
      }
      assert.strictEqual(new Set(outcomes.map((o) => o._tag === "Done" ? o.result.threadId : "")).size, 6, "one thread per task")
      const requests = yield* fake.requests
      for (const [i, input] of inputs.entries()) assert.strictEqual(requestsFor(requests, input), i === 3 ? 2 : 1, input)

      const snapshots = Chunk.toReadonlyArray(yield* Fiber.join(progress).pipe(guard("the progress stream")))
      const last = snapshots[snapshots.length - 1]!
      assert.deepInclude(last, { total: 6, done: 6, failed: 0, running: 0, pending: 0, attempts: 7, runs: 7, finished: true })
      assert.isAtMost(Math.max(...snapshots.map((p) => p.running)), 2, "never more than 2 tasks running")
      assert.isTrue(snapshots.some((p) => p.done > 0 && p.done < 6), "progress seen in between")

      const states = yield* jobs.results("batch-1").pipe(provide)
      assert.deepStrictEqual(
        states.map((s) => [s.taskId, s.status, s.attempts, s.runs]),
        inputs.map((_, i) => [`t${i}`, "done", i === 3 ? 2 : 1, i === 3 ? 2 : 1])
      )
      assert.strictEqual(Option.getOrNull(Option.flatMap(states[3]!.result, (r) => r.finalResponse)), "re: flaky d.ts")

      // a task that fails every attempt is reported failed, the others go on; running the same batch
      // again joins the finished execution: same outcomes, no new model request
      const doomed: CodexJobs.Batch = {
        batchId: "batch-2",
        tasks: [{ id: "ok", input: "file g.ts" }, { id: "bad", input: "doomed h.ts" }],
        concurrency: 2,
        retries: 1
      }
      const second = yield* jobs.run(doomed).pipe(provide, guard("the second batch"))
      assert.strictEqual(second[0]!._tag, "Done")
      const bad = second[1]!
      assert.strictEqual(bad._tag, "Failed")
      if (bad._tag === "Failed") {
        assert.strictEqual(bad.attempts, 2)
        assert.strictEqual(bad.error.reason, "TurnFailedError")
        assert.include(bad.error.message, "no luck for doomed h.ts")
      }
      const before = (yield* fake.requests).length
      const again = yield* jobs.run(doomed).pipe(provide, guard("the batch run again"))
      assert.deepStrictEqual(again.map((o) => [o._tag, o.attempts]), [["Done", 1], ["Failed", 2]])
      assert.strictEqual((yield* fake.requests).length, before)
      const polled = yield* jobs.poll("batch-2").pipe(provide)
      assert.isTrue(Option.isSome(polled))
      const states2 = yield* jobs.results("batch-2").pipe(provide)
      assert.deepStrictEqual(states2.map((s) => [s.status, s.attempts]), [["done", 1], ["failed", 2]])
      assert.strictEqual(Option.getOrNull(Option.map(states2[1]!.error, (e) => e.reason)), "TurnFailedError")
    }), { timeout: 180_000 })

  it.scopedLive("durability: the batch's process SIGKILLed after 3 of 8 tasks, a new process resumes without redoing them", () =>
    Effect.gen(function*() {
      const tasks = 8
      const inputs = Array.from({ length: tasks }, (_, i) => `durable task ${i}`)
      // task 3's first reply stalls: the kill always lands while it is in flight
      const seen = new Map<string, number>()
      const timeline: Array<{ readonly text: string; readonly at: number }> = []
      const fake = yield* FakeModel.make({
        respond: (request) => {
          const text = FakeModel.lastUserText(request) ?? ""
          const n = (seen.get(text) ?? 0) + 1
          seen.set(text, n)
          timeline.push({ text, at: Date.now() })
          return text === inputs[3] && n === 1 ? FakeModel.stall(FakeModel.text(`re: ${text}`)) : FakeModel.text(`re: ${text}`)
        }
      })
      yield* Effect.addFinalizer(() => Effect.asVoid(fake.releaseStalls))
      const dir = yield* tempDir
      const sqlite = Path.join(dir, "cluster.db")
      const env = JSON.stringify({ sqlite, config: fake.config, batchId: "durable-1", tasks, concurrency: 1 })

      const children: Array<ChildProcess> = []
      yield* Effect.addFinalizer(() => Effect.sync(() => {
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL")
      }))
      const startChild = Effect.gen(function*() {
        let stdout = ""
        let stderr = ""
        const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", fixture], {
          cwd: root,
          env: { ...process.env, JOBS_BATCH: env },
          stdio: ["pipe", "pipe", "pipe"]
        })
        children.push(child)
        child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
        child.stderr!.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
        const line = <A>(match: (json: any) => A | undefined, what: string) =>
          Effect.async<A, Error>((resume) => {
            const check = () => {
              for (const l of stdout.split("\n")) {
                if (!l.startsWith("{")) continue
                const found = match(JSON.parse(l))
                if (found !== undefined) return resume(Effect.succeed(found))
              }
            }
            child.stdout!.on("data", check)
            child.once("exit", (code, signal) => resume(Effect.fail(new Error(`child exited (${code ?? signal}) before ${what}: ${stderr}`))))
            check()
          }).pipe(guard(what, 120))
        return { child, line, stderr: () => stderr }
      })
      const exited = (child: ChildProcess) =>
        Effect.async<void>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
          child.once("exit", () => resume(Effect.void))
        })

      // the progress table, read by this process from the same SQLite file
      const jobs = CodexJobs.make("durable")
      const sql = yield* Layer.build(SqliteClient.layer({ filename: sqlite }))
      const progress = jobs.progress("durable-1", { interval: Duration.millis(50) }).pipe(Stream.provideContext(sql))

      const first = yield* startChild
      yield* first.line((j) => (j.ready ? true : undefined), "the first child ready")
      // 3 tasks done and the 4th stalled in flight
      yield* Effect.gen(function*() {
        yield* progress.pipe(Stream.takeUntil((p) => p.done >= 3), Stream.runDrain)
        yield* fake.stalled.pipe(Effect.repeat({ schedule: Schedule.spaced(Duration.millis(50)), until: (n) => n === 1 }))
      }).pipe(guard("3 tasks done and the 4th in flight"))
      const atKill = yield* progress.pipe(Stream.take(1), Stream.runHead, Effect.map(Option.getOrThrow))
      const requestsAtKill = yield* fake.requests
      first.child.kill("SIGKILL")
      yield* exited(first.child)
      const killedAt = Date.now()
      yield* fake.releaseStalls

      const second = yield* startChild
      const outcomes = yield* second.line((j) => j.outcomes as ReadonlyArray<{ taskId: string; tag: string; attempts: number; text: string }> | undefined, "the outcomes")
      const resumedIn = Date.now() - killedAt
      const requests = yield* fake.requests
      const firstAfter = timeline.find((t) => t.at > killedAt)
      assert.deepStrictEqual(outcomes.map((o) => [o.taskId, o.tag, o.text]), inputs.map((input, i) => [`t${i}`, "Done", `re: ${input}`]))
      const counts = inputs.map((input) => requestsFor(requests, input))
      const finishedBeforeKill = inputs.filter((input) => requestsFor(requestsAtKill, input) === 1 && input !== inputs[3])
      assert.strictEqual(atKill.done, 3)
      assert.strictEqual(finishedBeforeKill.length, 3)
      for (const input of finishedBeforeKill) assert.strictEqual(requestsFor(requests, input), 1, `${input} was run again`)
      const repeated = counts.filter((n) => n > 1).length
      // the task in flight is run again, once: its conversation's persisted Run is delivered again
      // and the re-run activity's Run (same idempotency key) gets that one's answer
      assert.deepStrictEqual(counts, [1, 1, 1, 2, 1, 1, 1, 1], `model requests per task ${counts.join(",")}`)
      const final = yield* progress.pipe(Stream.runLast, Effect.map(Option.getOrThrow), guard("final progress"))
      assert.deepInclude(final, { total: 8, done: 8, failed: 0, attempts: 8, runs: 9, finished: true })
      console.log(
        `CodexJobs durability: SIGKILLed after ${atKill.done}/8 tasks done (1 in flight); the new process's first model request came ` +
          `${firstAfter === undefined ? "?" : firstAfter.at - killedAt} ms after the kill (${firstAfter?.text}), the batch finished ${resumedIn} ms after it; ` +
          `tasks repeated: ${repeated} (model requests per task ${counts.join(",")})`
      )
    }), { timeout: 300_000 })
})
