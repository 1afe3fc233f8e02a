/**
 * Control experiment for "Where the added time of a real turn goes": two raw clients (A and B),
 * each with its own real app-server and FakeModel process, alternate 30 turns (after 3 warm-up
 * turns); client B busy-waits BURN_US microseconds on every stdout chunk it receives, imitating a
 * client that costs that much CPU per read. Prints codex's own turn `durationMs` (median) for both.
 * If B's grows, client CPU per read slows the server's turn (CPU contention on a small machine).
 *
 * Usage: BURN_US=300 node --conditions=source --import tsx bench/tools/contention.ts
 */
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { nativeCodex, RawClient, repoRoot, summarize, tsNodeArgs } from "../lib.js"

const burnUs = Number(process.env.BURN_US ?? 300)
const stops: Array<() => void> = []

const start = async (burn: number) => {
  const server = spawn(process.execPath, tsNodeArgs("fake-model-server.ts"), { stdio: ["pipe", "pipe", "inherit"], cwd: repoRoot })
  const lines = createInterface({ input: server.stdout! })[Symbol.asyncIterator]()
  stops.push(() => server.stdin!.end())
  const info = JSON.parse((await lines.next()).value as string) as { codexHome: string; workspace: string }
  const client = new RawClient(nativeCodex(), { env: { CODEX_HOME: info.codexHome }, cwd: info.workspace })
  await client.initialize()
  const { thread } = await client.request("thread/start", {})
  if (burn > 0) {
    client.child.stdout!.on("data", () => {
      const t = performance.now()
      while (performance.now() - t < burn / 1000) {
        // busy
      }
    })
  }
  return { client, threadId: thread.id as string }
}

const turn = (c: { client: RawClient; threadId: string }) =>
  new Promise<number>((resolve, reject) => {
    let turnId: string | undefined
    c.client.onNotification = (m) => {
      if (m.method === "turn/completed" && m.params.turn.id === turnId) resolve(m.params.turn.durationMs)
    }
    c.client.request("turn/start", { threadId: c.threadId, input: [{ type: "text", text: "q", text_elements: [] }] }).then((r) => {
      turnId = r.turn.id
    }, reject)
  })

const a = await start(0)
const b = await start(burnUs)
const durations = { a: [] as Array<number>, b: [] as Array<number> }
for (let i = 0; i < 33; i++) {
  const da = await turn(a)
  const db = await turn(b)
  if (i >= 3) {
    durations.a.push(da)
    durations.b.push(db)
  }
}
console.log(
  `codex durationMs median: client A (no burn) ${summarize(durations.a).median}, client B (${burnUs} µs per stdout chunk) ${summarize(durations.b).median}`
)
await a.client.close()
await b.client.close()
for (const stop of stops) stop()
