import type { AppContext } from '#core/context.ts'
import type { UploadModel } from './model.ts'

/**
 * The GET /images pages this process has answered, so that asking again runs no query (issue 12
 * §3: the list query was most of an authenticated call's CPU).
 *
 * A page stays true because sql/00018 NOTIFYs the owner's id on IMAGE_LIST_CHANGED_CHANNEL for
 * every committed change to one of their images, from whatever code, replica or psql session
 * made it; every process then drops all of that account's pages. On PostgreSQL a page is used
 * only once every notification committed more than Database.changePropagationMs earlier has been
 * applied (notificationsCurrent, else notificationsDelivered), and a request that may write
 * answers only after that long: the very next call after a change made through the API, in any
 * process, sees it. On the embedded database a notification arrives with its writer's own reply:
 * memory is always current.
 *
 * Time ends a page too: it lists the first `limit + 1` images that had not ended when it was
 * read, so it stays right until the earliest `expires_at` among them (an image beyond them that
 * ends cannot change which come first). Images ended by their view budget are dropped by the
 * notification of the `views_served` update. TTL_MS bounds how long a page could outlive a lost
 * notification.
 */
export const IMAGE_LIST_CHANGED_CHANNEL = 'imghost_image_list_changed'

const TTL_MS = 10_000
/**
 * Pages kept, across accounts, and their JSON's total length (each page is held as JSON and as
 * the object the pipeline returns, about three times that in memory): past either the oldest go
 * first. A page of 100 images is about 70 KB of JSON.
 */
const MAX_PAGES = 4_096
const MAX_JSON_CHARS = 8 * 1024 * 1024

export type ImageListPage = typeof UploadModel.list.response[200]['static']

interface Entry {
  userId: string
  page: ImageListPage
  /** The page as JSON (the pre-route answer sends it as is). */
  json: string
  /** ctx.clock epoch ms at which an image on the page ends; Infinity when none does. */
  endsAt: number
  loadedAt: number
}

export interface ImageListCache {
  keyOf(userId: string, limit: number, cursor: string | undefined, q: string | undefined): string
  /**
   * The page when memory can be trusted without waiting (Database.notificationsCurrent), else
   * undefined: then cached(), which waits for the notification barrier first.
   */
  cachedNow(key: string): ImageListPage | undefined
  /**
   * The page's JSON text (what the pre-route answer sends) from memory on any database, true
   * only while notificationsCurrent() or once notificationsDelivered() resolved after the call began.
   */
  heldJson(key: string, now?: Date): string | undefined
  cached(key: string): Promise<ImageListPage | undefined>
  /**
   * Runs `read` and keeps its page, unless a change was announced while it ran (the page might
   * predate it) or this process is not (yet) listening.
   */
  fill(userId: string, key: string, read: () => Promise<{ page: ImageListPage; endsAt: number }>): Promise<ImageListPage>
}

export function createImageListCache(ctx: AppContext): ImageListCache {
  const entries = new Map<string, Entry>()
  const keysOfUser = new Map<string, Set<string>>()
  let jsonChars = 0
  /** Bumped by every notification: a page read before one may be stale, so it is not kept. */
  let generation = 0
  let trusted = false
  const clock = ctx.clock

  const drop = (key: string) => {
    const entry = entries.get(key)
    if (!entry) return
    entries.delete(key)
    jsonChars -= entry.json.length
    const keys = keysOfUser.get(entry.userId)
    keys?.delete(key)
    if (keys?.size === 0) keysOfUser.delete(entry.userId)
  }
  const forgetUser = (userId: string) => {
    generation++
    for (const key of [...(keysOfUser.get(userId) ?? [])]) drop(key)
  }
  // (Re)connected, or the database found unreachable: whatever was said while no one listened is unknown, so what was kept goes.
  const resubscribed = () => {
    generation++
    entries.clear()
    keysOfUser.clear()
    jsonChars = 0
    trusted = true
  }
  void ctx.db
    .listen(IMAGE_LIST_CHANGED_CHANNEL, forgetUser, resubscribed)
    .then((unlisten) =>
      ctx.onClose(async () => {
        trusted = false
        await unlisten()
      }),
    )
    .catch((error) => ctx.log.warn({ msg: 'image list cache: cannot listen for changes, every list is read', error: String(error) }))

  const usable = (key: string, now = clock.now()): Entry | undefined => {
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    if (performance.now() - entry.loadedAt > TTL_MS || now.getTime() >= entry.endsAt) {
      drop(key)
      return undefined
    }
    return entry
  }

  return {
    // The cursor's length first: a cursor and a search text, either of which may hold spaces, never read as another pair.
    keyOf: (userId, limit, cursor = '', q = '') => `${userId} ${limit} ${cursor.length} ${cursor} ${q}`,
    cachedNow(key) {
      return trusted && ctx.db.notificationsCurrent() ? usable(key)?.page : undefined
    },
    heldJson(key, now) {
      return trusted ? usable(key, now)?.json : undefined
    },
    async cached(key) {
      if (!trusted || entries.get(key) === undefined) return undefined
      try {
        await ctx.db.notificationsDelivered()
      } catch {
        return undefined
      }
      // A notification applied while waiting may have dropped it.
      return trusted ? usable(key)?.page : undefined
    },
    async fill(userId, key, read) {
      const before = generation
      const { page, endsAt } = await read()
      if (trusted && before === generation && clock.now().getTime() < endsAt) {
        const json = JSON.stringify(page)
        drop(key)
        while (entries.size > 0 && (entries.size >= MAX_PAGES || jsonChars + json.length > MAX_JSON_CHARS)) drop(entries.keys().next().value!)
        entries.set(key, { userId, page, json, endsAt, loadedAt: performance.now() })
        jsonChars += json.length
        let keys = keysOfUser.get(userId)
        if (!keys) keysOfUser.set(userId, (keys = new Set()))
        keys.add(key)
      }
      return page
    },
  }
}
