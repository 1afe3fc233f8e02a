import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { describe, expect, it } from "vitest"
import { FakeModel } from "@effect-codex/testing"
import { CodexClient, PoolConfigError } from "@effect-codex/app-server/promise"

// CodexClient.startPool against the real binary and a FakeModel on 127.0.0.1.

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

describe("CodexClient.startPool", () => {
  it("runs threads over 2 processes behind the same client, and closes them all", async () => {
    const scope = await Effect.runPromise(Scope.make())
    try {
      const fake = await Effect.runPromise(
        FakeModel.make({ respond: (request) => FakeModel.text(`re: ${FakeModel.lastUserText(request) ?? ""}`) }).pipe(Scope.extend(scope))
      )
      const client = await CodexClient.startPool({ size: 2, ...fake.config })
      const threads = await Promise.all([1, 2, 3, 4].map(() => client.threadStart()))
      const results = await Promise.all(threads.map((t, i) => t.run(`hi ${i}`)))
      expect(results.map((r) => r.finalResponse)).toEqual(["re: hi 0", "re: hi 1", "re: hi 2", "re: hi 3"])
      const stats = await client.pool!.stats()
      expect(stats.processes.map((p) => p.threads.length)).toEqual([2, 2])
      expect(client.pid).toBe(stats.processes[0]!.pid)
      const pids = stats.processes.map((p) => p.pid!)
      await client.close()
      expect(pids.filter(isAlive)).toEqual([])
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }, 90_000)

  it("rejects a bad size with PoolConfigError", async () => {
    const error = await CodexClient.startPool({ size: 0 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PoolConfigError)
    expect((error as PoolConfigError).field).toBe("size")
  })
})
