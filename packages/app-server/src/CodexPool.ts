/**
 * `CodexPool`: the same `Codex` service over up to `size` `codex app-server` processes, started
 * lazily, with thread affinity (codex allows one writer per thread, so every call for a thread
 * goes to the process that owns it).
 *
 * - `threadStart` goes to the least-loaded process (fewest open threads, then fewest turns in
 *   flight); a new process is started while fewer than `size` run and every running one already
 *   has a thread (or is at `maxThreadsPerProcess`). When all `size` processes are at
 *   `maxThreadsPerProcess` (a full pool), `threadStart` fails with `ServerBusyError` (-32001: not
 *   processed, safe to retry with `retryOnOverload`), or with `whenFull: "wait"` waits until a
 *   thread's scope closes or a process exits (`ThreadWaiting` / `ThreadAdmitted` events,
 *   `stats.threadsWaiting`); the wait is interruptible (bound it with `Effect.timeout`), and
 *   `threadResume` / `threadFork` of a thread the pool does not own wait the same way.
 * - `threadResume`, `threadFork`, `threadRead`, `threadArchive`, `threadUnarchive` and
 *   `request(method, { threadId, … })` go to the owner of the thread; a thread the pool does not
 *   know (or whose process died) is resumed on the least-loaded live process from its rollout in
 *   the shared `CODEX_HOME` (a `ThreadMoved` event when it had an owner before).
 * - A process that exits is forgotten at once (its turns in flight fail with `ProcessExitedError`
 *   on its own connection; the other processes are untouched) and replaced lazily.
 * - `maxConcurrentTurns` bounds the turns in flight over the whole pool (`run`, `turn`,
 *   `external`, `compact`; a goal's server-driven turns are not counted): a turn over the limit
 *   waits for a permit, it does not fail.
 * - Requests that are not bound to a thread and fail with `ServerBusyError` (after the
 *   connection's own retries) are tried once more on another live process.
 * - With `idleTimeout`, a process without open threads and turns for that long is closed, as long
 *   as another one runs (the Effect `Clock`: `TestClock` drives it in tests).
 * - Closing the layer closes every process at once, each with the release ladder of
 *   `StdioTransport` (close stdin, wait, SIGTERM, SIGKILL).
 *
 * The `CodexPool` tag, provided alongside `Codex`, has the pool's `stats` and `events`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Approvals from "./Approvals.js"
import * as Codex from "./Codex.js"
import type { CodexConfig } from "./CodexConfig.js"
import { ProcessExitedError, ServerBusyError, TransportClosedError } from "./CodexError.js"
import type * as RpcConnection from "./RpcConnection.js"
import * as StdioTransport from "./StdioTransport.js"
import type * as Thread from "./Thread.js"
import type * as Tool from "./Tool.js"
import type * as Turn from "./Turn.js"

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The most processes that run at once (an integer ≥ 1). */
  readonly size: number
  /** The most open threads per process (an integer ≥ 1). Default: no limit. */
  readonly maxThreadsPerProcess?: number
  /**
   * A new thread on a full pool (every one of `size` processes at `maxThreadsPerProcess`):
   * `"fail"` with `ServerBusyError` (the default), or `"wait"` for a slot (a thread's scope
   * closing, a process exiting), interruptibly.
   */
  readonly whenFull?: "fail" | "wait"
  /** The most turns in flight over the whole pool; more wait for a permit. Default: no limit. */
  readonly maxConcurrentTurns?: number
  /** Close a process idle (no open thread, no turn) for this long, while another one runs. Default: never. */
  readonly idleTimeout?: Duration.DurationInput
  /** The configuration of every process (they should share `codexHome`, so threads can move). */
  readonly config?: CodexConfig
  /** Retries of a process that dies during `initialize`, with exponential backoff. Default 3. */
  readonly startRetries?: number
  /** First delay of those retries (doubling). Default 200 ms. */
  readonly startBackoff?: Duration.DurationInput
}

/**
 * A bad option of {@link layer}, named by `field`.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolConfigError extends Schema.TaggedError<PoolConfigError>("@effect-codex/app-server/PoolConfigError")(
  "PoolConfigError",
  { field: Schema.String, value: Schema.Unknown, reason: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `CodexPool: ${this.field} ${this.reason} (got ${String(this.value)})`
  }
}

/**
 * Why the pool could not start.
 *
 * @since 0.1.0
 * @category errors
 */
export type StartError = Codex.StartError | PoolConfigError

/**
 * Something that happened to the pool.
 *
 * @since 0.1.0
 * @category models
 */
export type PoolEvent =
  | { readonly _tag: "ProcessStarted"; readonly process: number; readonly pid: number | undefined; readonly replacement: boolean }
  | {
    readonly _tag: "ProcessStartFailed"
    readonly attempt: number
    readonly error: Codex.StartError
  }
  | {
    readonly _tag: "ProcessExited"
    readonly process: number
    readonly pid: number | undefined
    readonly exitCode: number | null
    readonly signal: string | null
    readonly stderrTail: ReadonlyArray<string>
    /** The threads it owned, now forgotten (resume them to move them). */
    readonly threads: ReadonlyArray<string>
  }
  | { readonly _tag: "ProcessClosed"; readonly process: number; readonly pid: number | undefined; readonly reason: "idle" }
  | {
    readonly _tag: "ThreadMoved"
    readonly threadId: string
    readonly fromPid: number | undefined
    readonly toPid: number | undefined
  }
  | { readonly _tag: "ThreadWaiting" }
  | { readonly _tag: "ThreadAdmitted" }
  | { readonly _tag: "TurnWaiting"; readonly threadId: string }
  | { readonly _tag: "TurnAdmitted"; readonly threadId: string }

/**
 * One process of the pool.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProcessStats {
  /** The pool's number for it (1, 2, … in start order). */
  readonly process: number
  /** Its pid (`undefined` for a transport that is not a process). */
  readonly pid: number | undefined
  /** The threads it owns. */
  readonly threads: ReadonlyArray<string>
  /** Thread values of it still in scope (the load `threadStart` balances). */
  readonly openThreads: number
  /** Its turns in flight. */
  readonly turns: number
  /** Its connection (notifications, diagnostics). */
  readonly connection: RpcConnection.RpcConnection.Service
}

/**
 * The pool at one moment.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly size: number
  readonly processes: ReadonlyArray<ProcessStats>
  /** Processes started to replace one that exited. */
  readonly restarts: number
  /** Processes that exited on their own (not closed by the pool). */
  readonly exits: number
  /** Turns waiting for a permit of `maxConcurrentTurns`. */
  readonly turnsWaiting: number
  /** New threads waiting for a slot on a full pool (`whenFull: "wait"`). */
  readonly threadsWaiting: number
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace CodexPool {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The processes, their threads and turns, and the restarts so far. */
    readonly stats: Effect.Effect<Stats>
    /** The pool's events from the moment the stream is run. */
    readonly events: Stream.Stream<PoolEvent>
    /** Subscribes now (nothing published after this point is missed); scoped. */
    readonly subscribe: Effect.Effect<Stream.Stream<PoolEvent>, never, Scope.Scope>
  }
}

/**
 * The pool's own service (stats and events), provided by {@link layer} alongside `Codex`.
 *
 * @since 0.1.0
 * @category tags
 */
export class CodexPool extends Context.Tag("@effect-codex/app-server/CodexPool")<CodexPool, CodexPool.Service>() {}

interface Proc {
  readonly process: number
  readonly pid: number | undefined
  readonly codex: Codex.Codex.Service
  readonly scope: Scope.CloseableScope
  readonly owned: Set<string>
  open: number
  turns: number
  alive: boolean
  idleSince: number
}

const positiveInt = (field: string, value: unknown, optional: boolean): Effect.Effect<void, PoolConfigError> =>
  (optional && value === undefined) || (typeof value === "number" && Number.isInteger(value) && value >= 1)
    ? Effect.void
    : Effect.fail(new PoolConfigError({ field, value, reason: "must be an integer of at least 1" }))

const validate = (options: Options): Effect.Effect<void, PoolConfigError> =>
  Effect.gen(function*() {
    yield* positiveInt("size", options.size, false)
    yield* positiveInt("maxThreadsPerProcess", options.maxThreadsPerProcess, true)
    yield* positiveInt("maxConcurrentTurns", options.maxConcurrentTurns, true)
    if (options.whenFull !== undefined && options.whenFull !== "fail" && options.whenFull !== "wait") {
      return yield* new PoolConfigError({ field: "whenFull", value: options.whenFull, reason: "must be \"fail\" or \"wait\"" })
    }
    if (options.startRetries !== undefined && !(Number.isInteger(options.startRetries) && options.startRetries >= 0)) {
      return yield* new PoolConfigError({ field: "startRetries", value: options.startRetries, reason: "must be an integer of at least 0" })
    }
    for (const field of ["idleTimeout", "startBackoff"] as const) {
      const value = options[field]
      if (value !== undefined && Option.isNone(Duration.decodeUnknown(value))) {
        return yield* new PoolConfigError({ field, value, reason: "must be a duration" })
      }
    }
  })

/** A start error as the `RequestError` of a call that started a process lazily. */
const asRequestError = (error: Codex.StartError): RpcConnection.RequestError =>
  error._tag === "VersionMismatchError" || error._tag === "CodexBinaryNotFoundError"
    ? new TransportClosedError({ reason: `CodexPool could not start a process: ${error.message}`, cause: error })
    : error

/**
 * Builds the pool over processes made by `spawn` (each build one process: its `Codex`, and its
 * `StdioTransport` when it is one). Scoped: closing the scope closes every process.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options,
  spawn: Layer.Layer<Codex.Codex, Codex.StartError> = Codex.layer({ reapOrphans: true, ...options.config })
): Effect.Effect<Context.Context<Codex.Codex | CodexPool>, StartError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* validate(options)
    const size = options.size
    const maxThreads = options.maxThreadsPerProcess ?? Number.POSITIVE_INFINITY
    const whenFull = options.whenFull ?? "fail"
    const idleTimeout = options.idleTimeout === undefined ? undefined : Duration.decode(options.idleTimeout)
    const startRetries = options.startRetries ?? 3
    const startBackoff = Duration.decode(options.startBackoff ?? "200 millis")
    const poolScope = yield* Effect.scope
    const approvals = yield* Approvals.currentOrDefault
    const events = yield* PubSub.sliding<PoolEvent>(4096)
    const publish = (event: PoolEvent) => PubSub.publish(events, event)
    const turnPermits = options.maxConcurrentTurns === undefined ? undefined : yield* Effect.makeSemaphore(options.maxConcurrentTurns)
    const lock = yield* Effect.makeSemaphore(1)

    const procs: Array<Proc> = []
    const owners = new Map<string, Proc>()
    /** Threads whose owner went away, with the pid it had (for `ThreadMoved`). */
    const orphans = new Map<string, number | undefined>()
    let counter = 0
    let restarts = 0
    let exits = 0
    let pendingReplacements = 0
    let turnsWaiting = 0
    let threadsWaiting = 0
    /** Completed (and replaced) whenever a thread slot may have freed: a release, a process gone. */
    let slotFreed = Deferred.unsafeMake<void>(FiberId.none)
    const signalSlot = () => {
      const freed = slotFreed
      slotFreed = Deferred.unsafeMake<void>(FiberId.none)
      Deferred.unsafeDone(freed, Exit.void)
    }
    let shuttingDown = false
    let lastConnection: RpcConnection.RpcConnection.Service | undefined

    const live = () => procs.filter((p) => p.alive)
    const leastLoaded = (candidates: ReadonlyArray<Proc>): Proc | undefined => {
      let best: Proc | undefined
      for (const p of candidates) {
        if (best === undefined || p.open < best.open || (p.open === best.open && p.turns < best.turns)) best = p
      }
      return best
    }
    const remove = (proc: Proc) => {
      proc.alive = false
      const i = procs.indexOf(proc)
      if (i >= 0) procs.splice(i, 1)
      const threads = [...proc.owned]
      for (const id of threads) {
        if (owners.get(id) === proc) owners.delete(id)
        orphans.set(id, proc.pid)
      }
      signalSlot()
      return threads
    }

    const idleCheck = (proc: Proc): Effect.Effect<void> =>
      Effect.gen(function*() {
        if (idleTimeout === undefined || !proc.alive || proc.open > 0 || proc.turns > 0) return
        proc.idleSince = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        // interruptible: this runs in finalizers too, and a fork inherits their uninterruptibility
        yield* Effect.sleep(idleTimeout).pipe(
          Effect.zipRight(lock.withPermits(1)(Effect.gen(function*() {
            const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
            const idle = proc.alive && proc.open === 0 && proc.turns === 0 && now - proc.idleSince >= Duration.toMillis(idleTimeout)
            if (!idle || live().length <= 1 || shuttingDown) return
            remove(proc)
            yield* publish({ _tag: "ProcessClosed", process: proc.process, pid: proc.pid, reason: "idle" })
            yield* Scope.close(proc.scope, Exit.void)
          }))),
          Effect.interruptible,
          Effect.forkIn(poolScope)
        )
      })

    const onClosed = (proc: Proc, reason: RpcConnection.RequestError | unknown) =>
      Effect.gen(function*() {
        if (!proc.alive || shuttingDown) return
        const threads = remove(proc)
        exits++
        pendingReplacements++
        const exited = reason instanceof ProcessExitedError ? reason : undefined
        yield* publish({
          _tag: "ProcessExited",
          process: proc.process,
          pid: proc.pid,
          exitCode: exited?.exitCode ?? null,
          signal: exited?.signal ?? null,
          stderrTail: exited?.stderrTail ?? [],
          threads
        })
        yield* Effect.forkIn(Scope.close(proc.scope, Exit.void), poolScope)
      })

    /** Starts one process (retrying a death during `initialize`) and registers it. */
    const startOnce = Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const context = yield* restore(Layer.buildWithScope(spawn, scope)).pipe(
          Effect.provideService(Approvals.Approvals, approvals),
          Effect.onError(() => Scope.close(scope, Exit.void))
        )
        return { scope, context }
      })
    )
    let attempt = 0
    const startProc: Effect.Effect<Proc, Codex.StartError> = Effect.gen(function*() {
      attempt = 0
      const { context, scope } = yield* startOnce.pipe(
        Effect.tapError((error) => publish({ _tag: "ProcessStartFailed", attempt: ++attempt, error })),
        Effect.retry({
          schedule: Schedule.intersect(Schedule.exponential(startBackoff), Schedule.recurs(startRetries)),
          while: (error) => error instanceof ProcessExitedError
        })
      )
      const codex = Context.get(context, Codex.Codex)
      const stdio = Context.getOption(context, StdioTransport.StdioTransport)
      const replacement = pendingReplacements > 0
      if (replacement) {
        pendingReplacements--
        restarts++
      }
      const proc: Proc = {
        process: ++counter,
        pid: Option.isSome(stdio) ? stdio.value.pid : undefined,
        codex,
        scope,
        owned: new Set(),
        open: 0,
        turns: 0,
        alive: true,
        idleSince: 0
      }
      procs.push(proc)
      lastConnection = codex.connection
      yield* publish({ _tag: "ProcessStarted", process: proc.process, pid: proc.pid, replacement })
      yield* codex.connection.closed.pipe(Effect.flatMap((reason) => onClosed(proc, reason)), Effect.interruptible, Effect.forkIn(poolScope))
      return proc
    })
    /** Starts a process on a fiber of the pool (a caller interrupted meanwhile does not abandon it). */
    const startInPool = Effect.flatMap(Effect.forkIn(Effect.interruptible(startProc), poolScope), Fiber.join)

    /** Reserves an open-thread slot on `proc` for the scope. */
    const hold = (proc: Proc) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          proc.open++
          return proc
        }),
        (p) => Effect.suspend(() => {
          p.open--
          signalSlot()
          return idleCheck(p)
        })
      )

    type Placement = { readonly _tag: "Start" } | { readonly _tag: "Use"; readonly proc: Proc } | { readonly _tag: "Full"; readonly freed: Deferred.Deferred<void> }
    /** Where a new thread goes now (one synchronous step: no release can slip in between). */
    const choose = Effect.sync((): Placement => {
      const running = live()
      const best = leastLoaded(running)
      const full = best === undefined || best.open >= maxThreads
      if (running.length < size && (best === undefined || best.open > 0 || full)) return { _tag: "Start" }
      if (full) return { _tag: "Full", freed: slotFreed }
      return { _tag: "Use", proc: best }
    })
    type Placed = { readonly _tag: "Placed"; readonly proc: Proc } | { readonly _tag: "Full"; readonly freed: Deferred.Deferred<void> }
    const placed = (proc: Proc): Placed => ({ _tag: "Placed", proc })
    /** One placement attempt under the lock: a reserved process, or the signal to wait for when full. */
    const tryPlace: Effect.Effect<Placed, RpcConnection.RequestError, Scope.Scope> = lock.withPermits(1)(
      Effect.flatMap(choose, (placement): Effect.Effect<Placed, RpcConnection.RequestError, Scope.Scope> => {
        switch (placement._tag) {
          case "Start":
            return Effect.flatMap(Effect.mapError(startInPool, asRequestError), (proc) => Effect.map(hold(proc), placed))
          case "Use":
            return Effect.map(hold(placement.proc), placed)
          case "Full":
            return whenFull === "wait"
              ? Effect.succeed(placement)
              : new ServerBusyError({
                method: "thread/start",
                message: `CodexPool: all ${size} processes have ${maxThreads} threads (maxThreadsPerProcess)`
              })
        }
      })
    )
    /** The process for a new thread: least loaded, or a new one (see the module docs). Reserved for the scope. */
    const place: Effect.Effect<Proc, RpcConnection.RequestError, Scope.Scope> = Effect.suspend(() => {
      let waiting = false
      const attempt: Effect.Effect<Proc, RpcConnection.RequestError, Scope.Scope> = Effect.flatMap(tryPlace, (result) => {
        if (result._tag === "Placed") {
          if (!waiting) return Effect.succeed(result.proc)
          waiting = false
          threadsWaiting--
          return Effect.as(publish({ _tag: "ThreadAdmitted" }), result.proc)
        }
        const mark = waiting ? Effect.void : Effect.suspend(() => {
          waiting = true
          threadsWaiting++
          return publish({ _tag: "ThreadWaiting" })
        })
        return mark.pipe(Effect.zipRight(Deferred.await(result.freed)), Effect.zipRight(attempt))
      })
      // an interrupted wait is no longer counted
      return Effect.ensuring(attempt, Effect.sync(() => {
        if (waiting) threadsWaiting--
      }))
    })

    /** A live process for a call not bound to a thread (a new one if none runs). */
    const anyProc = (except?: Proc): Effect.Effect<Proc, RpcConnection.RequestError> =>
      Effect.suspend(() => {
        const best = leastLoaded(live().filter((p) => p !== except))
        if (best !== undefined) return Effect.succeed(best)
        return lock.withPermits(1)(Effect.suspend(() => {
          const again = leastLoaded(live().filter((p) => p !== except))
          return again !== undefined ? Effect.succeed(again) : Effect.mapError(startInPool, asRequestError)
        }))
      })
    /** Runs `f` on any process; a `ServerBusyError` is tried once more on another live one. */
    const onAny = <A, E>(f: (codex: Codex.Codex.Service, proc: Proc) => Effect.Effect<A, E>): Effect.Effect<A, E | RpcConnection.RequestError> =>
      Effect.flatMap(anyProc(), (proc) =>
        f(proc.codex, proc).pipe(
          Effect.catchIf(
            (e): e is E & ServerBusyError => e instanceof ServerBusyError && live().some((p) => p !== proc),
            (e) => Effect.flatMap(anyProc(proc), (other) => (other === proc ? Effect.fail(e) : f(other.codex, other)))
          )
        ))
    /** The live owner of a thread, if any. */
    const ownerOf = (threadId: string): Proc | undefined => {
      const owner = owners.get(threadId)
      return owner !== undefined && owner.alive ? owner : undefined
    }
    /** Runs `f` on the owner of `threadId`, else on any process. */
    const onOwner = <A, E>(threadId: string, f: (codex: Codex.Codex.Service, proc: Proc) => Effect.Effect<A, E>) =>
      Effect.suspend(() => {
        const owner = ownerOf(threadId)
        return owner !== undefined ? f(owner.codex, owner) : onAny(f)
      })
    const own = (proc: Proc, threadId: string) =>
      Effect.suspend(() => {
        if (!proc.alive) return Effect.void
        const before = orphans.get(threadId)
        const had = orphans.has(threadId)
        orphans.delete(threadId)
        owners.set(threadId, proc)
        proc.owned.add(threadId)
        return had ? publish({ _tag: "ThreadMoved", threadId, fromPid: before, toPid: proc.pid }) : Effect.void
      })

    // ---- turns: the pool's permits and the per-process count ----------------------------------
    const admit = (proc: Proc, threadId: string): Effect.Effect<void> =>
      Effect.gen(function*() {
        if (turnPermits !== undefined) {
          const waited = yield* Effect.map(turnPermits.withPermitsIfAvailable(1)(Effect.void), Option.isNone)
          if (waited) {
            turnsWaiting++
            yield* publish({ _tag: "TurnWaiting", threadId })
          }
          // taken and counted in one uninterruptible step (the wait itself stays interruptible)
          yield* Effect.uninterruptibleMask((restore) =>
            restore(turnPermits.take(1)).pipe(
              Effect.ensuring(Effect.sync(() => (waited ? turnsWaiting-- : undefined))),
              Effect.zipRight(Effect.sync(() => proc.turns++))
            )
          )
          if (waited) yield* publish({ _tag: "TurnAdmitted", threadId })
          return
        }
        proc.turns++
      })
    const releaser = (proc: Proc) => {
      let done = false
      return Effect.suspend(() => {
        if (done) return Effect.void
        done = true
        proc.turns--
        return Effect.zipRight(turnPermits === undefined ? Effect.void : turnPermits.release(1), idleCheck(proc))
      })
    }
    /** `effect` as one turn: admitted (maybe after a wait), counted, released when it ends. */
    const asTurn = <A, E>(proc: Proc, threadId: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(admit(proc, threadId)), () => {
          const release = releaser(proc)
          return Effect.ensuring(restore(effect), release)
        })
      )

    const wrap = (proc: Proc, thread: Thread.Thread): Thread.Thread => {
      const threadId = thread.id
      const turn = (input: Parameters<Thread.Thread["turn"]>[0], options?: Parameters<Thread.Thread["turn"]>[1]) =>
        Effect.gen(function*() {
          // the wait for a permit is interruptible; once admitted, the release is in the scope
          const release = yield* Effect.uninterruptibleMask((restore) =>
            Effect.flatMap(restore(admit(proc, threadId)), () => {
              const release = releaser(proc)
              return Effect.as(Effect.addFinalizer(() => release), release)
            })
          )
          const handle: Turn.TurnHandle = yield* thread.turn(input, options)
          return {
            ...handle,
            run: Effect.ensuring(handle.run, release),
            stream: Stream.ensuring(handle.stream, release),
            runWith: (onEvent) => Effect.ensuring(handle.runWith(onEvent), release)
          } satisfies Turn.TurnHandle
        })
      return {
        ...thread,
        turn: turn as Thread.Thread["turn"],
        run: ((input: Parameters<Thread.Thread["run"]>[0], options?: Parameters<Thread.Thread["run"]>[1]) =>
          asTurn(proc, threadId, thread.run(input, options))) as Thread.Thread["run"],
        external: (toolName, content, options) => asTurn(proc, threadId, thread.external(toolName, content, options)),
        compact: asTurn(proc, threadId, thread.compact)
      }
    }

    type Tools = ReadonlyArray<Tool.Definition<unknown>>
    const threadStart = <const T extends Tools = readonly []>(params?: Codex.ThreadStartParams, options?: Codex.ToolOptions<T>) =>
      Effect.gen(function*() {
        const proc = yield* place
        const thread = yield* proc.codex.threadStart<T>(params, options)
        yield* own(proc, thread.id)
        return wrap(proc, thread)
      })
    /** A reserved process for a thread that already exists: its owner, else a placement. */
    const placeFor = (threadId: string) =>
      Effect.suspend(() => {
        const owner = ownerOf(threadId)
        return owner !== undefined ? hold(owner) : place
      })
    const threadResume = <const T extends Tools = readonly []>(threadId: string, params?: Codex.ThreadResumeParams, options?: Codex.ToolOptions<T>) =>
      Effect.gen(function*() {
        const proc = yield* placeFor(threadId)
        const thread = yield* proc.codex.threadResume<T>(threadId, params, options)
        yield* own(proc, thread.id)
        return wrap(proc, thread)
      })
    const threadFork = <const T extends Tools = readonly []>(threadId: string, params?: Codex.ThreadForkParams, options?: Codex.ToolOptions<T>) =>
      Effect.gen(function*() {
        const proc = yield* placeFor(threadId)
        const thread = yield* proc.codex.threadFork<T>(threadId, params, options)
        yield* own(proc, thread.id)
        return wrap(proc, thread)
      })

    const threadBound = (params: unknown): string | undefined =>
      typeof params === "object" && params !== null && "threadId" in params && typeof params.threadId === "string"
        ? params.threadId
        : undefined
    const request = ((method: string, ...args: ReadonlyArray<unknown>) => {
      const call = (codex: Codex.Codex.Service, proc: Proc) =>
        (codex.request as (method: string, ...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, RpcConnection.RequestError>)(method, ...args).pipe(
          Effect.tap((result) => {
            // a thread started, resumed or forked by hand is owned by the process that has it
            const id = typeof result === "object" && result !== null && "thread" in result
              ? (result.thread as { readonly id?: unknown } | null)?.id
              : undefined
            return (method === "thread/start" || method === "thread/resume" || method === "thread/fork") && typeof id === "string"
              ? own(proc, id)
              : Effect.void
          })
        )
      const threadId = threadBound(args[0])
      return threadId === undefined ? onAny(call) : onOwner(threadId, call)
    }) as Codex.Codex.Service["request"]

    const service: Codex.Codex.Service = {
      get connection() {
        const first = live()[0]
        // the first live process's connection; the last started one when none is alive
        return first?.codex.connection ?? (lastConnection as RpcConnection.RpcConnection.Service)
      },
      threadStart,
      threadResume,
      threadFork,
      threadArchive: (threadId) => onOwner(threadId, (codex) => codex.threadArchive(threadId)),
      threadUnarchive: (threadId) => onOwner(threadId, (codex) => codex.threadUnarchive(threadId)),
      threadList: (params) => onAny((codex) => codex.threadList(params)),
      threads: (params) => Stream.unwrap(Effect.map(anyProc(), (proc) => proc.codex.threads(params))),
      threadRead: (threadId, options) => onOwner(threadId, (codex) => codex.threadRead(threadId, options)),
      models: (options) => onAny((codex) => codex.models(options)),
      account: (options) => onAny((codex) => codex.account(options)),
      login: {
        apiKey: (key) => onAny((codex) => codex.login.apiKey(key)),
        chatgpt: (options) => Effect.flatMap(anyProc(), (proc) => proc.codex.login.chatgpt(options)),
        deviceCode: (options) => Effect.flatMap(anyProc(), (proc) => proc.codex.login.deviceCode(options))
      },
      logout: onAny((codex) => codex.logout),
      rateLimits: onAny((codex) => codex.rateLimits),
      request
    }

    const pool: CodexPool.Service = {
      stats: Effect.sync(() => ({
        size,
        processes: live().map((p) => ({ process: p.process, pid: p.pid, threads: [...p.owned], openThreads: p.open, turns: p.turns, connection: p.codex.connection })),
        restarts,
        exits,
        turnsWaiting,
        threadsWaiting
      })),
      events: Stream.fromPubSub(events),
      subscribe: Effect.map(PubSub.subscribe(events), Stream.fromQueue)
    }

    // the first process, at once: a pool that cannot start fails here
    const first = yield* startInPool
    yield* idleCheck(first)
    // runs first on close: every process closes at once, each with its release ladder
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        shuttingDown = true
        const all = procs.splice(0)
        for (const p of all) p.alive = false
        return Effect.forEach(all, (p) => Scope.close(p.scope, Exit.void), { concurrency: "unbounded", discard: true })
      })
    )
    return Context.make(Codex.Codex, Codex.Codex.of(service)).pipe(Context.add(CodexPool, pool))
  })

/**
 * The pool as a layer: provides `Codex` (the same service as `Codex.layer`, over up to `size`
 * processes, each started with `Codex.layer(config)`, with `reapOrphans` on unless the config
 * says `false`) and `CodexPool` (stats, events). Server
 * requests of every process go to the `Approvals` in context when the layer is built, or are
 * refused (fail closed). Fails with `PoolConfigError` for a bad option, or with the first
 * process's start error (after the retries of a death during `initialize`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Codex, CodexPool } from "@effect-codex/app-server"
 *
 * const program = Effect.gen(function*() {
 *   const codex = yield* Codex.Codex
 *   const thread = yield* codex.threadStart()
 *   return yield* thread.run("hello")
 * })
 * const PoolLive = CodexPool.layer({ size: 4, maxConcurrentTurns: 8, config: { codexHome: "/tmp/codex-home" } })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Codex.Codex | CodexPool, StartError> =>
  Layer.scopedContext(make(options))

/**
 * The pool over processes built by `spawn` instead of `Codex.layer(config)` (for example
 * `Codex.layerTransport()` over a `MockAppServer`, in tests). Each build of `spawn` is one process.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (
  options: Options,
  spawn: Layer.Layer<Codex.Codex, Codex.StartError>
): Layer.Layer<Codex.Codex | CodexPool, StartError> => Layer.scopedContext(make(options, spawn))
