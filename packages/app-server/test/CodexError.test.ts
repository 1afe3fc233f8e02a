import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as CodexError from "../src/CodexError.js"

describe("CodexError", () => {
  describe("fromJsonRpcError", () => {
    const cases = [
      [-32700, CodexError.ParseError, "JsonRpcParseError"],
      [-32600, CodexError.InvalidRequestError, "InvalidRequestError"],
      [-32601, CodexError.MethodNotFoundError, "MethodNotFoundError"],
      [-32602, CodexError.InvalidParamsError, "InvalidParamsError"],
      [-32603, CodexError.InternalRpcError, "InternalRpcError"],
      [-32001, CodexError.ServerBusyError, "ServerBusyError"]
    ] as const

    for (const [code, Class, tag] of cases) {
      it(`maps ${code} to ${Class.name}`, () => {
        const error = CodexError.fromJsonRpcError({ code, message: `message ${code}` }, "thread/start")
        assert.isTrue(error instanceof Class, `${error._tag} is a ${Class.name}`)
        assert.strictEqual(error._tag, tag)
        assert.strictEqual(error.code, code)
        assert.strictEqual(error.message, `message ${code}`)
        assert.strictEqual(error.method, "thread/start")
        assert.isFalse("data" in error)
        assert.isTrue(CodexError.isJsonRpcError(error))
        assert.isTrue(CodexError.isCodexError(error))
      })
    }

    it("keeps data and uses RpcError for other codes", () => {
      const error = CodexError.fromJsonRpcError(
        { code: -32099, message: "Server is draining", data: { reason: "serverShuttingDown" } },
        "turn/start"
      )
      assert.instanceOf(error, CodexError.RpcError)
      assert.strictEqual(error._tag, "RpcError")
      assert.strictEqual(error.code, -32099)
      assert.strictEqual(error.message, "Server is draining")
      assert.deepStrictEqual(error.data, { reason: "serverShuttingDown" })
      assert.strictEqual(error.method, "turn/start")
    })

    it("keeps the verbatim -32600 message of codex 0.169.0", () => {
      const error = CodexError.fromJsonRpcError(
        { code: -32600, message: "Invalid request: missing field `threadId`" },
        "turn/start"
      )
      assert.strictEqual(error._tag, "InvalidRequestError")
      assert.strictEqual(error.message, "Invalid request: missing field `threadId`")
    })

    it.effect("the errors fail an Effect and can be caught by tag", () =>
      Effect.gen(function*() {
        const tag = yield* Effect.fail(CodexError.fromJsonRpcError({ code: -32001, message: "busy" }, "model/list"))
          .pipe(
            Effect.catchTag("ServerBusyError", (e) => Effect.succeed(`${e._tag}:${e.method}`)),
            Effect.catchAll((e) => Effect.succeed(`other:${e._tag}`))
          )
        assert.strictEqual(tag, "ServerBusyError:model/list")
      }))
  })

  describe("messages", () => {
    it("are readable", () => {
      assert.strictEqual(
        new CodexError.RequestTimeoutError({ method: "thread/start", timeout: Duration.seconds(2) }).message,
        "Request \"thread/start\" got no response within 2s"
      )
      assert.strictEqual(
        new CodexError.ProcessExitedError({ exitCode: null, signal: "SIGKILL", stderrTail: ["a", "b"] }).message,
        "codex app-server was killed by SIGKILL; last stderr lines:\na\nb"
      )
      assert.strictEqual(
        new CodexError.ProcessExitedError({ exitCode: 1, signal: null, stderrTail: [] }).message,
        "codex app-server exited with code 1"
      )
      assert.strictEqual(
        new CodexError.LineTooLongError({ bytes: 100, limit: 10 }).message,
        "Dropped an incoming line of 100 bytes (limit 10 bytes)"
      )
      const notFound = new CodexError.CodexBinaryNotFoundError({ searched: ["/x/codex"], hint: "Install it." })
      assert.include(notFound.message, "/x/codex")
      assert.include(notFound.message, "Install it.")
      assert.include(new CodexError.TransportClosedError({ reason: "gone" }).message, "gone")
      assert.include(new CodexError.TurnBusyError({ threadId: "t1" }).message, "t1")
      assert.include(new CodexError.ExperimentalApiRequiredError({ method: "x/y" }).message, "experimentalApi")
      assert.include(new CodexError.VersionMismatchError({ expected: "1", actual: "2" }).message, "2")
      assert.include(
        new CodexError.ProtocolDecodeError({ line: CodexError.excerpt("{oops".repeat(100), 20), reason: "not JSON" })
          .message,
        "not JSON"
      )
      assert.include(new CodexError.StructuredOutputError({ raw: "{}", cause: new Error("missing answer") }).message, "missing answer")
    })

    it("excerpt shortens long lines", () => {
      assert.strictEqual(CodexError.excerpt("short"), "short")
      assert.strictEqual(CodexError.excerpt("abcdefghij", 4), "abcd… (10 chars)")
    })
  })

  it("isCodexError recognises only SDK errors", () => {
    assert.isTrue(CodexError.isCodexError(new CodexError.TurnBusyError({ threadId: "t" })))
    assert.isTrue(CodexError.isCodexError(new CodexError.LineTooLongError({ bytes: 2, limit: 1 })))
    assert.isFalse(CodexError.isCodexError(new Error("x")))
    assert.isFalse(CodexError.isCodexError({ _tag: "TurnBusyError", threadId: "t" }))
    assert.isFalse(CodexError.isJsonRpcError(new CodexError.TurnBusyError({ threadId: "t" })))
  })

  describe("classifyCodexErrorInfo", () => {
    it("classifies the string variants", () => {
      assert.deepStrictEqual(CodexError.classifyCodexErrorInfo("contextWindowExceeded"), {
        kind: "contextWindowExceeded",
        retryable: false
      })
      assert.deepStrictEqual(CodexError.classifyCodexErrorInfo("usageLimitExceeded"), {
        kind: "usageLimitExceeded",
        retryable: false
      })
      assert.deepStrictEqual(CodexError.classifyCodexErrorInfo("serverOverloaded"), {
        kind: "serverOverloaded",
        retryable: true
      })
      assert.deepStrictEqual(CodexError.classifyCodexErrorInfo("internalServerError"), {
        kind: "internalServerError",
        retryable: true
      })
      assert.deepStrictEqual(CodexError.classifyCodexErrorInfo("other"), { kind: "other", retryable: false })
      assert.deepStrictEqual(CodexError.classifyCodexErrorInfo("somethingNew"), { kind: "somethingNew", retryable: false })
    })

    it("classifies the object variants by their HTTP status", () => {
      assert.deepStrictEqual(
        CodexError.classifyCodexErrorInfo({ responseTooManyFailedAttempts: { httpStatusCode: 429 } }),
        { kind: "responseTooManyFailedAttempts", httpStatusCode: 429, retryable: true }
      )
      assert.deepStrictEqual(
        CodexError.classifyCodexErrorInfo({ httpConnectionFailed: { httpStatusCode: 401 } }),
        { kind: "httpConnectionFailed", httpStatusCode: 401, retryable: false }
      )
      assert.deepStrictEqual(
        CodexError.classifyCodexErrorInfo({ httpConnectionFailed: { httpStatusCode: 503 } }),
        { kind: "httpConnectionFailed", httpStatusCode: 503, retryable: true }
      )
      assert.deepStrictEqual(
        CodexError.classifyCodexErrorInfo({ responseStreamDisconnected: { httpStatusCode: null } }),
        { kind: "responseStreamDisconnected", retryable: true }
      )
      assert.deepStrictEqual(
        CodexError.classifyCodexErrorInfo({ activeTurnNotSteerable: { turnKind: "review" } }),
        { kind: "activeTurnNotSteerable", retryable: false }
      )
    })

    it("classifies absent or malformed values as unknown", () => {
      for (const value of [null, undefined, 42, {}, { a: 1, b: 2 }, []]) {
        assert.deepStrictEqual(CodexError.classifyCodexErrorInfo(value), { kind: "unknown", retryable: false })
      }
    })

    it("is available on TurnFailedError", () => {
      const error = new CodexError.TurnFailedError({
        turnId: "u",
        message: "exceeded retry limit, last status: 429 Too Many Requests",
        codexErrorInfo: { responseTooManyFailedAttempts: { httpStatusCode: 429 } }
      })
      assert.strictEqual(error.message, "exceeded retry limit, last status: 429 Too Many Requests")
      assert.deepStrictEqual(error.info, {
        kind: "responseTooManyFailedAttempts",
        httpStatusCode: 429,
        retryable: true
      })
    })
  })
})
