/**
 * Goals: an objective the server pursues over as many turns as it takes (`thread/goal/set`),
 * followed as one run (`GoalHandle`).
 *
 * What the server does (codex 0.171.0, see `docs/PROTOCOL.md`, "Goals"): setting a goal on an
 * idle thread starts a turn at once; each time a turn of an active goal completes, the server
 * starts the next one (a continuation) by itself. The model ends the goal by calling its
 * `update_goal` tool (`complete`, `blocked`, `paused`); the server ends it on a token budget
 * (`budgetLimited`, reported during the turn that crossed it, which then runs to its end), on a
 * usage limit (`usageLimited`) and on a failed turn (`blocked`). Pausing lets the running turn
 * finish and starts no next one; resuming starts one.
 *
 * A handle follows the goal in legs: `stream` (every notification of the thread: the goal's turns,
 * continuations included, and `thread/goal/updated` / `thread/goal/cleared`) and `run` (the same,
 * folded into a {@link GoalResult}) end when the goal reached a status other than `active` and
 * its last turn completed, or was cleared. After `resume`, `stream` or `run` follows the next leg.
 * While the goal is pursued it holds its thread: a turn of the user's (`turn`, `run`, `compact`)
 * or a second goal fails with `GoalActiveError`. Interrupting the consumer (or closing the
 * handle's scope) pauses the goal and interrupts its running turn. A goal turn interrupted from
 * elsewhere leaves the goal active with no next turn (the server starts none): the leg stops
 * there and the goal is paused, so that its status says so.
 *
 * Each leg has its own subscription to the thread, taken before the request that starts the leg
 * and closed when it stops: follow the goal (or close its scope), since a leg nobody follows
 * keeps its events, up to the connection's bound (`notificationBuffer`).
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Protocol from "@effect-codex/protocol/generated/Schemas"
import * as Registry from "@effect-codex/protocol/Registry"
import { GoalActiveError, GoalClearedError, GoalConsumedError, TransportClosedError, type TurnBusyError } from "./CodexError.js"
import type { Notification, RequestError, RpcConnection, Subscription } from "./RpcConnection.js"
import type { TransportError } from "./Transport.js"
import * as Turn from "./Turn.js"

/**
 * Settings of a goal.
 *
 * @since 0.1.0
 * @category models
 */
export interface GoalOptions {
  /** The goal's token budget: once the goal used that many tokens it ends as `budgetLimited`. */
  readonly tokenBudget?: number | undefined
}

/**
 * What a goal did, up to where it stopped.
 *
 * @since 0.1.0
 * @category models
 */
export interface GoalResult {
  /** The goal as the server last reported it: its status, objective, budget and usage. */
  readonly goal: Protocol.ThreadGoal
  /** A result per turn of the goal (continuations included), in order; a failed turn keeps its `turn.error`. */
  readonly turns: ReadonlyArray<Turn.RunResult>
  /** The final answer of the last turn. */
  readonly finalResponse: Option.Option<string>
  /** The tokens the goal's turns used: the sum of each turn's `usage.turn`. */
  readonly usage: Turn.Tokens
}

/**
 * Why following a goal failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type StreamError = TransportError | GoalConsumedError | RequestError

/**
 * Why `run` failed: as {@link StreamError}, or the goal was cleared before it stopped.
 *
 * @since 0.1.0
 * @category errors
 */
export type RunError = StreamError | GoalClearedError

/**
 * Why a goal could not be started or resumed: the thread is busy (a turn, another goal), or the
 * request failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type StartError = TurnBusyError | GoalActiveError | RequestError

/**
 * A goal being pursued on a thread.
 *
 * @since 0.1.0
 * @category models
 */
export interface GoalHandle {
  readonly threadId: string
  /**
   * Every notification of the thread until the goal stops (a status other than `active` and its
   * last turn completed, or `thread/goal/cleared`). One consumer at a time (`GoalConsumedError`);
   * interrupting it pauses the goal and interrupts its running turn.
   */
  readonly stream: Stream.Stream<Notification, StreamError>
  /** Follows the goal until it stops (as `stream`) and returns what it did. */
  readonly run: Effect.Effect<GoalResult, RunError>
  /** Pauses the goal (`thread/goal/set {status: "paused"}`): its running turn finishes, no next one starts. */
  readonly pause: Effect.Effect<Protocol.ThreadGoal, RequestError>
  /** Makes the goal active again; the server starts a turn, and `stream` / `run` follow the new leg. */
  readonly resume: Effect.Effect<Protocol.ThreadGoal, StartError>
  /** Removes the goal (`thread/goal/clear`): its running turn finishes, no next one starts. */
  readonly clear: Effect.Effect<void, RequestError>
  /** The goal as the server has it now (`thread/goal/get`); `None` once cleared. */
  readonly status: Effect.Effect<Option.Option<Protocol.ThreadGoal>, RequestError>
}

/**
 * Whether a goal status stops the goal: every status but `active` (an unknown status from a newer
 * server stops it too, so that nothing waits for a continuation that will not come).
 *
 * @since 0.1.0
 * @category guards
 */
export const isStopped = (status: Protocol.ThreadGoalStatus): boolean => status !== "active"

/**
 * The sum of token counts, by kind.
 *
 * @since 0.1.0
 * @category results
 */
export const sumTokens = (tokens: ReadonlyArray<Turn.Tokens>): Turn.Tokens =>
  tokens.reduce((sum, t): Turn.Tokens => ({
    totalTokens: sum.totalTokens + t.totalTokens,
    inputTokens: sum.inputTokens + t.inputTokens,
    cachedInputTokens: sum.cachedInputTokens + t.cachedInputTokens,
    cacheWriteInputTokens: (sum.cacheWriteInputTokens ?? 0) + (t.cacheWriteInputTokens ?? 0),
    outputTokens: sum.outputTokens + t.outputTokens,
    reasoningOutputTokens: sum.reasoningOutputTokens + t.reasoningOutputTokens
  }), Turn.noTokens)

/**
 * Folds a goal's notifications as they pass: the goal's latest state, the turn running, a
 * result per completed turn (with the tokens it used), and whether the goal stopped.
 *
 * A leg starts unarmed: it only stops after it saw the goal active (or a turn start), so that a
 * late report of an earlier pause does not end the leg that a resume just began.
 *
 * @since 0.1.0
 * @category internal
 */
export class Tracker {
  /**
   * The completed turns, in order.
   *
   * @since 0.1.0
   */
  readonly turns: Array<Turn.RunResult> = []
  /**
   * Set by `thread/goal/cleared`.
   *
   * @since 0.1.0
   */
  cleared = false
  /**
   * Set when a turn ended `interrupted` (or `failed`) while the goal stayed active: the server
   * starts no next turn, so the leg stops there.
   *
   * @since 0.1.0
   */
  orphaned = false
  private armed = false
  private current: Turn.Collector | undefined = undefined

  /** `usage` is the thread's token total, which each turn takes as its baseline and moves on. */
  constructor(readonly threadId: string, public goal: Protocol.ThreadGoal, private readonly usage: Turn.UsageTracker) {}

  /**
   * The id of the turn running, if any.
   *
   * @since 0.1.0
   */
  get running(): string | undefined {
    return this.current?.turnId
  }

  /**
   * Whether the leg stopped: the goal stopped (or was cleared) and no turn of it is running.
   *
   * @since 0.1.0
   */
  get stopped(): boolean {
    return this.armed && this.current === undefined && (this.cleared || this.orphaned || isStopped(this.goal.status))
  }

  /**
   * Starts following a new leg (after `thread/goal/set` or a resume).
   *
   * @since 0.1.0
   */
  beginLeg(goal: Protocol.ThreadGoal): void {
    this.goal = goal
    this.armed = false
    this.cleared = false
    this.orphaned = false
  }

  /**
   * Takes one notification of the thread into account.
   *
   * @since 0.1.0
   */
  add(n: Notification): void {
    if (!Registry.isKnownNotification(n)) return
    switch (n.method) {
      case "thread/goal/updated": {
        this.goal = n.params.goal
        if (!isStopped(n.params.goal.status)) {
          this.armed = true
          this.orphaned = false
          this.cleared = false
        }
        return
      }
      case "thread/goal/cleared": {
        this.cleared = true
        return
      }
      case "turn/started": {
        this.armed = true
        this.current = new Turn.Collector(this.threadId, n.params.turn.id, { baseline: this.usage.total, tracker: this.usage })
        return
      }
    }
    const current = this.current
    if (current === undefined || !Turn.belongsTo(this.threadId, current.turnId)(n)) return
    current.add(n)
    const turn = current.turn
    if (turn === undefined) return
    const items = current.items.length > 0 ? current.items : turn.items
    this.turns.push(Turn.runResultOf(items, current.usage, turn))
    this.current = undefined
    if (turn.status !== "completed" && !isStopped(this.goal.status)) this.orphaned = true
  }

  /**
   * The result so far.
   *
   * @since 0.1.0
   */
  get result(): GoalResult {
    const last = this.turns[this.turns.length - 1]
    return {
      goal: this.goal,
      turns: this.turns.slice(),
      finalResponse: last === undefined ? Option.none() : last.finalResponse,
      usage: sumTokens(this.turns.map((t) => Option.match(t.usage, { onNone: () => Turn.noTokens, onSome: (u) => u.turn })))
    }
  }
}

/**
 * The thread's one-turn-at-a-time slot, as a goal holds it while it is pursued.
 *
 * @since 0.1.0
 * @category internal
 */
export interface Claim {
  /**
   * Takes the thread for a goal, held in `scope` (closing it gives the thread back); returns the
   * effect that gives it back and waits until it did, or fails with the reason it is busy.
   */
  readonly take: (scope: Scope.Scope) => Effect.Effect<Effect.Effect<void>, TurnBusyError | GoalActiveError>
}

/**
 * Interrupts a goal's turn. The server accepts it at once, even right after the turn's
 * `turn/started` (seen on 0.171.0, with and without a pause just before); a refusal means the
 * turn ended meanwhile.
 */
const interruptTurn = (connection: RpcConnection.Service, threadId: string, turnId: string) =>
  connection.request("turn/interrupt", { threadId, turnId }).pipe(Effect.ignore)

/**
 * Internal: sets a goal on a thread and returns its handle. The handle belongs to the scope:
 * closing it while the goal is pursued pauses the goal and interrupts its running turn.
 *
 * A goal already set on the thread is replaced when it stopped (cleared first, so that the new
 * one starts from zero tokens), and refused with `GoalActiveError` while it is active (set by
 * another client).
 *
 * @since 0.1.0
 * @category internal
 */
export const make = (args: {
  readonly connection: RpcConnection.Service
  readonly threadId: string
  readonly claim: Claim
  /** The thread's token total (see `Turn.UsageTracker`). */
  readonly usage: Turn.UsageTracker
  readonly objective: string
  readonly options?: GoalOptions | undefined
}): Effect.Effect<GoalHandle, StartError, Scope.Scope> =>
  Effect.gen(function*() {
    const { connection, threadId } = args
    const parent = yield* Effect.scope

    /** The subscription of the current leg, taken before the request that starts the leg. */
    let leg: { readonly scope: Scope.CloseableScope; readonly subscription: Subscription } | undefined
    let release: Effect.Effect<void> | undefined
    let consuming = false

    const openLeg = Effect.gen(function*() {
      const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
      const subscription = yield* Scope.extend(connection.subscribeThread(threadId), scope)
      leg = { scope, subscription }
      return subscription
    })
    /** Ends the leg: closes its subscription and gives the thread back. */
    const endLeg = Effect.suspend(() => {
      const current = leg
      const giveBack = release ?? Effect.void
      leg = undefined
      release = undefined
      return Effect.zipRight(giveBack, current === undefined ? Effect.void : Scope.close(current.scope, Exit.void))
    })
    const pursued = () => leg !== undefined

    /** Takes the thread and a subscription, runs the request that (re)starts the goal; undoes both if it fails. */
    const startLeg = <E>(request: Effect.Effect<Protocol.ThreadGoal, E>) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          release = yield* args.claim.take(parent)
          yield* openLeg
          const goal = yield* restore(request).pipe(Effect.onError(() => endLeg))
          return goal
        })
      )

    const tokenBudget = args.options?.tokenBudget
    const initial = yield* startLeg(
      Effect.gen(function*() {
        const existing = (yield* connection.request("thread/goal/get", { threadId })).goal
        if (existing !== undefined && existing !== null) {
          if (!isStopped(existing.status)) return yield* new GoalActiveError({ threadId })
          yield* connection.request("thread/goal/clear", { threadId })
        }
        const set = yield* connection.request("thread/goal/set", {
          threadId,
          objective: args.objective,
          ...(tokenBudget === undefined ? {} : { tokenBudget })
        })
        return set.goal
      })
    )
    const tracker = new Tracker(threadId, initial, args.usage)
    tracker.beginLeg(initial)

    /**
     * When nobody follows a goal that is still pursued any more: pauses it (unless it already
     * stopped: a `complete` goal stays complete), interrupts its running turn, and waits (bounded
     * by `Turn.abortTimeout`) for that turn to complete, so that the thread is idle when it is
     * given back.
     */
    const abort = Effect.suspend(() => {
      const current = leg
      if (current === undefined) return Effect.void
      const mailbox = current.subscription.mailbox
      /** Takes in what the mailbox holds, unless a consumer is still reading it. */
      const catchUp = Effect.suspend(() =>
        consuming ? Effect.void : Effect.map(mailbox.clear, (chunk) => {
          for (const n of Chunk.toReadonlyArray(chunk)) tracker.add(n)
        })
      )
      const settle = Effect.gen(function*() {
        yield* catchUp
        if (!tracker.cleared && !isStopped(tracker.goal.status)) {
          tracker.goal = (yield* connection.request("thread/goal/set", { threadId, status: "paused" })).goal
          // Everything the server sent before it answered is in the mailbox now: a turn it
          // started just before the pause took effect is seen here.
          yield* catchUp
        }
        const running = tracker.running
        if (running === undefined) return
        yield* interruptTurn(connection, threadId, running)
        if (consuming) return
        yield* Mailbox.toStream(mailbox).pipe(
          Stream.takeUntil((n) => {
            tracker.add(n)
            return tracker.running === undefined
          }),
          Stream.runDrain
        )
      })
      return settle.pipe(Effect.interruptible, Effect.timeout(Turn.abortTimeout), Effect.ignore, Effect.ensuring(endLeg))
    })
    yield* Effect.addFinalizer(() => abort)

    /** The goal's notifications until the leg stops; what the tracker saw is then the leg's outcome. */
    const follow = Stream.suspend((): Stream.Stream<Notification, StreamError> => {
      if (consuming) return Stream.fail(new GoalConsumedError({ threadId }))
      const current = leg
      if (current === undefined) return Stream.empty
      consuming = true
      const scopeClosed = () => new TransportClosedError({ reason: `the scope of the goal of thread ${threadId} was closed before it stopped` })
      // A turn that ended interrupted left the goal active with no next turn: pause it, so that
      // the goal's state says what happened.
      const stop = Effect.suspend(() =>
        tracker.orphaned
          ? Effect.map(connection.request("thread/goal/set", { threadId, status: "paused" }), (r) => {
            tracker.goal = r.goal
          })
          : Effect.void
      ).pipe(Effect.ensuring(endLeg))
      return Mailbox.toStream(current.subscription.mailbox).pipe(
        Stream.concat(Stream.failSync(scopeClosed)),
        Stream.takeUntil((n) => {
          tracker.add(n)
          return tracker.stopped
        }),
        Stream.concat(Stream.drain(Stream.fromEffect(stop))),
        Stream.ensuring(Effect.suspend(() => {
          consuming = false
          return abort
        }))
      )
    })

    const run = Effect.suspend(() => {
      if (consuming) return Effect.fail(new GoalConsumedError({ threadId }))
      return Effect.zipRight(
        Stream.runDrain(follow),
        Effect.suspend(() => (tracker.cleared ? Effect.fail(new GoalClearedError({ threadId })) : Effect.succeed(tracker.result)))
      )
    })

    const setStatus = (status: "paused" | "active") =>
      Effect.map(connection.request("thread/goal/set", { threadId, status }), (r) => r.goal)

    const resume = Effect.suspend(() => {
      if (pursued()) return setStatus("active")
      return Effect.tap(startLeg(setStatus("active")), (goal) => Effect.sync(() => tracker.beginLeg(goal)))
    })

    const handle: GoalHandle = {
      threadId,
      stream: follow,
      run,
      pause: setStatus("paused"),
      resume,
      clear: Effect.asVoid(connection.request("thread/goal/clear", { threadId })),
      status: Effect.map(connection.request("thread/goal/get", { threadId }), (r) => Option.fromNullable(r.goal))
    }
    return handle
  })
