/**
 * Image input by URL: `Input.image(url)` (here a `data:` URL of a small red PNG) together with
 * text, in one turn. Offline, the example shows what codex sent to the model: an `input_image`
 * next to the `input_text`.
 *
 *   npx tsx --conditions=source examples/image-input.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Option } from "effect"
import { Codex, Input } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"
import { solidPng } from "./png.js"

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  yield* backend.script(FakeModel.text("The image is a solid red square."))

  const png = solidPng(16, 16, [220, 20, 20])
  const dataUrl = `data:image/png;base64,${png.toString("base64")}`
  yield* Console.log(`sending a 16×16 PNG as a data: URL (${dataUrl.length} characters) and a question`)

  const codex = yield* Codex.Codex
  const thread = yield* codex.threadStart()
  const result = yield* thread.run([Input.image(dataUrl), Input.text("What colour is this image? One sentence.")])
  yield* Console.log(`answer: ${Option.getOrElse(result.finalResponse, () => "(none)")}`)

  // What the model received (offline only): the user message's content parts.
  const [request] = yield* backend.requests
  if (request !== undefined) {
    const user = FakeModel.inputItems(request).filter((item) => item.type === "message" && item.role === "user").at(-1)
    const parts = (user?.content ?? []) as ReadonlyArray<{ readonly type: string; readonly image_url?: string; readonly text?: string }>
    for (const part of parts) {
      if (part.type === "input_image") {
        const same = part.image_url === dataUrl
        yield* Console.log(`model received: input_image ${part.image_url?.slice(0, 30)}… (the same data URL: ${same})`)
      } else {
        yield* Console.log(`model received: ${part.type} ${JSON.stringify(part.text)}`)
      }
    }
  }
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex()), NodeRuntime.runMain)
