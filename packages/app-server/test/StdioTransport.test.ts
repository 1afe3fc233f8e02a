import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as CodexBinary from "../src/CodexBinary.js"
import type { CodexConfig } from "../src/CodexConfig.js"
import * as CodexError from "../src/CodexError.js"
import * as StdioTransport from "../src/StdioTransport.js"
import * as Transport from "../src/Transport.js"

const tempRoot = Fs.mkdtempSync(Path.join(Os.tmpdir(), "stdio-transport-test-"))
afterAll(() => Fs.rmSync(tempRoot, { recursive: true, force: true }))
let counter = 0
const freshDir = (name: string): string => {
  const dir = Path.join(tempRoot, `${name}-${counter++}`)
  Fs.mkdirSync(dir, { recursive: true })
  return dir
}

/** A fake `codex` made of a shell script (for behaviour the real binary will not show on demand). */
const script = (name: string, body: string): string => {
  const file = Path.join(freshDir("bin"), name)
  Fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 })
  return file
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    assert.strictEqual((error as NodeJS.ErrnoException).code, "ESRCH")
    return false
  }
}

/** Starts a transport in a scope the test closes itself. */
const start = (config: CodexConfig) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const transport = yield* StdioTransport.make(config).pipe(Scope.extend(scope))
    return { scope, transport }
  })

const initialize = JSON.stringify({
  id: 1,
  method: "initialize",
  params: { clientInfo: { name: "test", version: "0.0.0" } }
})

const firstLine = (transport: Transport.Service) =>
  transport.incoming.pipe(Stream.take(1), Stream.runCollect, Effect.map(Chunk.unsafeHead), Effect.timeout("30 seconds"))

describe("StdioTransport", () => {
  describe("with the real codex binary", () => {
    it.live("answers initialize over stdin/stdout", () =>
      Effect.gen(function*() {
        const { scope, transport } = yield* start({ codexHome: freshDir("home") })
        assert.strictEqual(transport.binary.source, "package")
        yield* transport.send(initialize)
        const response = JSON.parse(yield* firstLine(transport))
        assert.strictEqual(response.id, 1)
        assert.match(response.result.userAgent, new RegExp(`^test/${CodexBinary.CODEX_VERSION.replace(/\./g, "\\.")} `))
        yield* Scope.close(scope, Exit.void)
      }))

    it.live("SIGKILL fails incoming, closed and send with ProcessExitedError carrying the signal", () =>
      Effect.gen(function*() {
        const { scope, transport } = yield* start({ codexHome: freshDir("home") })
        yield* transport.send(initialize)
        yield* firstLine(transport)
        const drain = yield* Effect.fork(Stream.runDrain(transport.incoming))
        process.kill(transport.pid, "SIGKILL")

        const error = yield* Fiber.join(drain).pipe(Effect.flip, Effect.timeout("30 seconds"))
        assert.instanceOf(error, CodexError.ProcessExitedError)
        assert.strictEqual(error._tag, "ProcessExitedError")
        if (error._tag !== "ProcessExitedError") return
        assert.strictEqual(error.signal, "SIGKILL")
        assert.strictEqual(error.exitCode, null)
        // the harmless startup warning of a CODEX_HOME under the temp dir is in the tail
        assert.isTrue(error.stderrTail.some((line) => line.includes("WARNING")), error.stderrTail.join("\n"))

        assert.strictEqual(yield* transport.closed, error)
        const sendError = yield* transport.send(initialize).pipe(Effect.flip)
        assert.strictEqual(sendError, error)
        assert.isFalse(isAlive(transport.pid))
        yield* Scope.close(scope, Exit.void)
      }))

    it.live("closing the scope closes stdin, the process exits and incoming ends", () =>
      Effect.gen(function*() {
        const { scope, transport } = yield* start({ codexHome: freshDir("home") })
        yield* transport.send(initialize)
        yield* firstLine(transport)
        const drain = yield* Effect.fork(Stream.runDrain(transport.incoming))
        assert.isTrue(isAlive(transport.pid))
        const started = Date.now()
        yield* Scope.close(scope, Exit.void)
        // stdin EOF is enough: no need to wait for the 2 s step of the ladder
        assert.isBelow(Date.now() - started, 1500)
        assert.isFalse(isAlive(transport.pid))
        assert.deepStrictEqual(yield* Fiber.await(drain), Exit.void)
        const closed = yield* transport.closed
        assert.strictEqual(closed._tag, "TransportClosedError")
        assert.strictEqual((yield* transport.send(initialize).pipe(Effect.flip))._tag, "TransportClosedError")
      }))

    it.live("provides Transport and StdioTransport through the layer", () =>
      Effect.gen(function*() {
        const transport = yield* Transport.Transport
        const stdio = yield* StdioTransport.StdioTransport
        assert.strictEqual(transport, stdio)
        yield* transport.send(initialize)
        assert.strictEqual(JSON.parse(yield* firstLine(transport)).id, 1)
      }).pipe(Effect.provide(StdioTransport.layer({ codexHome: freshDir("home") }))))
  })

  describe("binary resolution", () => {
    it.live("a bogus codexBin gives CodexBinaryNotFoundError", () =>
      Effect.gen(function*() {
        const bogus = Path.join(tempRoot, "no-such-dir", "codex")
        const error = yield* StdioTransport.make({ codexBin: bogus }).pipe(Effect.scoped, Effect.flip)
        assert.strictEqual(error._tag, "CodexBinaryNotFoundError")
        if (error._tag !== "CodexBinaryNotFoundError") return
        assert.deepStrictEqual(error.searched, [bogus])
        assert.include(error.message, "codexBin")
      }))

    it.live("a codexBin that is not executable is refused", () =>
      Effect.gen(function*() {
        const file = Path.join(freshDir("bin"), "codex")
        Fs.writeFileSync(file, "not a program", { mode: 0o644 })
        const error = yield* CodexBinary.resolve({ codexBin: file }).pipe(Effect.flip)
        assert.deepStrictEqual(error.searched, [file])
      }))

    it.live("resolves the pinned native binary, not the node wrapper", () =>
      Effect.gen(function*() {
        const resolved = yield* CodexBinary.resolve()
        const target = CodexBinary.targetFor(process.platform, process.arch)
        assert.isDefined(target)
        assert.strictEqual(resolved.source, "package")
        assert.isTrue(resolved.path.endsWith(Path.join("vendor", target.triple, "bin", target.executable)))
        assert.notInclude(resolved.path, "codex.js")
      }))

    it("maps the six platforms like @openai/codex/bin/codex.js", () => {
      assert.deepStrictEqual(
        [
          ["linux", "x64"],
          ["linux", "arm64"],
          ["android", "arm64"],
          ["darwin", "x64"],
          ["darwin", "arm64"],
          ["win32", "x64"],
          ["win32", "arm64"],
          ["freebsd", "x64"]
        ].map(([p, a]) => CodexBinary.targetFor(p, a)?.packageName),
        [
          "@openai/codex-linux-x64",
          "@openai/codex-linux-arm64",
          "@openai/codex-linux-arm64",
          "@openai/codex-darwin-x64",
          "@openai/codex-darwin-arm64",
          "@openai/codex-win32-x64",
          "@openai/codex-win32-arm64",
          undefined
        ]
      )
      assert.strictEqual(CodexBinary.targetFor("win32", "x64")?.executable, "codex.exe")
      assert.strictEqual(CodexBinary.targetFor("linux", "x64")?.triple, "x86_64-unknown-linux-musl")
    })
  })

  describe("with a scripted process", () => {
    it.live("passes arguments, config overrides, environment and cwd", () =>
      Effect.gen(function*() {
        const bin = script(
          "codex",
          `for a in "$@"; do echo "arg:$a"; done
echo "home:$CODEX_HOME"; echo "key:$OPENAI_API_KEY"; echo "extra:$EXTRA"; echo "path-set:\${PATH:+yes}"; echo "cwd:$(pwd)"
cat >/dev/null`
        )
        const cwd = freshDir("cwd")
        const { scope, transport } = yield* start({
          codexBin: bin,
          codexHome: "/some/home",
          apiKey: Redacted.make("sk-test"),
          env: { EXTRA: "x y" },
          cwd,
          configOverrides: { model: "\"mock-model\"", "model_providers.mock.name": "\"mock\"" }
        })
        const lines = yield* transport.incoming.pipe(Stream.take(12), Stream.runCollect, Effect.timeout("30 seconds"))
        assert.deepStrictEqual(Chunk.toReadonlyArray(lines), [
          "arg:app-server",
          "arg:--listen",
          "arg:stdio://",
          "arg:-c",
          "arg:model=\"mock-model\"",
          "arg:-c",
          "arg:model_providers.mock.name=\"mock\"",
          "home:/some/home",
          "key:sk-test",
          "extra:x y",
          "path-set:yes",
          `cwd:${Fs.realpathSync(cwd)}`
        ])
        yield* Scope.close(scope, Exit.void)
      }))

    it.live("an exit captures the exit code and the stderr tail, after the last stdout lines", () =>
      Effect.gen(function*() {
        const bin = script(
          "codex",
          `i=1; while [ $i -le 300 ]; do echo "\u001b[31mERROR\u001b[0m stderr line $i" >&2; i=$((i+1)); done
read line; echo "got:$line"; echo "bye"; exit 3`
        )
        const { scope, transport } = yield* start({ codexBin: bin, stderrTailLines: 5 })
        yield* transport.send("hello")
        const lines: Array<string> = []
        const error = yield* transport.incoming.pipe(
          Stream.runForEach((line) => Effect.sync(() => lines.push(line))),
          Effect.flip,
          Effect.timeout("30 seconds")
        )
        assert.deepStrictEqual(lines, ["got:hello", "bye"])
        assert.strictEqual(error._tag, "ProcessExitedError")
        if (error._tag !== "ProcessExitedError") return
        assert.strictEqual(error.exitCode, 3)
        assert.strictEqual(error.signal, null)
        assert.deepStrictEqual(error.stderrTail, [296, 297, 298, 299, 300].map((i) => `ERROR stderr line ${i}`))
        assert.deepStrictEqual(yield* transport.stderrTail, error.stderrTail)
        assert.strictEqual((yield* transport.send("again").pipe(Effect.flip))._tag, "ProcessExitedError")
        yield* Scope.close(scope, Exit.void)
      }))

    it.live("a chatty stderr never blocks the process, and is available as a stream", () =>
      Effect.gen(function*() {
        // ~20 MB of stderr before the answer: far beyond any pipe buffer
        const bin = script(
          "codex",
          `read line
yes "a rather long line of diagnostic output that nobody reads, repeated many many times" | head -n 250000 >&2
echo "done:$line"; cat >/dev/null`
        )
        const { scope, transport } = yield* start({ codexBin: bin })
        const seen = yield* transport.stderr.pipe(Stream.take(3), Stream.runCollect, Effect.fork)
        yield* transport.send("go")
        assert.strictEqual(yield* firstLine(transport), "done:go")
        const first = yield* Fiber.join(seen).pipe(Effect.timeout("30 seconds"))
        assert.strictEqual(first.length, 3)
        assert.isTrue(Chunk.every(first, (line) => line.startsWith("a rather long line")))
        assert.strictEqual((yield* transport.stderrTail).length, 200)
        yield* Scope.close(scope, Exit.void)
      }))

    it.live("an over-long stdout line is dropped, reported on diagnostics, and the next line arrives", () =>
      Effect.gen(function*() {
        const bin = script(
          "codex",
          `read line; head -c 5000 /dev/zero | tr '\\0' 'x'; echo; echo "after"; cat >/dev/null`
        )
        const { scope, transport } = yield* start({ codexBin: bin, maxLineBytes: 1000 })
        const diagnostics = yield* transport.diagnostics.pipe(Stream.take(1), Stream.runCollect, Effect.fork)
        yield* Effect.yieldNow()
        yield* transport.send("go")
        assert.strictEqual(yield* firstLine(transport), "after")
        const reported = yield* Fiber.join(diagnostics).pipe(Effect.timeout("30 seconds"))
        assert.deepStrictEqual(Chunk.toReadonlyArray(reported), [
          new CodexError.LineTooLongError({ bytes: 5000, limit: 1000 })
        ])
        yield* Scope.close(scope, Exit.void)
      }))

    it.live("release escalates to SIGTERM and SIGKILL when stdin EOF is ignored, and stays bounded", () =>
      Effect.gen(function*() {
        // ignores stdin EOF and SIGTERM; only SIGKILL ends it
        const bin = script("codex", `trap '' TERM; echo ready; while :; do sleep 0.05; done`)
        const { scope, transport } = yield* start({ codexBin: bin, shutdownTimeout: "300 millis" })
        assert.strictEqual(yield* firstLine(transport), "ready")
        const started = Date.now()
        yield* Scope.close(scope, Exit.void)
        const elapsed = Date.now() - started
        assert.isFalse(isAlive(transport.pid))
        // stdin wait (300 ms) + SIGTERM wait (300 ms) + SIGKILL: well under the sum of generous bounds
        assert.isAtLeast(elapsed, 550)
        assert.isBelow(elapsed, 5000)
        const closed = yield* transport.closed
        assert.strictEqual(closed._tag, "TransportClosedError")
      }))

    it.live("stdout EOF with the process still running fails incoming once the process is gone", () =>
      Effect.gen(function*() {
        const bin = script("codex", `echo one; exec 1>&-; sleep 0.2; exit 7`)
        const { scope, transport } = yield* start({ codexBin: bin })
        const result = yield* transport.incoming.pipe(Stream.runCollect, Effect.either, Effect.timeout("30 seconds"))
        assert.isTrue(result._tag === "Left")
        if (result._tag !== "Left") return
        assert.strictEqual(result.left._tag, "ProcessExitedError")
        if (result.left._tag !== "ProcessExitedError") return
        assert.strictEqual(result.left.exitCode, 7)
        yield* Scope.close(scope, Exit.void)
      }))
  })
})
