/**
 * What a user sends to a turn: a plain string, typed input items, or an array of both.
 *
 * @since 0.1.0
 */
import type * as Protocol from "@effect-codex/protocol/generated/Schemas"

/**
 * One input item of the protocol (text, image, local image, skill, mention, audio).
 *
 * @since 0.1.0
 * @category models
 */
export type Item = Protocol.UserInput

/**
 * Input accepted by `Thread.run` / `Thread.turn` / `TurnHandle.steer`.
 *
 * @since 0.1.0
 * @category models
 */
export type Input = string | Item | ReadonlyArray<string | Item>

/**
 * Text input.
 *
 * @since 0.1.0
 * @category constructors
 */
export const text = (value: string): Item => ({ type: "text", text: value, textElements: [] })

/**
 * An image by URL (`https:` or a `data:` URL).
 *
 * @since 0.1.0
 * @category constructors
 */
export const image = (url: string, detail?: Protocol.ImageDetail): Item =>
  detail === undefined ? { type: "image", url } : { type: "image", url, detail }

/**
 * An image file on the machine that runs `codex app-server`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const localImage = (path: string, detail?: Protocol.ImageDetail): Item =>
  detail === undefined ? { type: "localImage", path } : { type: "localImage", path, detail }

/**
 * A skill to use, by name and path of its `SKILL.md`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const skill = (name: string, path: string): Item => ({ type: "skill", name, path })

/**
 * A mention of a file or resource, by display name and path.
 *
 * @since 0.1.0
 * @category constructors
 */
export const mention = (name: string, path: string): Item => ({ type: "mention", name, path })

/**
 * The protocol's input list for any {@link Input}.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toItems = (input: Input): ReadonlyArray<Item> => {
  if (typeof input === "string") return [text(input)]
  if (isArray(input)) return input.map((i) => (typeof i === "string" ? text(i) : i))
  return [input as Item]
}

const isArray = (input: Input): input is ReadonlyArray<string | Item> => Array.isArray(input)
