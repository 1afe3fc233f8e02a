/**
 * Cursor paging as a Stream: each page is requested when the stream needs it, the next cursor
 * taken from the page, until a page has none.
 *
 * @since 0.1.0
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

/**
 * A page of a cursor-paged list method (`thread/list`, `thread/turns/list`, …).
 *
 * @since 0.1.0
 * @internal
 */
export interface Page<A> {
  readonly data: ReadonlyArray<A>
  readonly nextCursor?: string | null
}

/**
 * Every element of every page, in order; `fetch` gets the cursor of the page to read
 * (`undefined` for the first). A failed page fails the stream after the elements before it.
 *
 * @since 0.1.0
 * @internal
 */
export const paginate = <A, E>(fetch: (cursor: string | undefined) => Effect.Effect<Page<A>, E>): Stream.Stream<A, E> =>
  Stream.paginateChunkEffect(undefined as string | undefined, (cursor) =>
    Effect.map(fetch(cursor), (page) => {
      const next = page.nextCursor
      return [Chunk.unsafeFromArray(page.data), typeof next === "string" && next !== "" ? Option.some(next) : Option.none()] as const
    }))
