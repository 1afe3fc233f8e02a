/**
 * Shared helpers of the benchmarks: statistics, child processes, the raw JSON-RPC client (the
 * baseline every SDK figure is compared with) and the protocol-level bits both sides need.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { codexVersion } from "@effect-codex/protocol/generated/Version"

export const benchDir = Path.dirname(fileURLToPath(import.meta.url))
export const repoRoot = Path.dirname(benchDir)
export const stubPath = Path.join(benchDir, "stub-app-server.mjs")

/** The native binary of the pinned `@openai/codex` (what `Codex.layer` starts by default). */
export const nativeCodex = (): string => {
  const require = createRequire(Path.join(repoRoot, "packages/app-server/package.json"))
  const root = Path.dirname(require.resolve("@openai/codex-linux-x64/package.json"))
  return Path.join(root, "vendor", "x86_64-unknown-linux-musl", "bin", "codex")
}

// ---------------------------------------------------------------------------------------------
// statistics
// ---------------------------------------------------------------------------------------------

export interface Summary {
  readonly n: number
  readonly median: number
  readonly min: number
  readonly max: number
  readonly q1: number
  readonly q3: number
  readonly mean: number
}

const quantile = (sorted: ReadonlyArray<number>, q: number): number => {
  if (sorted.length === 0) return NaN
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)
}

export const summarize = (values: ReadonlyArray<number>): Summary => {
  const sorted = [...values].sort((a, b) => a - b)
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
    mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)
  }
}

/** The median of `values`. */
export const median = (values: ReadonlyArray<number>): number => summarize(values).median

/** A small seeded PRNG (mulberry32), so a run's orders can be replayed. */
export const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** A copy of `xs` in an order drawn from `random` (Fisher-Yates). */
export const shuffle = <A>(xs: ReadonlyArray<A>, random: () => number): Array<A> => {
  const out = [...xs]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

export const MiB = 1024 * 1024

export const machine = () => ({
  cpus: Os.cpus().length,
  cpuModel: Os.cpus()[0]?.model ?? "unknown",
  totalMemMiB: Math.round(Os.totalmem() / MiB),
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  kernel: Os.release()
})

// ---------------------------------------------------------------------------------------------
// child processes
// ---------------------------------------------------------------------------------------------

/** `node [flags] --conditions=source --import tsx <module>`: how every benchmark process is started. */
export const tsNodeArgs = (module: string, args: ReadonlyArray<string> = [], flags: ReadonlyArray<string> = []): Array<string> => [
  ...flags,
  "--conditions=source",
  "--import",
  "tsx",
  Path.join(benchDir, module),
  ...args
]

export const RESULT_PREFIX = "BENCH_RESULT "

/** Prints the result of a benchmark process (one line, read back by {@link runChild}). */
export const emit = (result: unknown): void => {
  process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + "\n")
}

/**
 * Runs a benchmark module in a fresh `node` process and returns what it emitted. Its stderr is
 * passed through (prefixed) only when it fails.
 */
export const runChild = <A>(
  module: string,
  args: ReadonlyArray<string> = [],
  options: { readonly env?: Record<string, string>; readonly timeoutMs?: number; readonly flags?: ReadonlyArray<string> } = {}
): Promise<A> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, tsNodeArgs(module, args, options.flags), {
      cwd: repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 180_000)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      const line = stdout.split("\n").find((l) => l.startsWith(RESULT_PREFIX))
      if (code === 0 && line !== undefined) {
        resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as A)
      } else {
        reject(new Error(`${module} ${args.join(" ")} failed (code ${code}, signal ${signal})\n${stdout.slice(-2000)}\n${stderr.slice(-4000)}`))
      }
    })
  })

// ---------------------------------------------------------------------------------------------
// the raw client
// ---------------------------------------------------------------------------------------------

export interface RawMessage {
  readonly id?: number | string
  readonly method?: string
  readonly params?: any
  readonly result?: any
  readonly error?: { readonly code: number; readonly message: string }
}

/**
 * The baseline: `child_process.spawn`, split stdout on "\n", `JSON.parse` every line, match
 * responses by id with a Map, hand notifications to one callback. No validation, no timeouts,
 * no approvals: the floor an SDK cannot go below.
 */
export class RawClient {
  readonly child: ChildProcess
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (r: any) => void; reject: (e: Error) => void }>()
  private carry = ""
  onNotification: (message: RawMessage) => void = () => {}
  readonly exited: Promise<number | null>

  constructor(bin: string, options: { readonly env?: Record<string, string>; readonly cwd?: string; readonly detached?: boolean } = {}) {
    this.child = spawn(bin, ["app-server", "--listen", "stdio://"], {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      detached: options.detached ?? false,
      stdio: ["pipe", "pipe", "pipe"]
    })
    this.child.stderr!.resume()
    this.child.stdout!.setEncoding("utf8")
    this.child.stdout!.on("data", (text: string) => this.onData(text))
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)))
    this.child.on("exit", () => {
      for (const p of this.pending.values()) p.reject(new Error("app-server exited"))
      this.pending.clear()
    })
  }

  private onData(text: string): void {
    let start = 0
    let nl = text.indexOf("\n")
    if (nl === -1) {
      this.carry += text
      return
    }
    if (this.carry.length > 0) {
      this.onLine(this.carry + text.slice(0, nl))
      this.carry = ""
      start = nl + 1
      nl = text.indexOf("\n", start)
    }
    while (nl !== -1) {
      if (nl > start) this.onLine(text.slice(start, nl))
      start = nl + 1
      nl = text.indexOf("\n", start)
    }
    if (start < text.length) this.carry = text.slice(start)
  }

  private onLine(line: string): void {
    const message = JSON.parse(line) as RawMessage
    if (message.method !== undefined) {
      if (message.id !== undefined) {
        // a server request: refuse (the benchmarks never trigger one)
        this.write({ id: message.id, error: { code: -32601, message: "raw client: no handler" } })
      } else {
        this.onNotification(message)
      }
      return
    }
    const entry = this.pending.get(message.id as number)
    if (entry === undefined) return
    this.pending.delete(message.id as number)
    if (message.error !== undefined) entry.reject(new Error(`${message.error.code}: ${message.error.message}`))
    else entry.resolve(message.result)
  }

  private write(message: unknown): void {
    this.child.stdin!.write(JSON.stringify(message) + "\n")
  }

  request<A = any>(method: string, params: unknown = {}): Promise<A> {
    const id = this.nextId++
    return new Promise<A>((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.write({ id, method, params })
    })
  }

  notify(method: string): void {
    this.write({ method })
  }

  /** `initialize` + `initialized`, like the SDK's handshake. */
  async initialize(): Promise<any> {
    const result = await this.request("initialize", {
      clientInfo: { name: "raw_bench", title: "raw bench client", version: "0.1.0" },
      capabilities: { experimentalApi: false }
    })
    this.notify("initialized")
    return result
  }

  /** Closes stdin and waits for the exit (SIGKILL after `ms`). */
  async close(ms = 5000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.stdin!.end()
    const timer = setTimeout(() => this.child.kill("SIGKILL"), ms)
    await this.exited
    clearTimeout(timer)
  }
}

/**
 * Runs one turn on the raw client: sends `turn/start` and resolves at the turn's `turn/completed`
 * (matched by turn id) with the number of `item/agentMessage/delta` notifications of the turn.
 */
export const rawTurn = (client: RawClient, threadId: string, text: string): Promise<{ deltas: number; status: string; text: string }> =>
  new Promise((resolve, reject) => {
    let turnId: string | undefined
    let deltas = 0
    let agentText = ""
    const early: Array<RawMessage> = []
    const onMessage = (m: RawMessage) => {
      const params = m.params
      if (m.method === "item/agentMessage/delta") {
        if (params.turnId === turnId) deltas++
      } else if (m.method === "item/completed") {
        if (params.turnId === turnId && params.item.type === "agentMessage") agentText = params.item.text
      } else if (m.method === "turn/completed") {
        if (params.turn.id === turnId) resolve({ deltas, status: params.turn.status, text: agentText })
      }
    }
    client.onNotification = (m) => (turnId === undefined ? early.push(m) : onMessage(m))
    client.request("turn/start", { threadId, input: [{ type: "text", text, text_elements: [] }] }).then((r) => {
      turnId = r.turn.id as string
      for (const m of early.splice(0)) onMessage(m)
    }, reject)
  })

// ---------------------------------------------------------------------------------------------
// fixture
// ---------------------------------------------------------------------------------------------

/** The pinned Codex version (what the benchmarks run and what the fixture was captured from). */
export { codexVersion }

/** The traffic captured from the pinned binary (`npm run capture -w @effect-codex/protocol`). */
export const fixturePath = Path.join(repoRoot, `packages/protocol/test/fixtures/traffic-${codexVersion}.jsonl`)

/** The server→client notification lines of the captured traffic. */
export const fixtureNotificationLines = (): Array<string> =>
  Fs.readFileSync(fixturePath, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as { direction: string; line: string })
    .filter((e) => e.direction === "server")
    .map((e) => e.line)
    .filter((line) => {
      const m = JSON.parse(line) as RawMessage
      return m.method !== undefined && m.id === undefined
    })

/** The command line that reproduces one child run (for BENCHMARKS.md). */
export const commandLine = (module: string, args: ReadonlyArray<string> = [], options: { readonly env?: Record<string, string>; readonly flags?: ReadonlyArray<string> } = {}): string =>
  [
    ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
    "node",
    ...(options.flags ?? []),
    "--conditions=source --import tsx",
    `bench/${module}`,
    ...args
  ].join(" ")

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const round = (x: number, digits = 2): number => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
