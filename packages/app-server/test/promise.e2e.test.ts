import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { FakeModel } from "@effect-codex/testing"
import {
  AbortError,
  type ClientOptions,
  CodexBinaryNotFoundError,
  CodexClient,
  Input,
  type Notification,
  type PromiseTurn,
  TurnBusyError,
  TurnFailedError,
  TurnStalledError
} from "@effect-codex/app-server/promise"

// The plain-Node facade against the real codex binary and a FakeModel on 127.0.0.1. Only the
// FakeModel is driven through Effect; every wait is for an event, the timeouts are guards.

const TIMEOUT = 90_000

interface Fake {
  readonly service: FakeModel.FakeModel.Service
  readonly enqueue: (...replies: ReadonlyArray<FakeModel.Reply>) => Promise<void>
  readonly awaitRequests: (n: number) => Promise<ReadonlyArray<FakeModel.RecordedRequest>>
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const startFake = async (options?: FakeModel.Options): Promise<Fake> => {
  const scope = await Effect.runPromise(Scope.make())
  cleanups.push(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  const service = await Effect.runPromise(FakeModel.make(options).pipe(Scope.extend(scope)))
  return {
    service,
    enqueue: (...replies) => Effect.runPromise(service.enqueue(...replies)),
    awaitRequests: (n) => Effect.runPromise(service.awaitRequests(n))
  }
}

/** A FakeModel and a client pointed at it, both closed after the test. */
const setup = async (options: ClientOptions = {}) => {
  const fake = await startFake()
  const client = await CodexClient.start({ ...fake.service.config, ...options })
  cleanups.push(() => client.close())
  return { fake, client }
}

const deltasOf = (events: ReadonlyArray<Notification>) =>
  events.flatMap((e) => (e.method === "item/agentMessage/delta" ? [e.params.delta] : []))

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Live (non-zombie) members of a process group, from /proc (Linux); `undefined` elsewhere. Zombies
 * are left out: in a container whose PID 1 does not reap, orphans of codex's own children (git)
 * stay as zombies whatever the SDK does.
 */
const liveGroupMembers = (pgid: number): Array<number> | undefined => {
  if (!fs.existsSync("/proc/self/stat")) return undefined
  const members: Array<number> = []
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
    } catch {
      continue // exited meanwhile
    }
    // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    if (Number(fields[2]) === pgid && fields[0] !== "Z") members.push(Number(entry))
  }
  return members
}

/** close() returns once the process has exited and was reaped: nothing of its process group may be left running. */
const expectGone = (pid: number) => {
  expect(isAlive(pid)).toBe(false)
  const members = liveGroupMembers(pid)
  if (members !== undefined) expect(members).toEqual([])
}

describe("run", () => {
  it("returns the final response, items and usage as plain values", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(
      FakeModel.response([FakeModel.reasoning("Thinking."), FakeModel.text("Done.")], {
        usage: FakeModel.usage(100, 20, { cached: 40, reasoning: 7 })
      }),
      FakeModel.text("Again.")
    )
    const thread = await client.threadStart()
    expect(thread.id).toBe(thread.info.id)
    const result = await thread.run("do it")
    expect(result.finalResponse).toBe("Done.")
    expect(result.turn.status).toBe("completed")
    expect(result.items.map((i) => i.type)).toEqual(["userMessage", "reasoning", "agentMessage"])
    expect(result.usage?.last).toMatchObject({ inputTokens: 100, cachedInputTokens: 40, outputTokens: 20, totalTokens: 120 })
    const second = await thread.run([Input.text("again")])
    expect(second.finalResponse).toBe("Again.")
    expect(second.usage?.total.totalTokens).toBe(135)
    const [, request] = await fake.awaitRequests(2)
    expect(FakeModel.lastUserText(request!)).toBe("again")
  }, TIMEOUT)

  it("decodes a structured output with an Effect Schema", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(FakeModel.text(`{"answer":"42","confidence":0.9}`))
    const thread = await client.threadStart()
    const Answer = Schema.Struct({ answer: Schema.String, confidence: Schema.Number })
    const result = await thread.run("answer", { outputSchema: Answer })
    expect(result.output).toEqual({ answer: "42", confidence: 0.9 })
  }, TIMEOUT)

  it("an HTTP 500 rejects with a TurnFailedError instance", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(FakeModel.httpError(500))
    const thread = await client.threadStart()
    const error = await thread.run("fail please").then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(TurnFailedError)
    expect(error).toMatchObject({ _tag: "TurnFailedError", codexErrorInfo: "internalServerError" })
    expect((error as TurnFailedError).info.retryable).toBe(true)
  }, TIMEOUT)

  it("aborting the signal rejects with AbortError and interrupts the turn on the server", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(FakeModel.stall(FakeModel.text("partial", { chunks: ["par", "tial"] })), FakeModel.text("next"))
    const thread = await client.threadStart()
    const controller = new AbortController()
    const running = thread.run("talk", { signal: controller.signal })
    await fake.awaitRequests(1)
    controller.abort()
    await expect(running).rejects.toBeInstanceOf(AbortError)
    const next = await thread.run("again")
    expect(next.finalResponse).toBe("next")
    const read = await thread.read({ includeTurns: true })
    expect(read.turns.map((t) => t.status)).toEqual(["interrupted", "completed"])
  }, TIMEOUT)
})

describe("usage", () => {
  it("usage.turn: what the turn used over its model calls, in run and in runStreamed's result", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(
      FakeModel.execCommand("echo hi", { login: false, usage: FakeModel.usage(100, 10) }),
      FakeModel.text("done", { usage: FakeModel.usage(200, 20) }),
      FakeModel.text("again", { usage: FakeModel.usage(300, 30) })
    )
    const thread = await client.threadStart()
    const first = await thread.run("run echo")
    expect(first.usage?.last.totalTokens).toBe(220)
    expect(first.usage?.turn).toMatchObject({ inputTokens: 300, outputTokens: 30, totalTokens: 330 })
    const turn = thread.runStreamed("again")
    for await (const _ of turn) {
      // drain
    }
    const second = await turn.result()
    expect(second.usage?.total.totalTokens).toBe(660)
    expect(second.usage?.turn).toMatchObject({ inputTokens: 300, outputTokens: 30, totalTokens: 330 })
  }, TIMEOUT)
})

describe("idle timeout and queue", () => {
  it("idleTimeout (per turn, or turnIdleTimeout of the client) rejects a stalled turn with TurnStalledError", async () => {
    const { fake, client } = await setup({ turnIdleTimeout: 1500 })
    await fake.enqueue(
      FakeModel.stall(FakeModel.text("partial", { chunks: ["par", "tial"] })),
      FakeModel.stall(FakeModel.text("stalled again", { chunks: ["stalled ", "again"] })),
      FakeModel.text("first"),
      FakeModel.text("second")
    )
    const thread = await client.threadStart()
    await expect(thread.run("talk", { idleTimeout: 1000 })).rejects.toBeInstanceOf(TurnStalledError)
    const turn = thread.runStreamed("talk again")
    await expect(turn.result()).rejects.toMatchObject({ _tag: "TurnStalledError", lastEvent: "item/agentMessage/delta" })
    // queue: the second run waits for the first instead of rejecting with TurnBusyError
    const [first, second] = await Promise.all([thread.run("one"), thread.run("two", { queue: true })])
    expect([first.finalResponse, second.finalResponse]).toEqual(["first", "second"])
  }, TIMEOUT)
})

describe("runStreamed", () => {
  it("yields the deltas in order and ends after turn/completed; result() after the loop", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(FakeModel.text("Hello brave new world.", { chunks: ["Hello ", "brave ", "new ", "world."] }))
    const thread = await client.threadStart()
    const turn = thread.runStreamed("hi")
    const events: Array<Notification> = []
    for await (const event of turn) events.push(event)
    expect(deltasOf(events)).toEqual(["Hello ", "brave ", "new ", "world."])
    expect(events.at(-1)?.method).toBe("turn/completed")
    expect(events.filter((e) => e.method === "turn/completed")).toHaveLength(1)
    expect(turn.id).toBe(await turn.started)
    const result = await turn.result()
    expect(result.finalResponse).toBe("Hello brave new world.")
    expect(result.turn.id).toBe(turn.id)
  }, TIMEOUT)

  it("result() without iterating; a second iteration fails with TurnConsumedError", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(FakeModel.text("only result"))
    const thread = await client.threadStart()
    const turn = thread.runStreamed("hi")
    expect((await turn.result()).finalResponse).toBe("only result")
    await expect(turn[Symbol.asyncIterator]().next()).rejects.toMatchObject({ _tag: "TurnConsumedError" })
  }, TIMEOUT)

  it("a failed turn ends the loop normally and result() rejects with TurnFailedError", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(FakeModel.httpError(500))
    const thread = await client.threadStart()
    const turn = thread.runStreamed("fail")
    const events: Array<Notification> = []
    for await (const event of turn) events.push(event)
    const last = events.at(-1)
    expect(last?.method === "turn/completed" && last.params.turn.status).toBe("failed")
    await expect(turn.result()).rejects.toBeInstanceOf(TurnFailedError)
  }, TIMEOUT)

  it("breaking out of the loop interrupts the turn; the thread is free again", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(FakeModel.stall(FakeModel.text("partial text", { chunks: ["partial ", "text"] })), FakeModel.text("next"))
    const thread = await client.threadStart()
    const turn = thread.runStreamed("talk")
    const seen: Array<string> = []
    for await (const event of turn) {
      if (event.method === "item/agentMessage/delta") {
        seen.push(event.params.delta)
        break
      }
    }
    expect(seen).toEqual(["partial "])
    await expect(turn.result()).rejects.toBeInstanceOf(AbortError)
    const next = await thread.run("again")
    expect(next.finalResponse).toBe("next")
    const read = await thread.read({ includeTurns: true })
    expect(read.turns.map((t) => t.status)).toEqual(["interrupted", "completed"])
  }, TIMEOUT)

  it("interrupt() ends the turn as interrupted and the loop sees turn/completed", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(FakeModel.stall(FakeModel.text("partial text", { chunks: ["partial ", "text"] })))
    const thread = await client.threadStart()
    const turn = thread.runStreamed("talk")
    const methods: Array<string> = []
    for await (const event of turn) {
      methods.push(event.method)
      if (event.method === "item/agentMessage/delta" && methods.filter((m) => m === event.method).length === 1) {
        await turn.interrupt()
      }
    }
    expect(methods.at(-1)).toBe("turn/completed")
    expect((await turn.result()).turn.status).toBe("interrupted")
  }, TIMEOUT)

  it("steer adds input to the running turn", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(FakeModel.stall(FakeModel.text("counting", { chunks: ["one ", "two"] })), FakeModel.text("steered answer"))
    const thread = await client.threadStart()
    const turn = thread.runStreamed("count")
    let steered = false
    for await (const event of turn) {
      if (event.method === "item/agentMessage/delta" && !steered) {
        steered = true
        await turn.steer("also say steered")
      }
    }
    const result = await turn.result()
    expect(result.turn.status).toBe("completed")
    const [, second] = await fake.awaitRequests(2)
    expect(FakeModel.lastUserText(second!)).toBe("also say steered")
  }, TIMEOUT)

  it("a second turn on a busy thread fails fast with TurnBusyError", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(FakeModel.stall(FakeModel.text("wait", { chunks: ["wa", "it"] })))
    const thread = await client.threadStart()
    const first = thread.runStreamed("first")
    await first.started
    const second = thread.runStreamed("second")
    await expect(second.started).rejects.toBeInstanceOf(TurnBusyError)
    await expect(thread.run("third")).rejects.toBeInstanceOf(TurnBusyError)
    await first.close()
    await expect(first.result()).rejects.toBeInstanceOf(AbortError)
  }, TIMEOUT)
})

describe("approvals", () => {
  const commandTurn = async (options: ClientOptions) => {
    const { fake, client } = await setup(options)
    await fake.enqueue(FakeModel.execCommand("echo approved-run > ran.txt && echo ran-ok", { login: false }), FakeModel.text("finished"))
    const thread = await client.threadStart({ approvalPolicy: "untrusted", sandbox: "workspace-write" })
    const result = await thread.run("run the command")
    const item = result.items.find((i) => i.type === "commandExecution")
    return { item, ran: fs.existsSync(path.join(fake.service.workspace, "ran.txt")) }
  }

  it("an async callback that accepts lets the command run", async () => {
    const seen: Array<string> = []
    const { item, ran } = await commandTurn({
      approvals: {
        commandExecution: async (params, { signal }) => {
          await Promise.resolve()
          seen.push(`${params.command ?? ""} aborted=${signal.aborted}`)
          return { decision: "accept" }
        }
      }
    })
    expect(seen[0]).toContain("echo approved-run")
    expect(seen[0]).toContain("aborted=false")
    expect(item).toMatchObject({ status: "completed" })
    expect((item as { aggregatedOutput: string }).aggregatedOutput).toContain("ran-ok")
    expect(ran).toBe(true)
  }, TIMEOUT)

  it("a callback that throws declines the command and the client goes on", async () => {
    const { item, ran } = await commandTurn({
      logLevel: "None",
      approvals: {
        commandExecution: () => {
          throw new Error("boom")
        }
      }
    })
    expect(item).toMatchObject({ status: "declined" })
    expect(ran).toBe(false)
  }, TIMEOUT)

  it("per-thread callbacks override the client's", async () => {
    const { fake, client } = await setup({ approvals: { commandExecution: () => ({ decision: "decline" }) } })
    await fake.enqueue(FakeModel.execCommand("echo per-thread", { login: false }), FakeModel.text("ok"))
    const thread = await client.threadStart(
      { approvalPolicy: "untrusted", sandbox: "workspace-write" },
      { approvals: { commandExecution: async () => ({ decision: "accept" }) } }
    )
    const result = await thread.run("go")
    expect(result.items.find((i) => i.type === "commandExecution")).toMatchObject({ status: "completed" })
  }, TIMEOUT)
})

describe("client", () => {
  it("threads: fork, name, list, read, archive, unarchive, models, request", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(FakeModel.text("original"))
    const thread = await client.threadStart()
    await thread.run("start")
    await thread.setName("my thread")
    expect((await thread.read()).name).toBe("my thread")
    const fork = await client.threadFork(thread.id)
    expect(fork.info.forkedFromId).toBe(thread.id)
    expect((await client.threadRead(thread.id, { includeTurns: true })).turns).toHaveLength(1)
    expect((await client.threadList()).data.map((t) => t.id)).toContain(thread.id)
    await client.threadArchive(thread.id)
    expect((await client.threadList()).data.map((t) => t.id)).not.toContain(thread.id)
    expect((await client.threadUnarchive(thread.id)).id).toBe(thread.id)
    expect(Array.isArray(await client.models())).toBe(true)
    const raw = await client.request("thread/read", { threadId: thread.id, includeTurns: false })
    expect(raw.thread.id).toBe(thread.id)
    await expect(client.request("thread/read", { threadId: "no-such-thread", includeTurns: false })).rejects.toMatchObject({
      _tag: "InvalidRequestError"
    })
  }, TIMEOUT)

  it("resumes a thread from a new client with the same CODEX_HOME", async () => {
    const fake = await startFake()
    await fake.enqueue(FakeModel.text("remember 42"), FakeModel.text("it was 42"))
    let threadId: string
    {
      await using client = await CodexClient.start(fake.service.config)
      const thread = await client.threadStart()
      await thread.run("remember a number")
      threadId = thread.id
    }
    await using client = await CodexClient.start(fake.service.config)
    const resumed = await client.threadResume(threadId)
    expect((await resumed.run("which number?")).finalResponse).toBe("it was 42")
  }, TIMEOUT)

  it("await using stops the process; close() twice is safe; calls after close reject", async () => {
    const fake = await startFake()
    let pid = 0
    let escaped: CodexClient | undefined
    {
      await using client = await CodexClient.start(fake.service.config)
      pid = client.pid
      escaped = client
      expect(isAlive(pid)).toBe(true)
      expect(liveGroupMembers(pid) ?? [pid]).toContain(pid)
      expect(client.serverVersion).toMatch(/^\d+\.\d+\.\d+/)
    }
    expectGone(pid)
    await escaped!.close()
    await escaped!.close()
    await expect(escaped!.threadStart()).rejects.toBeInstanceOf(AbortError)
  }, TIMEOUT)

  it("closing the client mid-turn interrupts the loop with AbortError and leaves nothing behind", async () => {
    const { fake, client } = await setup()
    await fake.enqueue(FakeModel.stall(FakeModel.text("partial text", { chunks: ["partial ", "text"] })))
    const thread = await client.threadStart()
    const turn: PromiseTurn = thread.runStreamed("talk")
    const iterator = turn[Symbol.asyncIterator]()
    let event = await iterator.next()
    while (event.done !== true && event.value.method !== "item/agentMessage/delta") event = await iterator.next()
    const pending = thread.run("busy")
    await expect(pending).rejects.toBeInstanceOf(TurnBusyError)
    const pid = client.pid
    const closing = Promise.all([client.close(), client.close()])
    await expect(drain(iterator)).rejects.toBeInstanceOf(AbortError)
    await closing
    expectGone(pid)
    await expect(thread.run("after")).rejects.toBeInstanceOf(AbortError)
    await expect(turn.result()).rejects.toBeInstanceOf(AbortError)
  }, TIMEOUT)

  it("start rejects with the SDK's error when the binary is missing", async () => {
    await expect(CodexClient.start({ codexBin: "/nonexistent/codex" })).rejects.toBeInstanceOf(CodexBinaryNotFoundError)
  }, TIMEOUT)
})

const drain = async (iterator: AsyncIterator<Notification>): Promise<void> => {
  for (;;) {
    const next = await iterator.next()
    if (next.done === true) return
  }
}
