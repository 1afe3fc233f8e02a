// CodexClient.connect against the real binary listening on a WebSocket (capability token and
// signed bearer token), a unix socket and through the daemon proxy, with a FakeModel on 127.0.0.1.
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { describe, expect, it } from "vitest"
import { FakeModel } from "@effect-codex/testing"
import { CodexClient, ConnectionFailedError, type ConnectOptions } from "@effect-codex/app-server/promise"
import { startUnix, startWebSocket, startWebSocketSigned } from "./Transports/servers.js"

const withScope = async (body: (scope: Scope.Scope) => Promise<void>) => {
  const scope = await Effect.runPromise(Scope.make())
  try {
    await body(scope)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** Connects, runs one turn and closes the client; the server keeps running. */
const turnOver = async (options: ConnectOptions, isAlive: () => boolean) => {
  const client = await CodexClient.connect(options)
  expect(client.pid).toBe(-1)
  expect(client.serverVersion).toBeDefined()
  const thread = await client.threadStart()
  const result = await thread.run("hello")
  await client.close()
  expect(isAlive()).toBe(true)
  return result.finalResponse
}

const alive = (pid: number) => () => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("CodexClient.connect", () => {
  it("runs a turn over a WebSocket (capability token), a unix socket and the daemon proxy; a wrong token rejects with ConnectionFailedError", async () => {
    await withScope(async (scope) => {
      const fake = await Effect.runPromise(FakeModel.make({ respond: () => FakeModel.text("attached") }).pipe(Scope.extend(scope)))
      const ws = await Effect.runPromise(startWebSocket(fake.codexHome, fake.workspace).pipe(Scope.extend(scope)))
      const unix = await Effect.runPromise(startUnix(fake.codexHome, fake.workspace).pipe(Scope.extend(scope)))
      expect(await turnOver({ websocket: ws.url, token: ws.token }, alive(ws.pid))).toBe("attached")
      expect(await turnOver({ unixSocket: unix.path }, alive(unix.pid))).toBe("attached")
      expect(await turnOver({ daemonSocket: unix.path, codexHome: fake.codexHome }, alive(unix.pid))).toBe("attached")

      const wrong = "not-the-token-do-not-print"
      const refused = await CodexClient.connect({ websocket: ws.url, token: wrong }).then(
        () => undefined,
        (error: unknown) => error
      )
      expect(refused).toBeInstanceOf(ConnectionFailedError)
      expect(refused).toMatchObject({ reason: "unauthorized", status: 401, endpoint: ws.url })
      expect(`${String(refused)} ${JSON.stringify(refused)}`).not.toContain(wrong)

      await expect(CodexClient.connect({ unixSocket: `${unix.path}.missing` })).rejects.toMatchObject({ _tag: "ConnectionFailedError", reason: "notFound" })
      await expect(CodexClient.connect({} as ConnectOptions)).rejects.toBeInstanceOf(TypeError)
    })
  }, 90_000)

  it("mints a signed bearer token from the shared secret (--ws-auth signed-bearer-token)", async () => {
    await withScope(async (scope) => {
      const fake = await Effect.runPromise(FakeModel.make({ respond: () => FakeModel.text("signed") }).pipe(Scope.extend(scope)))
      const server = await Effect.runPromise(startWebSocketSigned(fake.codexHome, fake.workspace).pipe(Scope.extend(scope)))
      const signedBearer = { secret: server.secret, issuer: server.issuer, audience: server.audience }
      expect(await turnOver({ websocket: server.url, signedBearer }, alive(server.pid))).toBe("signed")
      await expect(CodexClient.connect({ websocket: server.url, signedBearer: { ...signedBearer, audience: "elsewhere" } }))
        .rejects.toMatchObject({ _tag: "ConnectionFailedError", reason: "unauthorized", status: 401 })
    })
  }, 90_000)
})
