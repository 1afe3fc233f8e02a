/**
 * Benchmark 4 — startup: spawn of the real `codex app-server` (native binary) up to the answer to
 * `initialize`, against one reused CODEX_HOME (a FakeModel's config.toml; the home is warmed by one
 * discarded spawn per contender first, see PROTOCOL-NOTES §8: the first spawn on a home is slower).
 * Contenders alternate in one process (A B A B …):
 *   sdk   Layer.build(Codex.layer(config)) in a fresh scope: binary resolution, spawn, stdio
 *         fibers, initialize + initialized, version check. Then the scope is closed (release
 *         timed separately: stdin close → exit).
 *   raw   child_process.spawn + initialize + initialized; then stdin close → exit.
 *
 * Usage: node --conditions=source --import tsx bench/startup.ts [rounds]
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { Codex } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import { emit, RawClient, nativeCodex, summarize } from "./lib.js"

const rounds = Number(process.argv[2] ?? 10)

const sdkOnce = (config: FakeModel.FakeModel.Service["config"]) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const t0 = performance.now()
    yield* Layer.buildWithScope(Codex.layer(config), scope)
    const startMs = performance.now() - t0
    const t1 = performance.now()
    yield* Scope.close(scope, Exit.void)
    return { startMs, releaseMs: performance.now() - t1 }
  })

const rawOnce = async (fake: FakeModel.FakeModel.Service) => {
  const t0 = performance.now()
  const client = new RawClient(nativeCodex(), { env: { CODEX_HOME: fake.codexHome }, cwd: fake.workspace })
  await client.initialize()
  const startMs = performance.now() - t0
  const t1 = performance.now()
  await client.close()
  return { startMs, releaseMs: performance.now() - t1 }
}

const result = await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function*() {
      const fake = yield* FakeModel.make()
      const warmup = {
        raw: yield* Effect.promise(() => rawOnce(fake)),
        sdk: yield* sdkOnce(fake.config)
      }
      const raw: Array<{ startMs: number; releaseMs: number }> = []
      const sdk: Array<{ startMs: number; releaseMs: number }> = []
      for (let r = 0; r < rounds; r++) {
        raw.push(yield* Effect.promise(() => rawOnce(fake)))
        sdk.push(yield* sdkOnce(fake.config))
      }
      return { warmup, raw, sdk }
    })
  )
)

emit({
  rounds,
  codexHome: "reused (one FakeModel home; one discarded warm-up spawn per contender)",
  warmup: result.warmup,
  startMs: { raw: summarize(result.raw.map((x) => x.startMs)), sdk: summarize(result.sdk.map((x) => x.startMs)) },
  releaseMs: { raw: summarize(result.raw.map((x) => x.releaseMs)), sdk: summarize(result.sdk.map((x) => x.releaseMs)) },
  samples: result
})
