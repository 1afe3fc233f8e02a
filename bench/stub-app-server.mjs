#!/usr/bin/env node
// A stub `codex app-server` for the benchmarks: newline-delimited JSON-RPC on stdio, shaped like
// the real 0.171.0 server (payloads copied from packages/protocol/test/fixtures/traffic-0.171.0.jsonl).
//
// It answers `initialize`, `thread/start`, `turn/start` (and `turn/interrupt`), and for every turn
// writes: turn/started, item/started (agentMessage), STUB_DELTAS × item/agentMessage/delta,
// item/completed, thread/tokenUsage/updated, turn/completed — as fast as the pipe allows (lines are
// written in batches; a full pipe is waited out with "drain").
//
// Environment:
//   STUB_DELTAS   deltas per turn (default 200000)
//   STUB_BATCH    lines per write (default 512)
//   STUB_PACE_MS  if set, every notification is written on its own, this many ms after the previous
//                 one (like a real turn, whose ~14 notifications arrive in as many reads)
// It is started as `stub-app-server.mjs app-server --listen stdio://` (the arguments are ignored).

const DELTAS = Number(process.env.STUB_DELTAS ?? 200000)
const PACE_MS = process.env.STUB_PACE_MS === undefined ? undefined : Number(process.env.STUB_PACE_MS)
const BATCH = PACE_MS === undefined ? Number(process.env.STUB_BATCH ?? 512) : 1
const out = process.stdout

const write = (text) => (out.write(text) ? undefined : new Promise((resolve) => out.once("drain", resolve)))

const pause = () => new Promise((resolve) => setTimeout(resolve, PACE_MS))

const send = async (message) => {
  await write(JSON.stringify(message) + "\n")
  if (PACE_MS !== undefined && message.method !== undefined) await pause()
}

const now = () => Date.now()
const seconds = () => Math.floor(Date.now() / 1000)

const threadId = "01a223c3-48f4-7513-8b61-324b5fb9f4be"
const cwd = process.cwd()

const threadInfo = () => ({
  id: threadId,
  environments: [{ environmentId: "local", cwd, runtimeWorkspaceRoots: [cwd] }],
  extra: null,
  sessionId: threadId,
  forkedFromId: null,
  attachedToThreadId: null,
  parentThreadId: null,
  preview: "",
  ephemeral: false,
  section: null,
  sectionEnteredAt: null,
  projectId: null,
  historyMode: "paginated",
  modelProvider: "mock",
  model: "mock-model",
  reasoningEffort: null,
  createdAt: seconds(),
  updatedAt: seconds(),
  recencyAt: seconds(),
  status: { type: "idle" },
  path: null,
  cwd,
  cliVersion: "0.171.0",
  originator: "bench",
  source: "vscode",
  canAcceptDirectInput: true,
  threadSource: null,
  agentNickname: null,
  agentRole: null,
  gitInfo: null,
  name: null,
  daybreakEnabled: null,
  turns: []
})

const threadStartResult = () => ({
  thread: threadInfo(),
  model: "mock-model",
  modelProvider: "mock",
  serviceTier: null,
  disabledPluginIds: [],
  cwd,
  runtimeWorkspaceRoots: [cwd],
  instructionSources: [],
  approvalPolicy: "never",
  approvalsReviewer: "user",
  sandbox: { type: "readOnly" },
  activePermissionProfile: null,
  reasoningEffort: null,
  multiAgentMode: "explicitRequestOnly"
})

const turnOf = (id, status, extra = {}) => ({
  id,
  rootTurnId: id,
  items: [],
  itemsView: "notLoaded",
  status,
  error: null,
  startedAt: null,
  completedAt: null,
  durationMs: null,
  ...extra
})

// A few realistic delta texts (token-sized pieces of prose), cycled.
const WORDS = ["Hello ", "from ", "the ", "fake ", "model", ". ", "Rust ", "ownership ", "means ", "each ", "value ", "has ", "one ", "owner", ", ", "and "]
const TEXT_PER_CYCLE = WORDS.join("")

let turnCounter = 0

async function runTurn(turnId) {
  const itemId = `msg-${turnId}`
  const started = now()
  await send({ method: "turn/started", params: { threadId, turn: turnOf(turnId, "inProgress", { startedAt: seconds() }) }, emittedAtMs: started })
  await send({
    method: "item/started",
    params: {
      item: { type: "agentMessage", moderation: null, id: itemId, text: "", phase: null, memoryCitation: null, delivery: null, questions: null, startedAtMs: started, completedAtMs: null },
      threadId,
      turnId,
      startedAtMs: started
    },
    emittedAtMs: started
  })
  // Deltas: the line prefix/suffix are fixed, only the delta text and the timestamp change.
  const prefix = `{"method":"item/agentMessage/delta","params":{"threadId":"${threadId}","turnId":"${turnId}","itemId":"${itemId}","delta":`
  let sent = 0
  while (sent < DELTAS) {
    const n = Math.min(BATCH, DELTAS - sent)
    const ms = now()
    let chunk = ""
    for (let i = 0; i < n; i++) {
      chunk += prefix + JSON.stringify(WORDS[(sent + i) % WORDS.length]) + `},"emittedAtMs":${ms}}\n`
    }
    sent += n
    const wait = write(chunk)
    if (wait !== undefined) await wait
    if (PACE_MS !== undefined) await pause()
  }
  const cycles = Math.floor(DELTAS / WORDS.length)
  const text = DELTAS > 10000 ? `(${DELTAS} deltas)` : TEXT_PER_CYCLE.repeat(cycles) + WORDS.slice(0, DELTAS % WORDS.length).join("")
  const done = now()
  const item = { type: "agentMessage", moderation: null, id: itemId, text, phase: null, memoryCitation: null, delivery: null, questions: null, startedAtMs: started, completedAtMs: done }
  await send({ method: "item/completed", params: { item, threadId, turnId, contentTokenCount: null, completedAtMs: done }, emittedAtMs: done })
  const usage = { totalTokens: 15, inputTokens: 10, cachedInputTokens: 0, cacheWriteInputTokens: 0, outputTokens: 5, reasoningOutputTokens: 0 }
  await send({ method: "thread/tokenUsage/updated", params: { threadId, turnId, tokenUsage: { total: usage, last: usage, modelContextWindow: 258400 } }, emittedAtMs: done })
  await send({
    method: "turn/completed",
    params: {
      threadId,
      turn: turnOf(turnId, "completed", { items: [item], itemsView: "summary", startedAt: seconds(), completedAt: seconds(), durationMs: done - started })
    },
    emittedAtMs: done
  })
}

// Requests are handled one at a time, in order (a turn's stream is written before the next request is read).
let chain = Promise.resolve()

async function handle(message) {
  if (message.id === undefined) return // notifications (initialized) and nothing else
  const { id, method } = message
  switch (method) {
    case "initialize":
      return send({ id, result: { userAgent: "bench_stub/0.171.0 (stub; x86_64)", codexHome: "/nonexistent", platformFamily: "unix", platformOs: "linux" } })
    case "thread/start":
      return send({ id, result: threadStartResult() })
    case "turn/start": {
      const turnId = `turn-${++turnCounter}`
      await send({ id, result: { turn: turnOf(turnId, "inProgress") } })
      return runTurn(turnId)
    }
    case "turn/interrupt":
      return send({ id, result: {} })
    default:
      if (method === undefined) return // a response to a server request
      return send({ id, error: { code: -32600, message: `stub: unsupported method ${method}` } })
  }
}

let carry = ""
process.stdin.setEncoding("utf8")
process.stdin.on("data", (text) => {
  const lines = (carry + text).split("\n")
  carry = lines.pop()
  for (const line of lines) {
    if (line.length === 0) continue
    let message
    try {
      message = JSON.parse(line)
    } catch {
      continue
    }
    chain = chain.then(() => handle(message))
  }
})
process.stdin.on("end", () => {
  chain.then(() => process.exit(0))
})
process.on("SIGTERM", () => process.exit(0))
