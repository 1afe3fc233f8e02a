/**
 * `CodexJobs`: a batch of 10 "review this file" turns as a durable workflow on a one-process
 * cluster (`CodexCluster.layerSingle`, SQLite in a temp dir): 3 at a time, a failed turn retried
 * (offline, the FakeModel fails the first reply for `src/flaky.ts`), progress printed as it
 * changes, then each task's answer. Run it again with the same database (`--db <file>`) and the
 * batch is not run again: its outcomes come from the storage.
 *
 *   npx tsx --conditions=source examples/cluster/jobs.ts [--db cluster.db]
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Duration, Effect, Layer, Option, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { CodexCluster, CodexJobs } from "@effect-codex/cluster"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "../backend.js"

const files = Array.from({ length: 10 }, (_, i) => i === 4 ? "src/flaky.ts" : `src/module-${i}.ts`)
const dbArg = process.argv.indexOf("--db")
const seen = new Map<string, number>()

const reviews = CodexJobs.make("review")

const program = Effect.gen(function*() {
  const batchId = "review-2026-12"
  const outcomes = yield* reviews.run({
    batchId,
    tasks: files.map((file) => ({ id: file, input: `Review ${file} in one sentence.` })),
    concurrency: 3,
    retries: 2
  }).pipe(
    // progress, from the progress table, while the batch runs
    Effect.zipLeft(
      reviews.progress(batchId, { interval: Duration.millis(100) }).pipe(
        Stream.runForEach((p) =>
          Console.log(`progress: ${p.done}/${p.total} done, ${p.running} running, ${p.pending} pending, ${p.failed} failed`)
        )
      ),
      { concurrent: true }
    )
  )
  for (const o of outcomes) {
    yield* Console.log(
      o._tag === "Done"
        ? `${o.taskId} (attempts ${o.attempts}): ${Option.getOrElse(o.result.finalResponse, () => "(no answer)")}`
        : `${o.taskId} failed after ${o.attempts} attempts: ${o.error.reason}: ${o.error.message}`
    )
  }
  yield* Console.log(`${outcomes.filter((o) => o._tag === "Done").length} of ${outcomes.length} tasks done`)
})

const main = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-jobs-example-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )
  const db = dbArg >= 0 ? process.argv[dbArg + 1] : undefined
  const filename = db === undefined ? Path.join(dir, "cluster.db") : Path.resolve(db)
  yield* program.pipe(
    Effect.provide(
      CodexJobs.layer(reviews).pipe(
        Layer.provideMerge(CodexCluster.layerSingle({ pool: { size: 2, config: backend.config }, storage: CodexCluster.sqlite(filename) }))
      )
    )
  )
}).pipe(Effect.scoped)

main.pipe(
  Effect.provide(Backend.layer({
    fakeModel: {
      respond: (request) => {
        const text = FakeModel.lastUserText(request) ?? ""
        const n = (seen.get(text) ?? 0) + 1
        seen.set(text, n)
        const file = text.replace(/^Review (.*) in one sentence\.$/, "$1")
        return file === "src/flaky.ts" && n === 1
          ? FakeModel.failed("server_error", "the model had a bad moment")
          : FakeModel.text(`${file} looks fine.`)
      }
    }
  })),
  NodeRuntime.runMain
)
