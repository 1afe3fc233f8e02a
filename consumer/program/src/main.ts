/**
 * A user's program, built the way a user builds it: the SDK installed from its tarballs, compiled
 * with `tsc` (strict, NodeNext, exactOptionalPropertyTypes) and run with plain `node`.
 *
 * 1. The Effect API: a thread, a streamed turn whose shell command goes through an approval
 *    handler, the command's output and the final answer.
 * 2. The Promise facade: a thread, `runStreamed` with `for await`, an approval callback, the answer.
 *
 * The real pinned `codex` binary runs against `FakeModel` (a Responses API on 127.0.0.1).
 */
import { Approvals, Codex, Input } from "@effect-codex/app-server"
import { CodexClient } from "@effect-codex/app-server/promise"
import { FakeModel } from "@effect-codex/testing"
import { Effect, Exit, Layer, Option, Scope, Stream } from "effect"

const replies = (marker: string) => [
  FakeModel.execCommand(`echo ${marker}`, { login: false }),
  FakeModel.text(`The command printed ${marker}.`, { chunks: ["The command ", `printed ${marker}.`] })
]

const effectApi = Effect.gen(function*() {
  const fake = yield* FakeModel.FakeModel
  yield* fake.enqueue(...replies("from-effect"))
  const codex = yield* Codex.Codex
  const thread = yield* codex.threadStart({ approvalPolicy: "untrusted", sandbox: "workspace-write" })
  const turn = yield* thread.turn(Input.text("Run echo, then tell me what it printed."))
  let streamed = ""
  yield* turn.stream.pipe(
    Stream.runForEach((event) =>
      Effect.sync(() => {
        if (event.method === "item/agentMessage/delta") streamed += event.params.delta
        if (event.method === "item/completed" && event.params.item.type === "commandExecution") {
          console.log(`effect: command output ${JSON.stringify(event.params.item.aggregatedOutput?.trim())}`)
        }
      })
    )
  )
  console.log(`effect: streamed answer ${JSON.stringify(streamed)}`)
  yield* fake.enqueue(FakeModel.text("Done."))
  const result = yield* thread.run("Anything else?")
  console.log(`effect: run answer ${JSON.stringify(Option.getOrElse(result.finalResponse, () => "(none)"))}`)
}).pipe(Effect.scoped)

const approvals = Approvals.layer({
  commandExecution: (params) =>
    Effect.sync(() => {
      console.log(`effect: approval asked for ${JSON.stringify(params.command)}`)
      return { decision: "accept" as const }
    })
})

const promiseFacade = async (): Promise<void> => {
  const scope = Effect.runSync(Scope.make())
  try {
    const fake = await Effect.runPromise(Scope.extend(FakeModel.make(), scope))
    await Effect.runPromise(fake.enqueue(...replies("from-promise")))
    await using client = await CodexClient.start({
      ...fake.config,
      approvals: {
        commandExecution: async (params) => {
          console.log(`promise: approval asked for ${JSON.stringify(params.command)}`)
          return { decision: "accept" }
        }
      }
    })
    const thread = await client.threadStart({ approvalPolicy: "untrusted", sandbox: "workspace-write" })
    const turn = thread.runStreamed("Run echo, then tell me what it printed.")
    let streamed = ""
    for await (const event of turn) {
      if (event.method === "item/agentMessage/delta") streamed += event.params.delta
    }
    const result = await turn.result()
    console.log(`promise: streamed answer ${JSON.stringify(streamed)}, final ${JSON.stringify(result.finalResponse)}`)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const main = async () => {
  await Effect.runPromise(
    effectApi.pipe(
      Effect.provide(FakeModel.layerCodex().pipe(Layer.provide(approvals))),
      Effect.tap(() => Effect.sync(() => console.log("effect: done")))
    )
  )
  await promiseFacade()
  console.log("promise: done")
}

main().catch((error: unknown) => {
  console.error("consumer program failed:", error)
  process.exitCode = 1
})
