/**
 * Shared by `remote-websocket.ts` and `attach-daemon.ts`: starts a `codex app-server` that
 * listens on a loopback WebSocket or a unix socket (what a remote host or a daemon would run), for
 * the examples to attach to. The SDK does not start these servers: attaching is the point.
 */
import { Effect, Redacted, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { CodexBinary, type CodexConfig } from "@effect-codex/app-server"

export interface LocalServer {
  readonly pid: number
  /** Kills the server (SIGKILL), as a crash would. */
  readonly kill: Effect.Effect<void>
}

/** A port free on 127.0.0.1 now. */
export const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

const waitFor = (what: string, ready: () => Promise<boolean>) =>
  Effect.promise(async () => {
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline) {
      if (await ready().catch(() => false)) return
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`${what} did not become ready`)
  })

const start = (argv: ReadonlyArray<string>, config: CodexConfig.CodexConfig) =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const binary = yield* Effect.orDie(CodexBinary.resolve(config))
      const env: Record<string, string | undefined> = { ...process.env, ...config.env }
      if (config.codexHome !== undefined) env.CODEX_HOME = config.codexHome
      if (config.apiKey !== undefined) env.OPENAI_API_KEY = Redacted.value(config.apiKey)
      const child: ChildProcess = spawn(binary.path, ["app-server", ...argv], { cwd: config.cwd, env, stdio: "ignore" })
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
      return { child, exited }
    }),
    ({ child, exited }) =>
      Effect.promise(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        child.kill("SIGTERM")
        const timer = setTimeout(() => child.kill("SIGKILL"), 3000)
        await exited
        clearTimeout(timer)
      })
  ).pipe(Effect.map(({ child, exited }): LocalServer => ({
    pid: child.pid!,
    kill: Effect.promise(async () => {
      child.kill("SIGKILL")
      await exited
    })
  })))

/** `codex app-server --listen ws://127.0.0.1:PORT --ws-auth capability-token` with a fresh token. */
export const startWebSocket = (
  config: CodexConfig.CodexConfig
): Effect.Effect<LocalServer & { readonly url: string; readonly token: Redacted.Redacted<string> }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-ws-"))),
      (d) => Effect.sync(() => Fs.rmSync(d, { recursive: true, force: true }))
    )
    const token = Crypto.randomBytes(24).toString("hex")
    const tokenFile = Path.join(dir, "token")
    Fs.writeFileSync(tokenFile, token, { mode: 0o600 })
    const server = yield* start(
      ["--listen", `ws://127.0.0.1:${port}`, "--ws-auth", "capability-token", "--ws-token-file", tokenFile],
      config
    )
    yield* waitFor("the WebSocket server", () =>
      new Promise<boolean>((resolve) => {
        Http.get(`http://127.0.0.1:${port}/readyz`, (res) => {
          res.resume()
          resolve(res.statusCode === 200)
        }).on("error", () => resolve(false))
      }))
    return { ...server, url: `ws://127.0.0.1:${port}`, token: Redacted.make(token) }
  })

/** `codex app-server --listen unix://PATH` (what the managed daemon runs on its control socket). */
export const startUnix = (
  config: CodexConfig.CodexConfig
): Effect.Effect<LocalServer & { readonly socket: string }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const socket = Path.join(Os.tmpdir(), `effect-codex-${Crypto.randomBytes(6).toString("hex")}.sock`)
    yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(socket, { force: true })))
    const server = yield* start(["--listen", `unix://${socket}`], config)
    yield* waitFor("the unix socket server", () =>
      new Promise<boolean>((resolve) => {
        const s = Net.createConnection({ path: socket }, () => {
          s.destroy()
          resolve(true)
        })
        s.on("error", () => resolve(false))
      }))
    return { ...server, socket }
  })
