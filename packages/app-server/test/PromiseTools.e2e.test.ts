import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { afterEach, describe, expect, expectTypeOf, it } from "vitest"
import { FakeModel } from "@effect-codex/testing"
import {
  CodexClient,
  type ClientOptions,
  ExperimentalApiRequiredError,
  tool,
  type ToolContext
} from "@effect-codex/app-server/promise"

// The Promise facade's tools against the real codex binary and a FakeModel on 127.0.0.1: the
// model calls a tool, codex asks the client (`item/tool/call`), the async handler answers, and
// the next model request carries the answer (`awaitToolOutput`). Every wait is for an event; the
// timeouts are guards.

const TIMEOUT = 90_000

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A FakeModel and a client pointed at it (with the experimental API, for tools), both closed after the test. */
const setup = async (options: ClientOptions = {}) => {
  const scope = await Effect.runPromise(Scope.make())
  cleanups.push(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  const fake = await Effect.runPromise(FakeModel.make().pipe(Scope.extend(scope)))
  const client = await CodexClient.start({ ...fake.config, experimentalApi: true, ...options })
  cleanups.push(() => client.close())
  return {
    fake,
    client,
    enqueue: (...replies: ReadonlyArray<FakeModel.Reply>) => Effect.runPromise(fake.enqueue(...replies)),
    awaitToolOutput: (callId: string) => Effect.runPromise(fake.awaitToolOutput(callId)),
    awaitRequests: (n: number) => Effect.runPromise(fake.awaitRequests(n))
  }
}

/** A promise with its resolver, to wait for something a handler does. */
const signalled = <A = void>() => {
  let resolve!: (value: A) => void // assigned by the Promise constructor, synchronously
  const promise = new Promise<A>((r) => (resolve = r))
  return { promise, resolve }
}

/** The `tools` the model was offered, from a recorded request's body. */
const offeredTools = (request: FakeModel.RecordedRequest): ReadonlyArray<Record<string, unknown>> =>
  ((request.body as { readonly tools?: ReadonlyArray<Record<string, unknown>> }).tools ?? [])

const Customer = Schema.Struct({ id: Schema.NumberFromString, tags: Schema.Array(Schema.String) })

describe("Promise facade tools", () => {
  it("a Schema tool: the handler gets decoded, typed args and its context; the model gets its answer", async () => {
    const { client, enqueue, awaitToolOutput, awaitRequests } = await setup()
    await enqueue(
      FakeModel.toolCall("lookup_customer", { id: "7", tags: ["vip"] }, { callId: "call-1" }),
      FakeModel.text("Ada is a VIP.")
    )
    const calls: Array<{ readonly args: unknown; readonly context: Omit<ToolContext, "signal"> }> = []
    const thread = await client.threadStart({}, {
      tools: [{
        name: "lookup_customer",
        description: "Finds a customer by id",
        parameters: Customer,
        handler: async (args, { signal, ...context }) => {
          expectTypeOf(args).toEqualTypeOf<{ readonly id: number; readonly tags: ReadonlyArray<string> }>()
          expectTypeOf(signal).toEqualTypeOf<AbortSignal>()
          // @ts-expect-error: args.id is a number (decoded by NumberFromString), not a string
          args.id.toUpperCase
          calls.push({ args, context })
          return `customer ${args.id + 1 - 1}: Ada Lovelace (${args.tags.join(", ")})`
        }
      }]
    })
    const result = await thread.run("Who is customer 7?")
    expect(result.finalResponse).toBe("Ada is a VIP.")
    expect(calls).toEqual([{ args: { id: 7, tags: ["vip"] }, context: { threadId: thread.id, turnId: result.turn.id, callId: "call-1" } }])
    expect((await awaitToolOutput("call-1")).output).toContain("customer 7: Ada Lovelace (vip)")
    expect(result.toolCalls).toMatchObject([{ callId: "call-1", tool: "lookup_customer", success: true, arguments: { id: "7", tags: ["vip"] } }])
    expect(typeof result.toolCalls[0]?.durationMs).toBe("number")
    // what codex offered the model: the Schema's JSON Schema (the encoded side: id is a string)
    const [first] = await awaitRequests(1)
    const offered = offeredTools(first!).find((t) => t.name === "lookup_customer")
    expect(offered).toMatchObject({ description: "Finds a customer by id", parameters: { type: "object", properties: { id: { type: "string" } } } })
  }, TIMEOUT)

  it("a JSON Schema tool: sent as it is, args unknown and passed as the model sent them", async () => {
    const { client, enqueue, awaitToolOutput, awaitRequests } = await setup()
    await enqueue(FakeModel.toolCall("add", { a: 2, b: 3 }, { callId: "call-add" }), FakeModel.text("5."))
    const parameters = {
      type: "object",
      properties: { a: { type: "number", description: "first" }, b: { type: "number" } },
      required: ["a", "b"],
      additionalProperties: false
    } as const
    const seen: Array<unknown> = []
    const thread = await client.threadStart({}, {
      tools: [{
        name: "add",
        description: "Adds two numbers",
        parameters,
        handler: (args) => {
          expectTypeOf(args).toEqualTypeOf<unknown>()
          seen.push(args)
          const { a, b } = args as { a: number; b: number }
          return String(a + b)
        }
      }]
    })
    const result = await thread.run("2 + 3?")
    expect(result.finalResponse).toBe("5.")
    expect(seen).toEqual([{ a: 2, b: 3 }])
    expect((await awaitToolOutput("call-add")).output).toContain("5")
    const [first] = await awaitRequests(1)
    expect(offeredTools(first!).find((t) => t.name === "add")?.parameters).toEqual(parameters)
  }, TIMEOUT)

  it("a throwing handler, a rejecting one and bad arguments answer success: false with the message; the turn goes on", async () => {
    const { client, enqueue, awaitToolOutput } = await setup()
    await enqueue(
      FakeModel.response([
        FakeModel.toolCall("lookup_customer", { id: "1", tags: [] }, { callId: "call-throw" }),
        FakeModel.toolCall("lookup_customer", { id: "2", tags: [] }, { callId: "call-reject" }),
        FakeModel.toolCall("lookup_customer", { id: "seven", tags: "vip" }, { callId: "call-bad" })
      ]),
      FakeModel.text("Nothing worked.")
    )
    const called: Array<number> = []
    const thread = await client.threadStart({}, {
      tools: [{
        name: "lookup_customer",
        description: "Finds a customer by id",
        parameters: Customer,
        handler: (args) => {
          called.push(args.id)
          if (args.id === 1) throw new Error("the customer database is down")
          return Promise.reject(new Error(`customer ${args.id} is archived`))
        }
      }]
    })
    const result = await thread.run("Look them up.")
    expect(result.finalResponse).toBe("Nothing worked.")
    expect(called.sort()).toEqual([1, 2])
    expect((await awaitToolOutput("call-throw")).output).toContain("the customer database is down")
    expect((await awaitToolOutput("call-reject")).output).toContain("customer 2 is archived")
    const bad = (await awaitToolOutput("call-bad")).output
    expect(bad).toContain("invalid arguments for lookup_customer")
    expect(bad).toContain("Expected ReadonlyArray<string>")
    // the three calls run at once: their items complete in any order
    expect(result.toolCalls.map((c) => [c.callId, c.success]).sort()).toEqual([["call-bad", false], ["call-reject", false], ["call-throw", false]])
  }, TIMEOUT)

  it("content answers, namespaces, tool() typing and a timeout that aborts the signal", async () => {
    const { client, enqueue, awaitToolOutput, awaitRequests } = await setup()
    const pixel = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    await enqueue(
      FakeModel.toolCall("render", { shape: "dot" }, { callId: "call-render", namespace: "drawing" }),
      FakeModel.toolCall("slow", {}, { callId: "call-slow" }),
      FakeModel.text("Drawn; slow timed out.")
    )
    const render = tool({
      name: "render",
      description: "Renders a shape",
      parameters: Schema.Struct({ shape: Schema.Literal("dot", "square") }),
      handler: ({ shape }) => {
        expectTypeOf(shape).toEqualTypeOf<"dot" | "square">()
        return tool.content([`a ${shape}:`, tool.image(pixel)])
      }
    })
    const slowAborted = signalled<string>()
    const thread = await client.threadStart({}, {
      tools: [
        { namespace: "drawing", description: "Drawing tools", tools: [render] },
        {
          name: "slow",
          description: "Never answers in time",
          parameters: Schema.Struct({}),
          timeout: "300 millis",
          handler: (_args, { signal }) =>
            new Promise<string>((_resolve, reject) => {
              signal.addEventListener("abort", () => {
                slowAborted.resolve("aborted")
                reject(new Error("aborted"))
              })
            })
        }
      ]
    })
    const result = await thread.run("Draw a dot, then be slow.")
    expect(result.finalResponse).toBe("Drawn; slow timed out.")
    expect(await slowAborted.promise).toBe("aborted")
    const rendered = JSON.parse((await awaitToolOutput("call-render")).output) as ReadonlyArray<Record<string, unknown>>
    expect(rendered).toEqual([{ type: "input_text", text: "a dot:" }, expect.objectContaining({ type: "input_image", image_url: pixel })])
    expect((await awaitToolOutput("call-slow")).output).toContain("slow timed out after 300ms")
    const [first] = await awaitRequests(1)
    expect(offeredTools(first!).find((t) => t.name === "drawing")).toMatchObject({ type: "namespace" })
    expect(result.toolCalls.map((c) => [c.namespace, c.tool, c.success])).toEqual([["drawing", "render", true], [undefined, "slow", false]])
  }, TIMEOUT)

  it("interrupting the turn aborts the handler's signal", async () => {
    const { client, enqueue } = await setup()
    await enqueue(FakeModel.toolCall("wait", {}, { callId: "call-wait" }), FakeModel.text("Back again."))
    const started = signalled()
    const aborted = signalled<boolean>()
    const thread = await client.threadStart({}, {
      tools: [{
        name: "wait",
        description: "Waits until it is cut short",
        parameters: { type: "object", properties: {} },
        handler: (_args, { signal }) =>
          new Promise<string>(() => {
            signal.addEventListener("abort", () => aborted.resolve(signal.aborted))
            started.resolve()
          })
      }]
    })
    const controller = new AbortController()
    const running = thread.run("Wait.", { signal: controller.signal })
    await started.promise
    controller.abort()
    await expect(running).rejects.toMatchObject({ name: "AbortError" })
    expect(await aborted.promise).toBe(true)
    // the thread goes on
    const next = await thread.run("Still there?")
    expect(next.finalResponse).toBe("Back again.")
    expect((await thread.read({ includeTurns: true })).turns.map((t) => t.status)).toEqual(["interrupted", "completed"])
  }, TIMEOUT)

  it("turn.interrupt() aborts the handler's signal", async () => {
    const { client, enqueue } = await setup()
    await enqueue(FakeModel.toolCall("wait", {}, { callId: "call-wait" }))
    const started = signalled()
    const aborted = signalled()
    const thread = await client.threadStart({}, {
      tools: [{
        name: "wait",
        description: "Waits until it is cut short",
        parameters: Schema.Struct({}),
        handler: (_args, { signal }) =>
          new Promise<string>(() => {
            signal.addEventListener("abort", () => aborted.resolve())
            started.resolve()
          })
      }]
    })
    const turn = thread.runStreamed("Wait.")
    await started.promise
    await turn.interrupt()
    await aborted.promise
    expect((await turn.result()).turn.status).toBe("interrupted")
  }, TIMEOUT)

  it("closing the client aborts the handler's signal", async () => {
    const { client, enqueue } = await setup()
    await enqueue(FakeModel.toolCall("wait", {}, { callId: "call-wait" }))
    const started = signalled()
    const aborted = signalled()
    const thread = await client.threadStart({}, {
      tools: [{
        name: "wait",
        description: "Waits until it is cut short",
        parameters: Schema.Struct({}),
        handler: (_args, { signal }) =>
          new Promise<string>(() => {
            signal.addEventListener("abort", () => aborted.resolve())
            started.resolve()
          })
      }]
    })
    const outcome = thread.run("Wait.").then(() => undefined, (error: unknown) => error)
    await started.promise
    await client.close()
    await aborted.promise
    expect(await outcome).toMatchObject({ name: "AbortError" })
  }, TIMEOUT)

  it("threadFork and threadResume serve the tools again (codex keeps those the thread started with)", async () => {
    const { client, enqueue, awaitToolOutput } = await setup()
    await enqueue(
      FakeModel.text("Started."),
      FakeModel.toolCall("whoami", {}, { callId: "call-fork" }),
      FakeModel.text("Fork done."),
      FakeModel.toolCall("whoami", {}, { callId: "call-resume" }),
      FakeModel.text("Resume done.")
    )
    const whoami = (who: string) => tool({ name: "whoami", description: "Says who serves it", parameters: Schema.Struct({}), handler: () => who })
    const parent = await client.threadStart({}, { tools: [whoami("parent")] })
    await parent.run("Start.")
    const fork = await client.threadFork(parent.id, {}, { tools: [whoami("fork")] })
    expect((await fork.run("Who?")).toolCalls).toMatchObject([{ callId: "call-fork", success: true }])
    expect((await awaitToolOutput("call-fork")).output).toContain("fork")
    await parent.close()
    const resumed = await client.threadResume(parent.id, {}, { tools: [whoami("resumed")] })
    expect((await resumed.run("Who?")).toolCalls).toMatchObject([{ callId: "call-resume", success: true }])
    expect((await awaitToolOutput("call-resume")).output).toContain("resumed")
  }, TIMEOUT)

  it("threadStart rejects a tool declared wrongly, and tools without experimentalApi", async () => {
    const { client } = await setup()
    await expect(client.threadStart({}, {
      tools: [{
        name: "bad",
        description: "Not an object",
        // @ts-expect-error: a JSON Schema must be of type "object"
        parameters: { type: "string" },
        handler: () => "never"
      }]
    })).rejects.toThrow(/parameters must be an Effect Schema or a JSON Schema with "type": "object"/)
    await expect(client.threadStart({}, {
      tools: [{ name: "not a name", description: "", parameters: Schema.Struct({}), handler: () => "" }]
    })).rejects.toBeInstanceOf(TypeError)
    const { client: plain } = await setup({ experimentalApi: false })
    await expect(plain.threadStart({}, {
      tools: [{ name: "ok", description: "", parameters: Schema.Struct({}), handler: () => "" }]
    })).rejects.toBeInstanceOf(ExperimentalApiRequiredError)
  }, TIMEOUT)

  it("thread.external: an ExternalMessage runs a turn whose model request carries the output as the tool's", async () => {
    const { fake, client, enqueue } = await setup()
    await enqueue(FakeModel.text("Noted: the build is green."))
    const thread = await client.threadStart()
    const result = await thread.external("build_monitor", "build finished: green", { namespace: "ci" })
    const [request] = await Effect.runPromise(fake.requests)
    expect(FakeModel.toolOutputs(request!)).toEqual([
      { type: "function_call_output", callId: undefined, name: "build_monitor", namespace: "ci", output: "build finished: green" }
    ])
    expect(result.finalResponse).toBe("Noted: the build is green.")
    expect(result.toolCalls).toEqual([])
  }, TIMEOUT)
})
