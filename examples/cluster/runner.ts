/**
 * One runner of the cluster demo (and of the cluster's failover tests): hosts `CodexConversation`s
 * on a `CodexPool` of 2 app-server processes, listens for the other runners and clients on
 * 127.0.0.1:<port>, keeps the cluster's state in the storage it is given, prints one JSON line
 * (`{"ready":true,"pid":…,"port":…}`) once it runs, then `{"shards":n}` each time the number of
 * shards it holds changes, and runs until it is stopped.
 *
 *   CLUSTER_RUNNER='{"port":34431,"storage":{"sqlite":"/tmp/cluster.db"},"config":{"codexHome":"…","cwd":"…"}}' \
 *     node --conditions=source --import tsx examples/cluster/runner.ts
 *
 * `storage` is `{"sqlite": path}` or `{"postgres": url}`; `config` is the `CodexConfig` of the
 * pool's processes (every runner gets the same `codexHome`, so that a conversation's thread can be
 * resumed by any of them). With `"exitOnStdinEnd": true` it stops when its stdin closes. With `OPENAI_API_KEY` in the environment, codex uses it (kept `Redacted`).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Layer, Redacted } from "effect"
import type { CodexConfig } from "@effect-codex/app-server"
import { CodexCluster } from "@effect-codex/cluster"

const input = JSON.parse(process.env.CLUSTER_RUNNER ?? "{}") as {
  readonly port: number
  readonly storage: { readonly sqlite?: string; readonly postgres?: string }
  readonly config: CodexConfig.CodexConfig
  /** Stop when stdin closes (a parent that starts runners keeps it open while it runs). */
  readonly exitOnStdinEnd?: boolean
}
if (input.exitOnStdinEnd) {
  process.stdin.resume().on("end", () => process.kill(process.pid, "SIGTERM"))
}
const apiKey = process.env.OPENAI_API_KEY?.trim()

const runner = CodexCluster.layerRunner({
  pool: { size: 2, config: { ...input.config, ...(apiKey ? { apiKey: Redacted.make(apiKey) } : {}) } },
  storage: input.storage.postgres !== undefined
    ? CodexCluster.postgres(input.storage.postgres)
    : CodexCluster.sqlite(input.storage.sqlite ?? "cluster.db"),
  address: { host: "127.0.0.1", port: input.port }
})

const print = (line: object) => Effect.sync(() => process.stdout.write(JSON.stringify(line) + "\n"))

// `{"shards":n}` each time the number of shards this runner holds changes
const reportShards = Effect.gen(function*() {
  let last = -1
  while (true) {
    const held = yield* CodexCluster.shardsHeld
    if (held !== last) yield* print({ shards: (last = held) })
    yield* Effect.sleep("100 millis")
  }
})

Effect.gen(function*() {
  const context = yield* Layer.build(runner)
  yield* print({ ready: true, pid: process.pid, port: input.port })
  return yield* Effect.provide(reportShards, context)
}).pipe(Effect.scoped, NodeRuntime.runMain)
