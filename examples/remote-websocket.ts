/**
 * Remote app-server over a WebSocket: attach to `codex app-server --listen ws://127.0.0.1:PORT
 * --ws-auth capability-token` with `Codex.layerWebSocket` and a `Redacted` token, stream a turn,
 * see a wrong token refused at start (HTTP 401, typed), and a server that dies mid-turn fail the
 * turn with `ConnectionLostError` (no reconnection).
 *
 * The example starts the server itself on loopback (a remote host would run the same command and
 * be reached through an SSH port forward: the server binds localhost only).
 *
 *   npx tsx --conditions=source examples/remote-websocket.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Context, Effect, Fiber, Layer, Option, Redacted, Stream } from "effect"
import { Approvals, Codex } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"
import { startWebSocket } from "./local-server.js"

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  const server = yield* startWebSocket(backend.config)
  yield* Console.log(`server listening on ${server.url} (pid ${server.pid})`)

  // 1. a wrong token: refused before any JSON-RPC, as a typed error naming the endpoint
  const refused = yield* Layer.build(Codex.layerWebSocket({ url: server.url, token: Redacted.make("not-the-token") })).pipe(
    Effect.scoped,
    Effect.flip
  )
  yield* Console.log(`wrong token: ${refused._tag} (${refused._tag === "ConnectionFailedError" ? refused.reason : "?"})`)

  // 2. the right token: a thread and a streamed turn
  yield* backend.script(FakeModel.text("Hello from a remote app-server.", { chunks: ["Hello ", "from a ", "remote app-server."] }))
  const context = yield* Layer.build(
    Codex.layerWebSocket({ ...backend.config, url: server.url, token: server.token }).pipe(Layer.provide(Approvals.declineAll))
  )
  const codex = Context.get(context, Codex.Codex)
  const thread = yield* codex.threadStart()
  yield* Console.log(`thread ${thread.id} started over the WebSocket`)
  const result = yield* thread.run("Say hello.")
  yield* Console.log(`answer: ${Option.getOrElse(result.finalResponse, () => "(no answer)")}`)

  // 3. the server dies mid-turn: the turn fails with a typed error, nothing hangs
  yield* backend.script(FakeModel.stall(FakeModel.text("this turn never ends", { chunks: ["this turn ", "never ends"] })))
  const turn = yield* thread.turn("Keep going.")
  const started = yield* Effect.makeLatch(false)
  const fiber = yield* turn.stream.pipe(
    Stream.tap((event) => event.method === "item/agentMessage/delta" ? started.open : Effect.void),
    Stream.runDrain,
    Effect.fork
  )
  // offline, wait for the first streamed text; with a real model, give the turn a moment
  yield* (backend.mode === "offline" ? started.await : Effect.sleep("2 seconds"))
  yield* server.kill
  const lost = yield* Fiber.join(fiber).pipe(Effect.flip, Effect.timeout("10 seconds"))
  yield* Console.log(`server killed: the turn failed with ${lost._tag}`)
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layer()), NodeRuntime.runMain)
