/**
 * The byte/line layer under the JSON-RPC connection: a `Transport` sends lines and delivers the
 * lines it receives. It never parses JSON.
 *
 * Implementations: `StdioTransport` (the `codex app-server` subprocess), `WebSocketTransport`,
 * `UnixSocketTransport` and `ProxyTransport` (a running server), and in-memory transports
 * for tests (`MockAppServer`). The received lines have one consumer: the `incoming` stream, or a
 * synchronous {@link Listener} (`listen`, the connection's hot path: no fiber between a read and
 * the connection). {@link makeDelivery} implements both over any push source, with buffering,
 * back-pressure and ordering. This module also holds the framing used by every byte-oriented
 * transport: {@link makeLineFramer} (a synchronous, allocation-light splitter) and
 * {@link frameLines} (a pure helper over a list of chunks).
 *
 * Framing rules:
 * - Lines end at `"\n"` only. A multi-byte UTF-8 character split across chunks is decoded
 *   correctly, and U+2028 / U+2029 (legal, unescaped, inside JSON strings) never end a line. A
 *   trailing `"\r"` is stripped.
 * - A line longer than `maxLineBytes` (UTF-8 bytes, terminator excluded) is dropped as a whole and
 *   reported (`LineTooLongError`); the lines after it are delivered normally. Memory stays bounded
 *   by the limit while an over-long line streams by.
 * - At end of input, a last line without a terminator is delivered.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { defaultMaxLineBytes } from "./CodexConfig.js"
import { LineTooLongError, TransportClosedError } from "./CodexError.js"
import type { ConnectionLostError, ProcessExitedError } from "./CodexError.js"

/**
 * Why a transport stopped: closed by its owner or broken, the process behind it exited, or the
 * connection to a running server was lost.
 *
 * @since 0.1.0
 * @category models
 */
export type TransportError = TransportClosedError | ProcessExitedError | ConnectionLostError

/**
 * Something noteworthy that did not stop the transport.
 *
 * @since 0.1.0
 * @category models
 */
export type Diagnostic = LineTooLongError

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Transport {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * Writes one line; the transport appends `"\n"`. `line` must not contain `"\n"` (a defect).
     * Writes are serialized in call order. Fails once the transport is closed.
     */
    readonly send: (line: string) => Effect.Effect<void, TransportError>
    /**
     * The received lines, without their terminator. Single consumer. Fails with the reason when the
     * peer dies (`ProcessExitedError` for a subprocess), ends when the transport is closed by its
     * owner. Lines received before the failure are delivered first.
     *
     * The lines go either to `incoming` or to one {@link Listener} (`listen`), not to both: the
     * first use of either claims them.
     */
    readonly incoming: Stream.Stream<string, TransportError>
    /**
     * Hands the received lines to `listener` as they are framed, synchronously, with no fiber in
     * between (the connection's hot path). Lines received before the call are delivered first. A
     * second call, or a call after `incoming` was used, is a defect.
     */
    readonly listen: (listener: Listener) => Effect.Effect<void>
    /** Waits until the transport is closed and tells why. */
    readonly closed: Effect.Effect<TransportError>
    /** Diagnostics (dropped over-long lines, …) from the moment of subscription; ends at close. */
    readonly diagnostics: Stream.Stream<Diagnostic>
  }
}

/**
 * The transport's service interface (same as `Transport.Service`).
 *
 * @since 0.1.0
 * @category models
 */
export type Service = Transport.Service

/**
 * The transport a connection talks through.
 *
 * @since 0.1.0
 * @category tags
 */
export class Transport extends Context.Tag("@effect-codex/app-server/Transport")<Transport, Transport.Service>() {}

/**
 * Receives a transport's lines as they are framed: the push form of `incoming`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Listener {
  /**
   * Called with each batch of received lines, in order; the array is the listener's to keep. To
   * slow the transport down, return an Effect: no further lines are delivered until it completes.
   */
  readonly onLines: (lines: Array<string>) => Effect.Effect<void> | undefined
  /**
   * Called once, after the last lines: with the reason when the peer went away, with `undefined`
   * when the owner closed the transport.
   */
  readonly onEnd: (error: TransportError | undefined) => void
}

/**
 * The delivery side of a transport: takes the lines from a push source (`push`, `end`) and hands
 * them to the one consumer, either a {@link Listener} (`listen`) or the `incoming` stream. Lines
 * that arrive before the consumer are kept, and the source is paused when they exceed `capacity`
 * lines, or while a listener applies back-pressure.
 *
 * @since 0.1.0
 * @category internal
 */
export interface Delivery {
  readonly push: (lines: Array<string>) => void
  readonly end: (error: TransportError | undefined) => void
  readonly listen: (listener: Listener) => Effect.Effect<void>
  readonly incoming: Stream.Stream<string, TransportError>
}

/**
 * Creates a {@link Delivery} over a source that can be paused and resumed (`pause` stops further
 * `push` calls until `resume`). `fork` runs back-pressure effects in the background. The end is
 * passed on at once, after the lines held so far, even while the listener applies back-pressure.
 *
 * @since 0.1.0
 * @category internal
 */
export const makeDelivery = (options: {
  readonly pause: () => void
  readonly resume: () => void
  readonly fork: (effect: Effect.Effect<void>) => void
  readonly capacity?: number | undefined
}): Delivery => {
  const capacity = options.capacity ?? 4096
  let listener: Listener | undefined
  /** Lines received before there was a listener, or while it applied back-pressure. */
  let held: Array<string> = []
  let heldPaused = false
  let waiting = false
  /** Inside `onLines`: lines pushed meanwhile (a re-entrant write) wait for it to return, in order. */
  let delivering = false
  let ended: { readonly error: TransportError | undefined } | undefined

  const wait = (effect: Effect.Effect<void>) => {
    waiting = true
    options.pause()
    options.fork(Effect.ensuring(effect, Effect.sync(() => {
      waiting = false
      if (held.length > 0) deliver([])
      if (!waiting) {
        if (ended !== undefined) finish()
        else options.resume()
      }
    })))
  }
  /** Hands `lines`, then whatever was held meanwhile, to the listener, until it applies back-pressure. */
  const deliver = (lines: Array<string>) => {
    let batch = lines
    if (held.length > 0) {
      batch = held
      for (let i = 0; i < lines.length; i++) batch.push(lines[i]!)
      held = []
    }
    delivering = true
    try {
      while (batch.length > 0) {
        const backPressure = listener!.onLines(batch)
        batch = held
        held = []
        if (backPressure !== undefined) {
          held = batch
          wait(backPressure)
          return
        }
      }
    } finally {
      delivering = false
    }
    if (ended !== undefined) finish()
  }
  const finish = () => {
    const current = listener!
    if (current === done) return
    listener = done
    current.onEnd(ended!.error)
  }
  const done: Listener = { onLines: () => undefined, onEnd: () => {} }

  const push = (lines: Array<string>) => {
    if (lines.length === 0) return
    if (listener === undefined || waiting || delivering) {
      for (let i = 0; i < lines.length; i++) held.push(lines[i]!)
      if (listener === undefined && held.length >= capacity && !heldPaused) {
        heldPaused = true
        options.pause()
      }
      return
    }
    deliver(lines)
  }
  const end = (error: TransportError | undefined) => {
    if (ended !== undefined) return
    ended = { error }
    if (listener === undefined || delivering) return // `listen` / `deliver` finish
    if (waiting) {
      // The peer is gone: what is held goes to the listener now, without waiting for it to catch
      // up (its back-pressure effects run in the background), so that the end is not held up by
      // a consumer that stopped reading.
      const lines = held
      held = []
      if (lines.length > 0) {
        const backPressure = listener.onLines(lines)
        if (backPressure !== undefined) options.fork(backPressure)
      }
    }
    finish()
  }
  const listen = (next: Listener) =>
    Effect.suspend(() => {
      if (listener !== undefined) return Effect.dieMessage("Transport: the received lines already have a consumer")
      listener = next
      if (held.length > 0) deliver([])
      if (heldPaused) {
        heldPaused = false
        if (!waiting) options.resume()
      }
      if (ended !== undefined && !waiting) finish()
      return Effect.void
    })

  // `incoming`: a mailbox fed by a listener, claimed on first use. Every run reads the same mailbox,
  // a line at a time, so that a run that stops early (`Stream.take`) leaves the rest to the next.
  let mailbox: Mailbox.Mailbox<string, TransportError> | undefined
  const lineByLine = (inbox: Mailbox.ReadonlyMailbox<string, TransportError>) =>
    Stream.repeatEffectOption(
      Effect.mapError(inbox.take, (error) => Cause.isNoSuchElementException(error) ? Option.none() : Option.some(error))
    )
  const incoming = Stream.unwrap(Effect.suspend(() => {
    if (mailbox !== undefined) return Effect.succeed(lineByLine(mailbox))
    const inbox = Effect.runSync(Mailbox.make<string, TransportError>({ capacity }))
    mailbox = inbox
    return Effect.as(
      listen({
        onLines: (lines) => {
          const rest = inbox.unsafeOfferAll(lines)
          return Chunk.isEmpty(rest) ? undefined : Effect.asVoid(inbox.offerAll(rest))
        },
        onEnd: (error) => {
          inbox.unsafeDone(error === undefined ? Exit.void : Exit.fail(error))
        }
      }),
      lineByLine(inbox)
    )
  }))
  return { push, end, listen, incoming }
}

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

/**
 * Options of the line framing.
 *
 * @since 0.1.0
 * @category framing
 */
export interface LineFramerOptions {
  /** Largest accepted line in UTF-8 bytes, terminator excluded. Default 64 MiB. */
  readonly maxLineBytes?: number | undefined
  /** Drop empty lines (after `"\r"` stripping) instead of delivering `""`. Default false. */
  readonly skipEmptyLines?: boolean | undefined
  /** Called synchronously for every dropped over-long line with its size in bytes and the limit. */
  readonly onLineTooLong?: ((bytes: number, limit: number) => void) | undefined
}

/**
 * A stateful, synchronous line splitter. Feed it byte chunks with `push`; completed lines are
 * appended to the array you pass (so a whole chunk costs one array, and each line one string).
 * Call `end` at end of input for the last unterminated line. After `end` the framer is reset and
 * can be reused.
 *
 * @since 0.1.0
 * @category framing
 */
export interface LineFramer {
  readonly push: (bytes: Uint8Array, out: Array<string>) => void
  /**
   * Like `push`, for text already decoded by the caller (e.g. a Node stream with
   * `setEncoding("utf8")`, which keeps characters split across reads whole). Do not mix with
   * `push` on the same framer.
   */
  readonly pushText: (text: string, out: Array<string>) => void
  readonly end: (out: Array<string>) => void
}

/**
 * Number of UTF-8 bytes of `s.slice(start, end)`, without slicing. Lone surrogates count 3 bytes
 * (they decode to U+FFFD on the way out), matching `Buffer.byteLength`.
 */
const utf8Length = (s: string, start: number, end: number): number => {
  let bytes = 0
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) {
      bytes += 1
    } else if (c < 0x800) {
      bytes += 2
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4
        i++
      } else {
        bytes += 3
      }
    } else {
      bytes += 3
    }
  }
  return bytes
}

const CR = 13

/**
 * Creates a {@link LineFramer}.
 *
 * Cost per chunk: one streaming `TextDecoder.decode`, native `indexOf("\n")` scans and one
 * `slice` per line. Byte sizes are only computed for lines that might exceed the limit (a line of
 * `n` UTF-16 units has between `n` and `3n` UTF-8 bytes) and for the partial line carried to the
 * next chunk.
 *
 * @since 0.1.0
 * @category framing
 */
export const makeLineFramer = (options: LineFramerOptions = {}): LineFramer => {
  const limit = options.maxLineBytes ?? defaultMaxLineBytes
  const skipEmpty = options.skipEmptyLines ?? false
  const onTooLong = options.onLineTooLong
  // every line of at most `safeUnits` UTF-16 units fits for sure
  const safeUnits = Math.floor(limit / 3)
  let decoder = new TextDecoder("utf-8")
  // The one-shot decoder is about 8× faster than the streaming one on Node 20 (only it takes the
  // SIMD path). ignoreBOM: a U+FEFF after a "\n" is content; only the stream's first bytes (which
  // go through the streaming decoder, see `pendingBytes`) may carry a byte order mark to strip.
  const whole = new TextDecoder("utf-8", { ignoreBOM: true })
  /** Bytes of an unfinished line (possibly a split character) may sit in the streaming decoder. */
  let pendingBytes = true
  /** The beginning of the current line, received in earlier chunks. */
  let carry = ""
  let carryBytes = 0
  /** Inside an over-long line: its text is discarded until the next "\n". */
  let skipping = false
  let skippedBytes = 0
  /** Whether the skipped text so far ends with "\r" (it may be the first half of a CRLF). */
  let skippedCr = false

  const tooLong = (bytes: number) => {
    if (onTooLong !== undefined) onTooLong(bytes, limit)
  }

  /** Delivers `text.slice(start, end)` (no carry involved). */
  const emit = (text: string, start: number, end: number, out: Array<string>) => {
    if (end > start && text.charCodeAt(end - 1) === CR) end--
    const units = end - start
    if (units === 0) {
      if (!skipEmpty) out.push("")
    } else if (units <= safeUnits) {
      out.push(text.slice(start, end))
    } else {
      const bytes = utf8Length(text, start, end)
      if (bytes > limit) tooLong(bytes)
      else out.push(text.slice(start, end))
    }
  }

  /** Completes the carried line with `text.slice(0, end)`. */
  const finishCarried = (text: string, end: number, out: Array<string>) => {
    if (skipping) {
      let bytes = skippedBytes + utf8Length(text, 0, end)
      if (end > 0 ? text.charCodeAt(end - 1) === CR : skippedCr) bytes--
      skipping = false
      skippedBytes = 0
      skippedCr = false
      tooLong(bytes)
      return
    }
    let line = end === 0 ? carry : carry + text.slice(0, end)
    let bytes = carryBytes + utf8Length(text, 0, end)
    carry = ""
    carryBytes = 0
    if (line.length > 0 && line.charCodeAt(line.length - 1) === CR) {
      line = line.slice(0, -1)
      bytes--
    }
    if (line.length === 0) {
      if (!skipEmpty) out.push("")
    } else if (bytes > limit) {
      tooLong(bytes)
    } else {
      out.push(line)
    }
  }

  /** Keeps `text.slice(start)` as the beginning of a line that continues in the next chunk. */
  const keep = (text: string, start: number) => {
    const bytes = utf8Length(text, start, text.length)
    if (skipping) {
      skippedBytes += bytes
      if (text.length > start) skippedCr = text.charCodeAt(text.length - 1) === CR
      return
    }
    // a trailing "\r" may be stripped later, hence the +1 of slack
    if (carryBytes + bytes > limit + 1) {
      skipping = true
      skippedBytes = carryBytes + bytes
      skippedCr = text.length > start && text.charCodeAt(text.length - 1) === CR
      carry = ""
      carryBytes = 0
      return
    }
    carry = start === 0 ? (carry.length === 0 ? text : carry + text) : carry + text.slice(start)
    carryBytes += bytes
  }

  const feed = (text: string, out: Array<string>) => {
    let start = 0
    let nl = text.indexOf("\n")
    if (nl !== -1 && (skipping || carry.length > 0)) {
      finishCarried(text, nl, out)
      start = nl + 1
      nl = text.indexOf("\n", start)
    }
    while (nl !== -1) {
      emit(text, start, nl, out)
      start = nl + 1
      nl = text.indexOf("\n", start)
    }
    if (start < text.length) keep(text, start)
  }

  return {
    pushText(text, out) {
      if (text.length > 0) feed(text, out)
    },
    push(bytes, out) {
      if (bytes.length === 0) return
      // "\n" (0x0A) never occurs inside a multi-byte UTF-8 sequence, so the bytes between two "\n"
      // decode on their own with the one-shot decoder. The streaming decoder only sees what may
      // hold a character split across chunks: the start of a chunk up to its first "\n" when an
      // earlier chunk ended mid-line, and the tail after its last "\n".
      let start = 0
      if (pendingBytes) {
        const first = bytes.indexOf(10)
        if (first === -1) {
          const text = decoder.decode(bytes, { stream: true })
          if (text.length > 0) feed(text, out)
          return
        }
        feed(decoder.decode(bytes.subarray(0, first + 1), { stream: true }), out)
        pendingBytes = false
        start = first + 1
      }
      const last = bytes.lastIndexOf(10)
      if (last >= start) {
        feed(whole.decode(start === 0 && last === bytes.length - 1 ? bytes : bytes.subarray(start, last + 1)), out)
        start = last + 1
      }
      if (start < bytes.length) {
        const text = decoder.decode(bytes.subarray(start), { stream: true })
        pendingBytes = true
        if (text.length > 0) feed(text, out)
      }
    },
    end(out) {
      const rest = decoder.decode()
      if (rest.length > 0) feed(rest, out)
      if (skipping || carry.length > 0) finishCarried("", 0, out)
      decoder = new TextDecoder("utf-8")
      pendingBytes = true
      carry = ""
      carryBytes = 0
      skipping = false
      skippedBytes = 0
      skippedCr = false
    }
  }
}

/**
 * Frames a complete list of chunks at once (end of input included). Handy for tests and for
 * one-shot inputs.
 *
 * @since 0.1.0
 * @category framing
 */
export const frameLines = (
  chunks: Iterable<Uint8Array>,
  options: Omit<LineFramerOptions, "onLineTooLong"> = {}
): { readonly lines: ReadonlyArray<string>; readonly tooLong: ReadonlyArray<LineTooLongError> } => {
  const tooLong: Array<LineTooLongError> = []
  const framer = makeLineFramer({
    ...options,
    onLineTooLong: (bytes, limit) => tooLong.push(new LineTooLongError({ bytes, limit }))
  })
  const lines: Array<string> = []
  for (const chunk of chunks) framer.push(chunk, lines)
  framer.end(lines)
  return { lines, tooLong }
}
