// Test helper: a `codex app-server` started by the test (ws / unix listener), as a scoped
// resource, with a way to kill it. Not part of the SDK.
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as CodexBinary from "../../src/CodexBinary.js"

export interface Server {
  readonly pid: number
  /** SIGKILLs the server (its stalled model streams have no children to orphan). */
  readonly kill: Effect.Effect<void>
  readonly stderr: () => string
}

export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

const start = (argv: ReadonlyArray<string>, codexHome: string, cwd: string) =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const binary = yield* Effect.orDie(CodexBinary.resolve())
      const child: ChildProcess = spawn(binary.path, ["app-server", ...argv], {
        cwd,
        env: { ...process.env, CODEX_HOME: codexHome },
        stdio: ["ignore", "ignore", "pipe"]
      })
      let stderr = ""
      child.stderr!.setEncoding("utf8")
      child.stderr!.on("data", (text: string) => {
        if (stderr.length < 64 * 1024) stderr += text
      })
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
      return { child, exited, stderr: () => stderr }
    }),
    ({ child, exited }) =>
      Effect.promise(async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM")
          const timer = setTimeout(() => child.kill("SIGKILL"), 3000)
          await exited
          clearTimeout(timer)
        }
      })
  )

const poll = <A>(what: string, attempt: () => Promise<A | undefined>) =>
  Effect.promise(async () => {
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline) {
      const value = await attempt().catch(() => undefined)
      if (value !== undefined) return value
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`${what} did not become ready`)
  })

const serverOf = (s: { child: ChildProcess; exited: Promise<void>; stderr: () => string }): Server => ({
  pid: s.child.pid!,
  stderr: s.stderr,
  kill: Effect.promise(async () => {
    s.child.kill("SIGKILL")
    await s.exited
  })
})

/** `--listen ws://127.0.0.1:PORT --ws-auth capability-token` with a fresh token; ready on `/readyz`. */
export const startWebSocket = (
  codexHome: string,
  cwd: string
): Effect.Effect<Server & { readonly url: string; readonly token: string }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    const token = crypto.randomBytes(24).toString("hex")
    const tokenFile = path.join(codexHome, "ws-token")
    fs.writeFileSync(tokenFile, token, { mode: 0o600 })
    const s = yield* start(
      ["--listen", `ws://127.0.0.1:${port}`, "--ws-auth", "capability-token", "--ws-token-file", tokenFile],
      codexHome,
      cwd
    )
    yield* poll("ws server", () =>
      new Promise<true | undefined>((resolve) => {
        const req = http.get(`http://127.0.0.1:${port}/readyz`, (res) => {
          res.resume()
          resolve(res.statusCode === 200 ? true : undefined)
        })
        req.on("error", () => resolve(undefined))
      }))
    return { ...serverOf(s), url: `ws://127.0.0.1:${port}`, token }
  })

/**
 * `--listen ws://127.0.0.1:PORT --ws-auth signed-bearer-token` with a fresh shared secret (48 hex
 * characters), issuer `effect-codex-test` and audience `codex`; ready on `/readyz`.
 */
export const startWebSocketSigned = (
  codexHome: string,
  cwd: string
): Effect.Effect<Server & { readonly url: string; readonly secret: string; readonly issuer: string; readonly audience: string }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    const secret = crypto.randomBytes(24).toString("hex")
    const secretFile = path.join(codexHome, "ws-secret")
    fs.writeFileSync(secretFile, secret, { mode: 0o600 })
    const issuer = "effect-codex-test"
    const audience = "codex"
    const s = yield* start(
      [
        "--listen",
        `ws://127.0.0.1:${port}`,
        "--ws-auth",
        "signed-bearer-token",
        "--ws-shared-secret-file",
        secretFile,
        "--ws-issuer",
        issuer,
        "--ws-audience",
        audience
      ],
      codexHome,
      cwd
    )
    yield* poll("ws server", () =>
      new Promise<true | undefined>((resolve) => {
        const req = http.get(`http://127.0.0.1:${port}/readyz`, (res) => {
          res.resume()
          resolve(res.statusCode === 200 ? true : undefined)
        })
        req.on("error", () => resolve(undefined))
      }))
    return { ...serverOf(s), url: `ws://127.0.0.1:${port}`, secret, issuer, audience }
  })

/** A short socket path (sun_path is limited to ~107 bytes). */
export const socketPath = (): string => path.join(os.tmpdir(), `ecx-${crypto.randomBytes(6).toString("hex")}.sock`)

/** `--listen unix://PATH` (what the managed daemon runs, with `unix://` = its control socket). */
export const startUnix = (
  codexHome: string,
  cwd: string
): Effect.Effect<Server & { readonly path: string }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const sock = socketPath()
    const s = yield* start(["--listen", `unix://${sock}`], codexHome, cwd)
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(sock, { force: true })))
    yield* poll("unix server", () =>
      new Promise<true | undefined>((resolve) => {
        const socket = net.createConnection({ path: sock }, () => {
          socket.destroy()
          resolve(true)
        })
        socket.on("error", () => resolve(undefined))
      }))
    return { ...serverOf(s), path: sock }
  })
