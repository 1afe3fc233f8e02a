/**
 * A FakeModel (packages/testing) in a process of its own, so that the client under test does not
 * share its event loop with the model server. Every request gets the same short streamed reply.
 *
 * Prints one JSON line `{"codexHome","workspace","baseUrl"}` when ready; on stdin end it prints
 * `{"requests": <POST /v1/responses count>}`, removes its directories and exits.
 *
 * Usage: node --conditions=source --import tsx bench/fake-model-server.ts
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { FakeModel } from "@effect-codex/testing"

export const REPLY = "Hello from the fake model."

await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function*() {
      const fake = yield* FakeModel.make({ onEmpty: FakeModel.text(REPLY, { chunks: ["Hello ", "from ", "the ", "fake ", "model."] }) })
      process.stdout.write(JSON.stringify({ codexHome: fake.codexHome, workspace: fake.workspace, baseUrl: fake.baseUrl }) + "\n")
      const done = yield* Deferred.make<void>()
      process.stdin.on("end", () => Deferred.unsafeDone(done, Effect.void))
      process.stdin.resume()
      yield* Deferred.await(done)
      const requests = yield* fake.requests
      process.stdout.on("error", () => {}) // the parent may be gone already
      process.stdout.write(JSON.stringify({ requests: requests.filter((r) => r.path.endsWith("/responses")).length }) + "\n")
    })
  )
)
