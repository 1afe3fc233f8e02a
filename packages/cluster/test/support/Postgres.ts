/**
 * A throwaway PostgreSQL server for tests.
 *
 * `Postgres.server` is a scoped Effect: it finds `initdb` and `pg_ctl` (on `PATH`, else in
 * `/usr/lib/postgresql/<version>/bin`, newest first), runs `initdb` in a fresh temp folder (as the
 * `postgres` user through `runuser` when the process is root, which PostgreSQL requires), starts
 * the server on a free port of 127.0.0.1 only, with its unix socket in that folder and trust
 * authentication, and returns its URL. Closing the scope stops the server
 * (`pg_ctl stop -m immediate`) and removes the folder.
 *
 * `EFFECT_CODEX_TEST_PG_URL` set to a URL uses that server instead (nothing is started or
 * stopped). `Postgres.start` is the same as a Promise with a `stop`, for a vitest `globalSetup` or
 * `beforeAll`.
 *
 * When PostgreSQL is not installed it fails with `PostgresError` saying so (`.ci/run` installs
 * Debian's `postgresql` package when `initdb` is missing).
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"

/** The environment variable naming an existing server to use instead of starting one. */
export const urlEnv = "EFFECT_CODEX_TEST_PG_URL"

/** Why a server could not be started: not installed, or a command that failed (with its output). */
export class PostgresError extends Data.TaggedError("PostgresError")<{ readonly message: string }> {}

/** A running server: its URL, and whether it was started here (false for `EFFECT_CODEX_TEST_PG_URL`). */
export interface Server {
  readonly url: string
  readonly started: boolean
  /** The temp folder holding the data directory, the socket and `postgres.log` (none when not started). */
  readonly dir?: string | undefined
}

interface Binaries {
  readonly initdb: string
  readonly pgCtl: string
}

const isExecutable = (file: string): boolean => {
  try {
    Fs.accessSync(file, Fs.constants.X_OK)
    return true
  } catch {
    return false
  }
}

const onPath = (name: string): string | undefined =>
  (process.env.PATH ?? "").split(Path.delimiter).filter((dir) => dir !== "").map((dir) => Path.join(dir, name)).find(
    isExecutable
  )

/** Finds `initdb` and `pg_ctl`: on `PATH`, else in `/usr/lib/postgresql/<version>/bin` (newest version first). */
export const findBinaries: Effect.Effect<Binaries, PostgresError> = Effect.suspend(() => {
  const fromPath = { initdb: onPath("initdb"), pgCtl: onPath("pg_ctl") }
  if (fromPath.initdb !== undefined && fromPath.pgCtl !== undefined) {
    return Effect.succeed({ initdb: fromPath.initdb, pgCtl: fromPath.pgCtl })
  }
  const base = "/usr/lib/postgresql"
  const versions = Fs.existsSync(base)
    ? Fs.readdirSync(base).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a))
    : []
  for (const version of versions) {
    const bin = Path.join(base, version, "bin")
    const initdb = Path.join(bin, "initdb")
    const pgCtl = Path.join(bin, "pg_ctl")
    if (isExecutable(initdb) && isExecutable(pgCtl)) return Effect.succeed({ initdb, pgCtl })
  }
  return Effect.fail(
    new PostgresError({
      message: `PostgreSQL is not installed: no initdb/pg_ctl on PATH or in ${base}/*/bin. ` +
        `Install it (Debian: apt-get install -y --no-install-recommends postgresql) ` +
        `or set ${urlEnv} to the URL of a server to use.`
    })
  )
})

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.unref()
  server.on("error", (error) => resume(Effect.die(error)))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const isRoot = (): boolean => typeof process.getuid === "function" && process.getuid() === 0

/** Runs a command (as `postgres` through `runuser` when root), failing with its output. */
const run = (file: string, args: ReadonlyArray<string>, timeoutMs: number): Effect.Effect<string, PostgresError> =>
  Effect.async<string, PostgresError>((resume) => {
    const [command, argv] = isRoot() ? ["runuser", ["-u", "postgres", "--", file, ...args]] : [file, [...args]]
    const child = ChildProcess.execFile(
      command,
      argv,
      { timeout: timeoutMs, env: { ...process.env, LC_ALL: "C", LANG: "C" } },
      (error, stdout, stderr) => {
        if (error) {
          resume(Effect.fail(
            new PostgresError({
              message: `${command} ${argv.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`.trim()
            })
          ))
        } else {
          resume(Effect.succeed(stdout))
        }
      }
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const postgresIds: Effect.Effect<{ readonly uid: number; readonly gid: number }, PostgresError> = Effect.try({
  try: () => {
    const uid = Number(ChildProcess.execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim())
    const gid = Number(ChildProcess.execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim())
    return { uid, gid }
  },
  catch: () =>
    new PostgresError({
      message: "Running as root, but there is no `postgres` user to run initdb/postgres as " +
        "(Debian's postgresql package creates it)."
    })
})

const readLog = (dir: string): string => {
  try {
    return Fs.readFileSync(Path.join(dir, "postgres.log"), "utf8").slice(-4000)
  } catch {
    return ""
  }
}

/** Creates the temp folder and data directory, starts the server, and returns it with its stop. */
const startServer = Effect.gen(function*() {
  const bin = yield* findBinaries
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-pg-"))
  const remove = Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  const data = Path.join(dir, "data")
  const stop = run(bin.pgCtl, ["stop", "-D", data, "-m", "immediate", "-w", "-t", "30"], 40_000).pipe(
    Effect.ignore,
    Effect.zipRight(remove)
  )
  return yield* Effect.gen(function*() {
    if (isRoot()) {
      const { gid, uid } = yield* postgresIds
      Fs.chownSync(dir, uid, gid)
    }
    yield* run(bin.initdb, [
      "-D",
      data,
      "-U",
      "postgres",
      "-A",
      "trust",
      "-E",
      "UTF8",
      "--locale=C",
      "--no-sync"
    ], 120_000)
    // The port is free when read; another process can take it before the server binds, so retry.
    for (let attempt = 1;; attempt++) {
      const port = yield* freePort
      Fs.appendFileSync(
        Path.join(data, "postgresql.conf"),
        [
          "",
          "# effect-codex test server",
          "listen_addresses = '127.0.0.1'",
          `port = ${port}`,
          `unix_socket_directories = '${dir}'`,
          "max_connections = 100",
          "fsync = off",
          "synchronous_commit = off",
          "full_page_writes = off",
          ""
        ].join("\n")
      )
      const started = yield* Effect.exit(
        run(bin.pgCtl, ["start", "-D", data, "-l", Path.join(dir, "postgres.log"), "-w", "-t", "60"], 90_000)
      )
      if (Exit.isSuccess(started)) {
        return { server: { url: `postgres://postgres@127.0.0.1:${port}/postgres`, started: true, dir }, stop }
      }
      if (attempt >= 3) {
        const error = Exit.isFailure(started) ? String(started.cause) : ""
        return yield* new PostgresError({ message: `pg_ctl start failed: ${error}\n${readLog(dir)}` })
      }
    }
  }).pipe(Effect.tapErrorCause(() => stop))
})

/**
 * A PostgreSQL server for the life of the scope: `EFFECT_CODEX_TEST_PG_URL` if set, else a
 * throwaway server started here and stopped (and its folder removed) when the scope closes.
 */
export const server: Effect.Effect<Server, PostgresError, Scope.Scope> = Effect.suspend(() => {
  const external = process.env[urlEnv]
  if (external !== undefined && external !== "") {
    return Effect.succeed<Server>({ url: external, started: false })
  }
  return Effect.map(
    Effect.acquireRelease(startServer, ({ stop }) => stop),
    ({ server }) => server
  )
})

/** `server` as a Promise, for a vitest `globalSetup` or `beforeAll`: the server and its `stop`. */
export const start = async (): Promise<Server & { readonly stop: () => Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  try {
    const found = await Effect.runPromise(Scope.extend(server, scope))
    return { ...found, stop: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
  } catch (error) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw error
  }
}
