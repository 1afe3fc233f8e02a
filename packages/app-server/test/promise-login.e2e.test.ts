import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import {
  ApprovalMode,
  CodexClient,
  InternalRpcError,
  InvalidRequestError,
  LoginCancelledError,
  LoginFailedError,
  Sandbox
} from "@effect-codex/app-server/promise"

// Login and account through the Promise facade, on the real binary in a fresh CODEX_HOME. What
// needs the network goes to a loopback proxy that refuses it (HTTPS_PROXY), so nothing leaves
// 127.0.0.1. Every wait is for an event; the timeouts are guards.

const TIMEOUT = 60_000

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const refusingProxy = async () => {
  const hosts: Array<string> = []
  const server = Http.createServer((_, res) => res.writeHead(502).end())
  server.on("connect", (req, socket) => {
    hosts.push(req.url ?? "")
    socket.end("HTTP/1.1 502 Bad Gateway\r\n\r\n")
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, hosts }
}

const start = async () => {
  const home = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-promise-login-")))
  cleanups.push(() => Fs.rmSync(home, { recursive: true, force: true }))
  const proxy = await refusingProxy()
  const client = await CodexClient.start({ codexHome: home, cwd: home, env: { HTTPS_PROXY: proxy.url, NO_PROXY: "127.0.0.1,localhost" } })
  cleanups.push(() => client.close())
  return { client, home, proxy }
}

describe("Promise facade: login and account (real binary)", () => {
  it("login.apiKey (a string), account(), rateLimits() rejects typed, logout()", async () => {
    const { client, home } = await start()
    expect((await client.account()).account ?? null).toBeNull()
    await client.login.apiKey("sk-effect-codex-promise-e2e")
    expect((await client.account()).account).toEqual({ type: "apiKey" })
    expect((await client.account({ refreshToken: true })).account).toEqual({ type: "apiKey" })
    await expect(client.rateLimits()).rejects.toBeInstanceOf(InvalidRequestError)
    await client.logout()
    expect((await client.account()).account ?? null).toBeNull()
    expect(Fs.existsSync(Path.join(home, "auth.json"))).toBe(false)
  }, TIMEOUT)

  it("login.chatgpt(): authUrl, wait() rejects with LoginFailedError on the browser's error, LoginCancelledError after cancel()", async () => {
    const { client } = await start()
    const first = await client.login.chatgpt()
    const auth = new URL(first.authUrl)
    const redirect = new URL(auth.searchParams.get("redirect_uri") ?? "")
    expect(redirect.hostname).toBe("127.0.0.1")
    const query = new URLSearchParams({ error: "access_denied", error_description: "nope", state: auth.searchParams.get("state") ?? "" })
    await fetch(`${redirect.origin}${redirect.pathname}?${query}`)
    const failed = await first.wait().catch((error: unknown) => error)
    expect(failed).toBeInstanceOf(LoginFailedError)
    expect((failed as LoginFailedError).reason).toBe("Login server error: Sign-in failed: nope")

    const second = await client.login.chatgpt({ timeoutMs: 30_000 })
    expect(await second.cancel()).toBe("canceled")
    await expect(second.wait()).rejects.toBeInstanceOf(LoginCancelledError)
    await expect(second.wait()).rejects.toBeInstanceOf(LoginCancelledError)
  }, TIMEOUT)

  it("an attempt still open when the client closes is cancelled: wait() rejects with LoginCancelledError", async () => {
    const { client } = await start()
    const open = await client.login.chatgpt()
    const waiting = open.wait().catch((error: unknown) => error)
    await client.close()
    expect(await waiting).toBeInstanceOf(LoginCancelledError)
  }, TIMEOUT)

  it("login.deviceCode() offline rejects at once with the server's error, having asked for auth.openai.com", async () => {
    const { client, proxy } = await start()
    const error = await client.login.deviceCode().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InternalRpcError)
    expect((error as InternalRpcError).message).toMatch(/failed to request device code/)
    expect(proxy.hosts).toContain("auth.openai.com:443")
  }, TIMEOUT)

  it("the presets come with the facade: threadStart turns a Sandbox preset into the wire's mode (the server rejects an object there)", async () => {
    const { client } = await start()
    const thread = await client.threadStart({ ...ApprovalMode.autoReview, sandbox: Sandbox.workspaceWrite({ networkAccess: true }) })
    expect((await client.threadRead(thread.id)).id).toBe(thread.id)
    await expect(client.request("thread/start", { sandbox: "bogus" })).rejects.toBeInstanceOf(InvalidRequestError)
  }, TIMEOUT)
})
