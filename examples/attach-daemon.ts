/**
 * Attach to a running app-server daemon through `codex app-server proxy --sock PATH`, with
 * `Codex.layerProxy({ socket })`: the SDK spawns the proxy and speaks to the daemon through it.
 * A socket that does not exist is a typed error at start.
 *
 * Offline (the default) the example starts `codex app-server --listen unix://PATH` itself — what the
 * managed daemon runs on its control socket — so nothing outside the example is touched. Pass
 * `--socket PATH` to attach to your own daemon instead (`codex app-server daemon start`, then
 * `codex app-server daemon version` prints its `socketPath`).
 *
 *   npx tsx --conditions=source examples/attach-daemon.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Context, Effect, Layer, Option } from "effect"
import * as Os from "node:os"
import * as Path from "node:path"
import { Approvals, Codex } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"
import { startUnix } from "./local-server.js"

const socketArg = (() => {
  const at = process.argv.indexOf("--socket")
  return at === -1 ? undefined : process.argv[at + 1]
})()

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend

  // a socket that does not exist: a typed error naming it, before anything is spawned
  const missing = Path.join(Os.tmpdir(), "no-such-codex-daemon.sock")
  const error = yield* Layer.build(Codex.layerProxy({ socket: missing })).pipe(Effect.scoped, Effect.flip)
  yield* Console.log(`missing socket: ${error._tag} (${error._tag === "ConnectionFailedError" ? error.reason : "?"})`)

  const socket = socketArg ?? (yield* startUnix(backend.config)).socket
  yield* Console.log(socketArg === undefined ? "started a server on a unix socket (as the daemon runs)" : `attaching to ${socket}`)

  yield* backend.script(FakeModel.text("Attached to the daemon.", { chunks: ["Attached ", "to the daemon."] }))
  const context = yield* Layer.build(
    Codex.layerProxy({ ...backend.config, socket }).pipe(Layer.provide(Approvals.declineAll))
  )
  const codex = Context.get(context, Codex.Codex)
  yield* Console.log(`connected: codex app-server ${codex.connection.serverVersion ?? "(unknown version)"}`)
  const thread = yield* codex.threadStart()
  yield* Console.log(`thread ${thread.id} started through the proxy`)
  const result = yield* thread.run("Are you there?")
  yield* Console.log(`answer: ${Option.getOrElse(result.finalResponse, () => "(no answer)")}`)
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layer()), NodeRuntime.runMain)
