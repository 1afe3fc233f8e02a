/**
 * `@effect-codex/cluster` as a user gets it: its `@effect/cluster` peers (the 3.x line) installed
 * next to the SDK, one runner and its client in one process (`CodexCluster.layerSingle`, SQLite in a
 * temp dir), a conversation's turn on a pool of the real pinned `codex` binary against `FakeModel`,
 * compiled with `tsc` and run with plain `node`; the process exits by itself once the scope closes.
 */
import { CodexCluster } from "@effect-codex/cluster"
import { FakeModel } from "@effect-codex/testing"
import { Context, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { TransferListItem } from "node:worker_threads"

// `@effect/cluster`'s declarations (Sharding, Entity -> `@effect/rpc/RpcClient`) name the DOM's
// `Transferable`; a Node project without skipLibCheck and without the DOM lib declares it.
declare global {
  type Transferable = TransferListItem
}

const tempDb = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-codex-consumer-cluster-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => path.join(dir, "cluster.db")))

const program = Effect.gen(function*() {
  const fake = yield* FakeModel.make({ replies: [FakeModel.text("Hello from the cluster.")] })
  const filename = yield* tempDb
  const context = yield* Layer.build(
    CodexCluster.layerSingle({ pool: { size: 1, config: fake.config }, storage: CodexCluster.sqlite(filename) })
  )
  const cluster = Context.get(context, CodexCluster.CodexCluster)
  const result = yield* cluster.conversation("consumer:1").run("hello")
  console.log(`cluster: answer ${JSON.stringify(Option.getOrNull(result.finalResponse))}, turn ${result.turn.status}`)
  const stored = yield* cluster.conversations
  console.log(`cluster: stored ${JSON.stringify(stored.map((c) => [c.conversationId, c.threadId === result.threadId]))}`)
}).pipe(Effect.scoped)

Effect.runPromise(program).then(
  () => console.log("cluster: done"),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
