/**
 * Shared by every example: decides whether to talk to the real model or to a FakeModel, and
 * builds the `Codex` layer for it.
 *
 * - Real model when `OPENAI_API_KEY` is set (passed to codex as a `Redacted` apiKey), or when a
 *   Codex login exists (`$CODEX_HOME/auth.json`, else `~/.codex/auth.json`).
 * - Offline otherwise (or with `--offline`): a FakeModel on 127.0.0.1 with its own `CODEX_HOME`;
 *   each example scripts the replies it needs with `backend.script(...)` (a no-op with the real
 *   model, so one program serves both modes).
 *
 * Either way the agent works in a fresh temporary directory (`backend.workspace`), removed at the
 * end.
 *
 * The examples import `@effect/platform-node/NodeRuntime` rather than the
 * `@effect/platform-node` barrel, which also loads the HTTP server and undici (about 0.5 s of startup).
 */
import { Console, Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Approvals, Codex, type CodexConfig } from "@effect-codex/app-server"
import { FakeModel } from "@effect-codex/testing"

export interface Service {
  /** `"offline"`: FakeModel; `"real"`: the configured OpenAI model. */
  readonly mode: "offline" | "real"
  /** One line saying which mode runs and why. */
  readonly description: string
  /** The connection settings for `Codex.layer`. */
  readonly config: CodexConfig.CodexConfig
  /** The agent's working directory (a fresh temp dir). */
  readonly workspace: string
  /** The fake, offline; `undefined` with the real model. */
  readonly fake: FakeModel.FakeModel.Service | undefined
  /** Queues replies of the fake model; does nothing with the real model. */
  readonly script: (...replies: ReadonlyArray<FakeModel.Reply>) => Effect.Effect<void>
  /** What the fake model received so far (always empty with the real model). */
  readonly requests: Effect.Effect<ReadonlyArray<FakeModel.RecordedRequest>>
}

export class Backend extends Context.Tag("examples/Backend")<Backend, Service>() {}

export interface Options {
  /** Options of the FakeModel (offline only). */
  readonly fakeModel?: FakeModel.Options
  /** Extra connection settings (both modes). */
  readonly config?: CodexConfig.CodexConfig
}

export type Credentials =
  | { readonly _tag: "ApiKey"; readonly apiKey: Redacted.Redacted<string> }
  | { readonly _tag: "Login"; readonly path: string }
  | { readonly _tag: "None"; readonly reason: string }

/** Where the real model's credentials would come from, if there are any. */
export const detectCredentials = (
  argv: ReadonlyArray<string> = process.argv,
  env: Readonly<Record<string, string | undefined>> = process.env
): Credentials => {
  if (argv.includes("--offline")) return { _tag: "None", reason: "--offline" }
  const key = env.OPENAI_API_KEY?.trim()
  if (key !== undefined && key !== "") return { _tag: "ApiKey", apiKey: Redacted.make(key) }
  const codexHome = env.CODEX_HOME
  const home = codexHome !== undefined && codexHome !== ""
    ? codexHome
    : Path.join(env.HOME !== undefined && env.HOME !== "" ? env.HOME : Os.homedir(), ".codex")
  const auth = Path.join(home, "auth.json")
  if (Fs.existsSync(auth)) return { _tag: "Login", path: auth }
  return { _tag: "None", reason: `no OPENAI_API_KEY and no Codex login at ${auth}` }
}

const tempWorkspace = Effect.acquireRelease(
  Effect.sync(() => Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-codex-example-")))),
  (dir) => Effect.promise(() => Fs.promises.rm(dir, { recursive: true, force: true }))
)

/** Starts the backend: a FakeModel offline, just a workspace with the real model. */
export const make = (options: Options = {}): Effect.Effect<Service, FakeModel.FakeModelError, Scope.Scope> =>
  Effect.gen(function*() {
    const credentials = detectCredentials()
    if (credentials._tag === "None") {
      const fake = yield* FakeModel.make(options.fakeModel)
      return {
        mode: "offline",
        description: `offline — FakeModel on ${fake.baseUrl} (${credentials.reason})`,
        config: { ...options.config, ...fake.config },
        workspace: fake.workspace,
        fake,
        script: (...replies) => fake.enqueue(...replies),
        requests: fake.requests
      } satisfies Service
    }
    const workspace = yield* tempWorkspace
    return {
      mode: "real",
      description: credentials._tag === "ApiKey"
        ? "real model — OPENAI_API_KEY is set"
        : `real model — Codex login found at ${credentials.path}`,
      config: {
        ...options.config,
        cwd: workspace,
        ...(credentials._tag === "ApiKey" ? { apiKey: credentials.apiKey } : {})
      },
      workspace,
      fake: undefined,
      script: () => Effect.void,
      requests: Effect.succeed([])
    } satisfies Service
  })

/** The backend as a layer; prints its mode line when it starts. */
export const layer = (options: Options = {}): Layer.Layer<Backend, FakeModel.FakeModelError> =>
  Layer.scoped(Backend, Effect.tap(make(options), (backend) => Console.log(`mode: ${backend.description}`)))

/**
 * `Codex` (codex app-server over stdio) for the backend, plus the `Backend` itself. Approvals: the
 * given layer, else the SDK's fail-closed default.
 */
export const layerCodex = (
  options: Options & { readonly approvals?: Layer.Layer<Approvals.Approvals> } = {}
): Layer.Layer<Backend | Codex.Codex, Codex.StartError | FakeModel.FakeModelError> =>
  Layer.unwrapEffect(Effect.map(Backend, (backend) => Codex.layer(backend.config))).pipe(
    Layer.provide(options.approvals ?? Approvals.declineAll),
    Layer.provideMerge(layer(options))
  )

/** The backend for plain async code (the Promise facade examples). */
export interface PromiseBackend extends AsyncDisposable {
  readonly mode: Service["mode"]
  readonly description: string
  readonly config: CodexConfig.CodexConfig
  readonly workspace: string
  /** Queues replies of the fake model; does nothing with the real model. */
  readonly script: (...replies: ReadonlyArray<FakeModel.Reply>) => Promise<void>
  /** What the fake model received so far (always empty with the real model). */
  readonly requests: () => Promise<ReadonlyArray<FakeModel.RecordedRequest>>
  /** Stops the fake model and removes the workspace. */
  readonly close: () => Promise<void>
}

/** Starts the backend from plain async code and prints its mode line; `close()` (or `await using`) ends it. */
export const open = async (options: Options = {}): Promise<PromiseBackend> => {
  const scope = await Effect.runPromise(Scope.make())
  const close = () => Effect.runPromise(Scope.close(scope, Exit.void))
  try {
    const backend = await Effect.runPromise(Scope.extend(make(options), scope))
    console.log(`mode: ${backend.description}`)
    return {
      mode: backend.mode,
      description: backend.description,
      config: backend.config,
      workspace: backend.workspace,
      script: (...replies) => Effect.runPromise(backend.script(...replies)),
      requests: () => Effect.runPromise(backend.requests),
      close,
      [Symbol.asyncDispose]: close
    }
  } catch (error) {
    await close()
    throw error
  }
}
