/**
 * Every per-turn setting in one place: model, reasoning effort and summary, personality, working
 * directory, approval policy, sandbox policy, service tier and an output Schema. They are typed from
 * the protocol's `turn/start` params (`Thread.TurnOptions`) and apply to this turn and the ones after.
 * Offline, the example prints what reached the model.
 *
 *   npx tsx --conditions=source examples/turn-parameters.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Schema } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Codex } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"

const Verdict = Schema.Struct({ verdict: Schema.Literal("ship", "wait"), reason: Schema.String })

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  yield* backend.script(FakeModel.text(JSON.stringify({ verdict: "ship", reason: "All checks are green." })))
  const codex = yield* Codex.Codex

  // Offline: a catalog model that the FakeModel can play; with a real model: the default one.
  const models = yield* codex.models()
  const model = backend.mode === "offline"
    ? models.find((m) => m.model === "gpt-5.5")
    : models.find((m) => m.isDefault)
  if (model === undefined) return yield* Effect.dieMessage("no model to use")

  const cwd = Path.join(backend.workspace, "service")
  Fs.mkdirSync(cwd, { recursive: true })
  const options = {
    model: model.model,
    effort: model.supportedReasoningEfforts.some((e) => e.reasoningEffort === "high") ? "high" : model.defaultReasoningEffort,
    summary: "concise",
    personality: "pragmatic",
    cwd,
    approvalPolicy: "on-request",
    sandboxPolicy: { type: "workspaceWrite", networkAccess: false, writableRoots: [backend.workspace] },
    serviceTier: model.serviceTiers?.[0]?.id ?? null,
    outputSchema: Verdict
  } as const
  const { outputSchema: _, ...shown } = options
  yield* Console.log(`turn options: ${JSON.stringify(shown)} + outputSchema`)

  const thread = yield* codex.threadStart()
  const result = yield* thread.run("Should we ship the release? Answer with a verdict and a reason.", options)
  yield* Console.log(`output: verdict=${result.output.verdict}, reason=${result.output.reason}`)

  const [request] = yield* backend.requests
  if (request === undefined) return
  const body = request.body as {
    readonly model?: string
    readonly reasoning?: unknown
    readonly service_tier?: string
    readonly text?: { readonly format?: { readonly name?: string; readonly strict?: boolean } }
  }
  yield* Console.log("the model received:")
  yield* Console.log(`  model: ${body.model}`)
  yield* Console.log(`  reasoning: ${JSON.stringify(body.reasoning)}`)
  yield* Console.log(`  service_tier: ${body.service_tier}`)
  yield* Console.log(`  text.format: ${body.text?.format?.name} (strict: ${body.text?.format?.strict})`)
  yield* Console.log(`  environment cwd: ${/<cwd>(.*?)<\/cwd>/.exec(request.rawBody)?.[1]}`)
  yield* Console.log(`  sandbox: writable root ${backend.workspace}: ${request.rawBody.includes(`<entry access=\\"write\\"><path>${backend.workspace}</path>`)}, ` +
    `network restricted: ${request.rawBody.includes("Network access is restricted")}`)
  yield* Console.log(`  approval policy on-request: instructions explain escalation requests: ${request.rawBody.includes("How to request escalation")}`)
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex()), NodeRuntime.runMain)
