/**
 * Logging the server in (`account/login/start`): with an API key (done when the server answers),
 * or with ChatGPT, in a browser or with a device code, as a live attempt: a handle whose `wait`
 * completes on the server's `account/login/completed` for that login id and whose `cancel` stops
 * it (`account/login/cancel`).
 *
 * The completion is subscribed to before the request is sent, so a completion that arrives before
 * `wait` is called is kept. `wait` never waits forever: each attempt has a deadline (default
 * 10 minutes, `timeout`), after which it fails with `LoginTimeoutError` and the attempt is
 * cancelled on the server. An attempt belongs to the scope it was started in: closing the scope
 * of an attempt that did not complete cancels it on the server (the ChatGPT flow holds a local
 * callback server on 127.0.0.1 until then).
 *
 * Codex 0.171.0: the ChatGPT flow listens on 127.0.0.1:1455 (1457 when 1455 is taken) for the
 * browser's redirect; the device-code flow asks `auth.openai.com` for a code before it answers,
 * and answers with an error (-32603) when that cannot be reached.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Protocol from "@effect-codex/protocol/generated/Schemas"
import type * as Registry from "@effect-codex/protocol/Registry"
import { LoginCancelledError, LoginFailedError, LoginTimeoutError, TransportClosedError } from "./CodexError.js"
import type { Notification, RequestError, RpcConnection } from "./RpcConnection.js"
import type { TransportError } from "./Transport.js"

/**
 * How long a login attempt may take before `wait` fails with `LoginTimeoutError`: 10 minutes.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTimeout: Duration.Duration = Duration.minutes(10)

/**
 * Options of an interactive login attempt.
 *
 * @since 0.1.0
 * @category models
 */
export interface AttemptOptions {
  /** Deadline of the attempt, from its start. Default {@link defaultTimeout} (10 minutes). */
  readonly timeout?: Duration.DurationInput
}

/**
 * Options of the browser flow: the deadline and the protocol's own fields of the `chatgpt` login.
 *
 * @since 0.1.0
 * @category models
 */
export type ChatgptOptions = AttemptOptions & Omit<Extract<Protocol.LoginAccountParams, { readonly type: "chatgpt" }>, "type">

/**
 * The server's `account/login/completed` of a successful attempt.
 *
 * @since 0.1.0
 * @category models
 */
export type Completed = Protocol.AccountLoginCompletedNotification

/**
 * Why `wait` failed: the server said the login failed, the attempt was cancelled, its deadline
 * passed, or the connection went away.
 *
 * @since 0.1.0
 * @category errors
 */
export type WaitError = LoginFailedError | LoginCancelledError | LoginTimeoutError | TransportError

/**
 * Why a login could not be started: the request failed, or the server answered with another
 * kind of login than the one asked for.
 *
 * @since 0.1.0
 * @category errors
 */
export type StartError = RequestError | LoginFailedError

/**
 * What the handles of both interactive flows have.
 *
 * @since 0.1.0
 * @category models
 */
export interface Attempt {
  /** The server's id of this attempt. */
  readonly loginId: string
  /**
   * Waits for the attempt to complete (the user signed in). Fails with `LoginFailedError` (the
   * server's message), `LoginCancelledError` after `cancel` or the close of its scope, or
   * `LoginTimeoutError` once the deadline passed. Can be called any number of times.
   */
  readonly wait: Effect.Effect<Completed, WaitError>
  /**
   * Cancels the attempt on the server (`account/login/cancel`); `wait` then fails with
   * `LoginCancelledError`. Returns the server's status: `canceled`, or `notFound` when the
   * attempt had already ended (and `wait` keeps its outcome).
   */
  readonly cancel: Effect.Effect<Protocol.CancelLoginAccountStatus, RequestError>
}

/**
 * A ChatGPT login in a browser: open `authUrl`, then `wait`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoginHandle extends Attempt {
  /** The URL to open in a browser; it redirects to the server's callback on 127.0.0.1. */
  readonly authUrl: string
}

/**
 * A ChatGPT login with a device code, for a host without a browser: show `verificationUrl` and
 * `userCode` to the user, then `wait`.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeviceCodeHandle extends Attempt {
  /** The URL where the user signs in, on any device. */
  readonly verificationUrl: string
  /** The one-time code the user enters there. */
  readonly userCode: string
}

/**
 * The login flows of one connection (`codex.login`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Login {
  /**
   * Logs in with an OpenAI API key (the server stores it in `CODEX_HOME`). The key is only ever
   * revealed into the request; it is not logged.
   */
  readonly apiKey: (apiKey: Redacted.Redacted<string>) => Effect.Effect<void, StartError>
  /** Starts a ChatGPT login in a browser. */
  readonly chatgpt: (options?: ChatgptOptions) => Effect.Effect<LoginHandle, StartError, Scope.Scope>
  /** Starts a ChatGPT login with a device code. */
  readonly deviceCode: (options?: AttemptOptions) => Effect.Effect<DeviceCodeHandle, StartError, Scope.Scope>
}

type StartResponse = Registry.ClientRequestResult<"account/login/start">

/** How long closing a scope waits for the server to confirm the cancel of an unfinished attempt. */
const cancelOnCloseTimeout = Duration.seconds(5)

const isCompletionOf = (loginId: string) => (n: Notification): n is Extract<Notification, { readonly method: "account/login/completed" }> =>
  n.method === "account/login/completed" && (n.params as Completed).loginId === loginId

/**
 * The login flows over a connection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (connection: RpcConnection.Service): Login => {
  const unexpected = (asked: string, response: StartResponse) =>
    new LoginFailedError({
      loginId: "loginId" in response ? response.loginId : null,
      reason: `asked for a ${asked} login, the server answered with type ${response.type}`
    })

  /**
   * Subscribes, sends `account/login/start`, then watches for the attempt's completion in the
   * scope. `pick` checks the kind of the answer.
   */
  const attempt = <R extends StartResponse & { readonly loginId: string }>(
    params: Protocol.LoginAccountParams,
    options: AttemptOptions | undefined,
    pick: (response: StartResponse) => R | undefined
  ): Effect.Effect<{ readonly response: R; readonly attempt: Attempt }, StartError, Scope.Scope> =>
    Effect.gen(function*() {
      const timeout = Duration.decode(options?.timeout ?? defaultTimeout)
      // the subscription has a scope of its own, closed as soon as the completion was seen
      const watching = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
      const stopWatching = Scope.close(watching, Exit.void)
      const events = yield* Scope.extend(connection.subscribe, watching)
      // Once the request is sent the attempt may exist on the server: the rest runs
      // uninterruptibly (the request has its deadline), so that the finalizer that cancels an
      // unfinished attempt is in place before an interruption can take effect.
      return yield* Effect.uninterruptible(Effect.gen(function*() {
        const answer: StartResponse = yield* Effect.onError(connection.request("account/login/start", params), () => stopWatching)
        const response = pick(answer)
        if (response === undefined) return yield* Effect.zipRight(stopWatching, Effect.fail(unexpected(params.type, answer)))
        const { loginId } = response
        yield* Effect.logDebug(`codex: login ${loginId} started (${params.type})`)
        const outcome = yield* Deferred.make<Completed, WaitError>()
        let cancelling = false

        const sendCancel = Effect.map(connection.request("account/login/cancel", { loginId }), (r) => r.status)
        const cancel = Effect.suspend(() => {
          cancelling = true
          return Effect.tap(sendCancel, (status) =>
            status === "canceled" ? Deferred.fail(outcome, new LoginCancelledError({ loginId })) : Effect.void)
        })

        // the completion of this attempt (the subscription holds what came before this point)
        yield* events.pipe(
          Stream.filter(isCompletionOf(loginId)),
          Stream.runHead,
          Effect.flatMap((found): Effect.Effect<Completed, WaitError> => {
            if (found._tag === "None") return Effect.fail(new TransportClosedError({ reason: "the notifications ended" }))
            const completed = found.value.params
            if (completed.success) return Effect.succeed(completed)
            return Effect.fail(
              cancelling ? new LoginCancelledError({ loginId }) : new LoginFailedError({ loginId, reason: completed.error ?? "the server did not say why" })
            )
          }),
          Effect.exit,
          Effect.flatMap((exit) => Deferred.done(outcome, exit)),
          Effect.ensuring(stopWatching),
          Effect.interruptible,
          Effect.forkScoped
        )
        // the deadline: no outcome in time fails the attempt and cancels it on the server
        yield* Deferred.await(outcome).pipe(
          Effect.exit,
          Effect.timeoutOption(timeout),
          Effect.flatMap((ended) =>
            ended._tag === "Some"
              ? Effect.void
              : Effect.zipRight(
                Deferred.fail(outcome, new LoginTimeoutError({ loginId, timeout })),
                Effect.ignore(Effect.timeout(sendCancel, cancelOnCloseTimeout))
              )
          ),
          Effect.interruptible,
          Effect.forkScoped
        )
        // the scope closes first: an unfinished attempt is cancelled on the server
        yield* Effect.addFinalizer(() =>
          Effect.gen(function*() {
            if (yield* Deferred.isDone(outcome)) return
            cancelling = true
            yield* Deferred.fail(outcome, new LoginCancelledError({ loginId }))
            yield* Effect.ignore(Effect.timeout(sendCancel, cancelOnCloseTimeout))
          })
        )
        return { response, attempt: { loginId, wait: Deferred.await(outcome), cancel } }
      }))
    })

  return {
    apiKey: (apiKey) =>
      Effect.logDebug("codex: logging in with an API key").pipe(
        Effect.zipRight(connection.request("account/login/start", { type: "apiKey", apiKey: Redacted.value(apiKey) })),
        Effect.flatMap((response) => (response.type === "apiKey" ? Effect.void : Effect.fail(unexpected("apiKey", response))))
      ),
    chatgpt: (options = {}) => {
      const { timeout, ...fields } = options
      return Effect.map(
        attempt({ ...fields, type: "chatgpt" }, { ...(timeout === undefined ? {} : { timeout }) }, (r) => (r.type === "chatgpt" ? r : undefined)),
        ({ attempt, response }): LoginHandle => ({ ...attempt, authUrl: response.authUrl })
      )
    },
    deviceCode: (options) =>
      Effect.map(
        attempt({ type: "chatgptDeviceCode" }, options, (r) => (r.type === "chatgptDeviceCode" ? r : undefined)),
        ({ attempt, response }): DeviceCodeHandle => ({ ...attempt, verificationUrl: response.verificationUrl, userCode: response.userCode })
      )
  }
}
