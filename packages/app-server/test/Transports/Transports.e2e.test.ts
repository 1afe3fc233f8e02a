// The shared transport suite (./suite.ts) over every transport, on the real binary with a
// FakeModel: stdio (the SDK starts the process), ws and unix (the test starts
// `codex app-server --listen …`), and the daemon proxy (`codex app-server proxy --sock` to a
// server on `--listen unix://`, what the managed daemon runs).
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Codex from "../../src/Codex.js"
import * as StdioTransport from "../../src/StdioTransport.js"
import { startUnix, startWebSocket } from "./servers.js"
import { build, transportSuite } from "./suite.js"

transportSuite({
  name: "stdio",
  lostTag: "ProcessExitedError",
  start: (fake) =>
    Effect.map(build(Codex.layer(fake.config)), ({ codex, context }) => {
      const pid = Context.get(context, StdioTransport.StdioTransport).pid
      return { codex, pid, kill: Effect.sync(() => process.kill(pid, "SIGKILL")) }
    })
})

transportSuite({
  name: "ws",
  lostTag: "ConnectionLostError",
  start: (fake) =>
    Effect.gen(function*() {
      const server = yield* startWebSocket(fake.codexHome, fake.workspace)
      const { codex } = yield* build(Codex.layerWebSocket({ ...fake.config, url: server.url, token: Redacted.make(server.token) }))
      return { codex, pid: server.pid, kill: server.kill }
    })
})

transportSuite({
  name: "unix",
  lostTag: "ConnectionLostError",
  start: (fake) =>
    Effect.gen(function*() {
      const server = yield* startUnix(fake.codexHome, fake.workspace)
      const { codex } = yield* build(Codex.layerUnixSocket({ ...fake.config, path: server.path }))
      return { codex, pid: server.pid, kill: server.kill }
    })
})

transportSuite({
  name: "proxy",
  lostTag: "ConnectionLostError",
  start: (fake) =>
    Effect.gen(function*() {
      const server = yield* startUnix(fake.codexHome, fake.workspace)
      const { codex } = yield* build(Codex.layerProxy({ ...fake.config, socket: server.path, heartbeatInterval: "500 millis" }))
      return { codex, pid: server.pid, kill: server.kill }
    })
})
