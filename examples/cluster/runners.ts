/**
 * Runner processes on this machine, for the cluster demo and the cluster's failover tests: starts
 * `runner.ts` as a child process, follows what it prints (ready, shards held), and waits for the
 * cluster's shards to settle over the runners started.
 *
 * Why wait for the shards: a runner that joins takes over half of the shards of the runners
 * already there. A conversation whose shard moves between two live runners cannot resume its
 * thread on the new one while the old runner's app-server still has it loaded: codex 0.171.0
 * keeps it loaded, with its writer lock, for about 60 s after `thread/unsubscribe`. So it answers
 * about a minute late. Starting the runners and waiting for their shards to settle before sending
 * avoids that; see examples/cluster/README.md.
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import { Duration, Effect, HashRing, Schedule } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { freePort } from "../local-server.js"

/** The runner program: examples/cluster/runner.ts. */
export const runnerProgram = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "runner.ts")

// the runner's own lines are JSON objects; its logs (Effect's logger writes to stdout) are not
const parseLine = (line: string): { readonly ready?: unknown; readonly shards?: unknown } => {
  try {
    const value: unknown = JSON.parse(line)
    return typeof value === "object" && value !== null ? value : {}
  } catch {
    return {}
  }
}

/** A runner process started by {@link start}. */
export interface Runner {
  readonly name: string
  readonly child: ChildProcess
  /** `127.0.0.1:<port>`, as conversations report their runner. */
  readonly address: string
  readonly port: number
  /** How many shards it said it holds last. */
  readonly shards: () => number
  /** The tail of its stderr. */
  readonly stderr: () => string
}

/** Where a runner keeps the cluster's state: a SQLite file or a PostgreSQL URL. */
export interface Storage {
  readonly sqlite?: string
  readonly postgres?: string
}

/**
 * Starts a runner process and waits (up to 90 s) for its ready line. Its stdin stays open while
 * the scope lives: the runner exits when it closes, so none outlives its parent, even a killed
 * one. Closing the scope stops it: stdin closed, SIGKILL if it has not exited 10 s later.
 */
export const start = (name: string, storage: Storage, config: object) =>
  Effect.gen(function*() {
    const port = yield* freePort
    let stderr = ""
    let shards = 0
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--conditions=source", "--import", "tsx", runnerProgram], {
          env: { ...process.env, CLUSTER_RUNNER: JSON.stringify({ port, storage, config, exitOnStdinEnd: true }) },
          stdio: ["pipe", "pipe", "pipe"]
        })
      ),
      // stdin closed (it then stops with SIGTERM, closing its pool), SIGKILL after 10 s
      (child) =>
        Effect.suspend(() => {
          if (child.exitCode !== null || child.signalCode !== null) return Effect.void
          child.stdin!.end()
          return exited(child).pipe(
            Effect.timeoutFail({ duration: Duration.seconds(10), onTimeout: () => "timeout" as const }),
            Effect.catchAll(() => Effect.sync(() => child.kill("SIGKILL")).pipe(Effect.zipRight(exited(child))))
          )
        })
    )
    child.stderr!.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
    yield* Effect.async<void, Error>((resume) => {
      let pending = ""
      child.stdout!.on("data", (chunk: Buffer) => {
        const lines = (pending + chunk.toString()).split("\n")
        pending = lines.pop()!
        for (const line of lines) {
          const message = parseLine(line)
          if (typeof message.shards === "number") shards = message.shards
          if (message.ready === true) resume(Effect.void)
        }
      })
      child.once("exit", (code, signal) => resume(Effect.fail(new Error(`runner ${name} exited (${code ?? signal}) before it was ready: ${stderr}`))))
    }).pipe(Effect.timeoutFail({ duration: Duration.seconds(90), onTimeout: () => new Error(`runner ${name} not ready: ${stderr}`) }))
    return { name, child, address: `127.0.0.1:${port}`, port, shards: () => shards, stderr: () => stderr } satisfies Runner
  })

/** How many of `shardsPerGroup` shards each runner gets, as @effect/cluster assigns them (its hash ring, weight 1). */
export const assignment = (runners: ReadonlyArray<Runner>, shardsPerGroup = 300): Map<string, number> => {
  const ring = HashRing.make<RunnerAddress.RunnerAddress>()
  for (const runner of runners) HashRing.add(ring, RunnerAddress.make("127.0.0.1", runner.port))
  const counts = new Map<string, number>(runners.map((r) => [r.address, 0]))
  for (const owner of HashRing.getShards(ring, shardsPerGroup) ?? []) {
    const address = `${owner.host}:${owner.port}`
    counts.set(address, (counts.get(address) ?? 0) + 1)
  }
  return counts
}

/** Waits (up to 60 s) until every runner holds exactly the shards the cluster assigns it. */
export const settled = (runners: ReadonlyArray<Runner>) => {
  const expected = assignment(runners)
  const describe = () => runners.map((r) => `${r.name} holds ${r.shards()} of ${expected.get(r.address)}`).join(", ")
  return Effect.sync(() => runners.every((r) => r.shards() === expected.get(r.address))).pipe(
    Effect.repeat({ schedule: Schedule.spaced(Duration.millis(100)), until: (done) => done }),
    Effect.timeoutFail({ duration: Duration.seconds(60), onTimeout: () => new Error(`shards did not settle: ${describe()}`) }),
    Effect.map(describe)
  )
}

/** Completes when the process has exited. */
export const exited = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })
