/**
 * Image input from a file: `Input.localImage(path)`. The file is read by `codex app-server` (so the
 * path must exist on the machine that runs codex) and sent to the model as an image. Here a small
 * blue PNG is written to a temporary file first.
 *
 *   npx tsx --conditions=source examples/local-image.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Option } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Codex, Input } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"
import * as Backend from "./backend.js"
import { solidPng } from "./png.js"

const program = Effect.gen(function*() {
  const backend = yield* Backend.Backend
  yield* backend.script(FakeModel.text("It is a solid blue square."))

  const file = Path.join(backend.workspace, "square.png")
  const png = solidPng(24, 24, [30, 60, 220])
  Fs.writeFileSync(file, png)
  yield* Console.log(`wrote ${file} (${png.length} bytes)`)

  const codex = yield* Codex.Codex
  const thread = yield* codex.threadStart()
  const result = yield* thread.run([Input.text("Describe this image in one sentence."), Input.localImage(file)])
  yield* Console.log(`answer: ${Option.getOrElse(result.finalResponse, () => "(none)")}`)

  const userMessage = result.items.find((item) => item.type === "userMessage")
  if (userMessage?.type === "userMessage") {
    yield* Console.log(`the thread records the input as: ${userMessage.content.map((part) => part.type).join(" + ")}`)
  }

  // Offline: codex read the file and sent its bytes to the model as a data: URL.
  const [request] = yield* backend.requests
  if (request !== undefined) {
    const user = FakeModel.inputItems(request).filter((item) => item.type === "message" && item.role === "user").at(-1)
    const parts = (user?.content ?? []) as ReadonlyArray<{ readonly type: string; readonly image_url?: string; readonly text?: string }>
    yield* Console.log("model received:")
    for (const part of parts) {
      if (part.type !== "input_image") {
        yield* Console.log(`  ${part.type} ${JSON.stringify(part.text)}`)
        continue
      }
      const match = /^data:([^;]+);base64,(.*)$/.exec(part.image_url ?? "")
      const bytes = match === null ? undefined : Buffer.from(match[2]!, "base64")
      yield* Console.log(`  input_image ${match?.[1] ?? "?"}, ${bytes?.length ?? 0} bytes, same bytes as the file: ${bytes?.equals(png) ?? false}`)
    }
  }
}).pipe(Effect.scoped)

program.pipe(Effect.provide(Backend.layerCodex()), NodeRuntime.runMain)
