// Start failures of the transports to a running server, on the real binary: each is a typed
// ConnectionFailedError naming what failed, within the handshake bound, and the token never
// appears in an error.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import { FakeModel } from "@effect-codex/testing"
import * as Codex from "../../src/Codex.js"
import type { ConnectionFailedError } from "../../src/CodexError.js"
import * as ProxyTransport from "../../src/ProxyTransport.js"
import * as UnixSocketTransport from "../../src/UnixSocketTransport.js"
import * as WebSocketTransport from "../../src/WebSocketTransport.js"
import { freePort, socketPath, startWebSocket, startWebSocketSigned } from "./servers.js"

const startFailure = <A, E>(layer: Layer.Layer<A, E>) =>
  Effect.flip(Effect.scoped(Layer.build(layer))).pipe(Effect.timeout("20 seconds"))

describe("WebSocketTransport start", () => {
  it.live("a wrong token is refused with HTTP 401 (unauthorized); the token is not in the error", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      const server = yield* startWebSocket(fake.codexHome, fake.workspace)
      const wrong = "wrong-token-do-not-print"
      const error = yield* startFailure(Codex.layerWebSocket({ ...fake.config, url: server.url, token: Redacted.make(wrong) }))
      expect(error).toMatchObject({ _tag: "ConnectionFailedError", reason: "unauthorized", status: 401, endpoint: server.url })
      expect(error.message).toContain("invalid websocket bearer token")
      const shown = `${error.message} ${JSON.stringify(error)} ${String(error)}`
      expect(shown).not.toContain(wrong)
      expect(shown).not.toContain(server.token)
      // without a token
      const missing = yield* startFailure(WebSocketTransport.layer({ url: server.url }))
      expect(missing).toMatchObject({ _tag: "ConnectionFailedError", reason: "unauthorized", status: 401 })
      expect(missing.message).toContain("missing websocket bearer token")
      // the right token still works on the same server
      const ok = yield* Effect.exit(Effect.scoped(Layer.build(WebSocketTransport.layer({ url: server.url, token: Redacted.make(server.token) }))))
      expect(Exit.isSuccess(ok)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("--ws-auth signed-bearer-token: a token minted from the shared secret runs a turn; a wrong secret, issuer or an expired token is unauthorized, the secret is in no error", () =>
    Effect.gen(function*() {
      const fake = yield* FakeModel.make({ respond: () => FakeModel.text("signed in") })
      const server = yield* startWebSocketSigned(fake.codexHome, fake.workspace)
      const signedBearer = { secret: Redacted.make(server.secret), issuer: server.issuer, audience: server.audience }
      const result = yield* Effect.gen(function*() {
        const codex = yield* Codex.Codex
        const thread = yield* codex.threadStart()
        return yield* thread.run("hello")
      }).pipe(Effect.provide(Codex.layerWebSocket({ ...fake.config, url: server.url, signedBearer })))
      expect(Option.getOrUndefined(result.finalResponse)).toBe("signed in")

      const refused = (options: WebSocketTransport.Options) =>
        Effect.map(startFailure(WebSocketTransport.layer(options)), (error) => {
          expect(error).toMatchObject({ _tag: "ConnectionFailedError", reason: "unauthorized", status: 401, endpoint: server.url })
          const shown = `${error.message} ${JSON.stringify(error)} ${String(error)}`
          expect(shown).not.toContain(server.secret)
          return error.message
        })
      const wrongSecret = "0".repeat(48)
      const bad = yield* refused({ url: server.url, signedBearer: { ...signedBearer, secret: Redacted.make(wrongSecret) } })
      expect(bad).toContain("invalid websocket jwt")
      expect(bad).not.toContain(wrongSecret)
      expect(yield* refused({ url: server.url, signedBearer: { ...signedBearer, issuer: "someone-else" } })).toContain("issuer mismatch")
      const expired = WebSocketTransport.signBearerToken({ ...signedBearer, ttl: "1 minute" }, Date.now() - 3_600_000)
      expect(yield* refused({ url: server.url, token: expired })).toContain("expired websocket jwt")
    }).pipe(Effect.scoped))

  it.live("a port nobody listens on is refused", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const error = yield* startFailure(WebSocketTransport.layer({ url: `ws://127.0.0.1:${port}` }))
      expect(error).toMatchObject({ _tag: "ConnectionFailedError", reason: "refused", endpoint: `ws://127.0.0.1:${port}` })
    }))

  it.live("a server that accepts but never answers the upgrade fails at the handshake timeout", () =>
    Effect.gen(function*() {
      const sockets: Array<net.Socket> = []
      const silent = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const server = net.createServer((socket) => sockets.push(socket))
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => {
          for (const s of sockets) s.destroy()
          server.close()
        })
      )
      const url = `ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}`
      const started = Date.now()
      const error = yield* startFailure(WebSocketTransport.layer({ url, handshakeTimeout: "300 millis" }))
      expect(error).toMatchObject({ _tag: "ConnectionFailedError", reason: "timeout", endpoint: url })
      expect(Date.now() - started).toBeLessThan(5000)
      expect(sockets.length).toBe(1)
    }).pipe(Effect.scoped))
})

describe("UnixSocketTransport start", () => {
  it.live("a socket path that does not exist fails with notFound, naming the path", () =>
    Effect.gen(function*() {
      const path = socketPath()
      const error: ConnectionFailedError = yield* startFailure(UnixSocketTransport.layer({ path }))
      expect(error).toMatchObject({ _tag: "ConnectionFailedError", reason: "notFound", endpoint: `unix:${path}` })
      expect(error.message).toContain(path)
    }))
})

describe("ProxyTransport start", () => {
  it.live("a socket path that does not exist fails with notFound before spawning the proxy", () =>
    Effect.gen(function*() {
      const path = socketPath()
      const error = yield* startFailure(Codex.layerProxy({ socket: path }))
      expect(error).toMatchObject({ _tag: "ConnectionFailedError", reason: "notFound", endpoint: `proxy:${path}` })
      expect(error.message).toContain(path)
    }))

  it.live("a stale socket nobody listens on: the proxy exits and its stderr is the error", () =>
    Effect.gen(function*() {
      const path = socketPath()
      // a stale socket file: a listener killed without cleaning up
      yield* Effect.promise(() =>
        new Promise<void>((resolve) => {
          const child = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`])
          child.once("exit", () => resolve())
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(path, { force: true })))
      expect(fs.existsSync(path)).toBe(true)
      const error = yield* startFailure(ProxyTransport.layer({ socket: path, handshakeTimeout: "5 seconds" }))
      expect(error).toMatchObject({ _tag: "ConnectionFailedError", endpoint: `proxy:${path}` })
      expect(error.message).toContain("failed to connect to socket")
    }).pipe(Effect.scoped))
})
