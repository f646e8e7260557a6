import type { AppContext } from '#core/context.ts'
import { publishEvent } from '#core/events/index.ts'
import type { JobDefinitions, JobRun } from '#core/jobs/registry.ts'
import * as repo from './repo.ts'

/** Albums per transaction: short transactions, since the embedded database has one connection. */
const BATCH = 100
const DAY_MS = 86_400_000

/**
 * Deletes the albums whose end has passed. Their share pages, ZIPs and profile cards have been
 * 404 since that instant; this removes the rows (the images stay, as when the owner deletes an
 * album) and writes an album.expired event for each, in the same transaction.
 */
async function expireAlbums(ctx: AppContext, run: JobRun) {
  run.counts.albums_deleted = 0
  for (;;) {
    run.signal.throwIfAborted()
    const deleted = await ctx.sql.begin(async (tx) => {
      const albums = await repo.deleteExpiredAlbums(tx, ctx.clock.now(), BATCH)
      for (const album of albums) {
        await publishEvent(tx, {
          type: 'album.expired',
          userId: album.user_id,
          data: { id: album.id, title: album.title, expires_at: new Date(album.expires_at!).toISOString() },
        })
      }
      return albums.length
    })
    run.counts.albums_deleted += deleted
    if (deleted < BATCH) return
  }
}

/** Visitor keys older than yesterday: their salt is gone, so they could never match a visitor again. */
async function pruneAlbumVisitors(ctx: AppContext, run: JobRun) {
  const yesterday = new Date(ctx.clock.now().getTime() - DAY_MS).toISOString().slice(0, 10)
  run.counts.album_visitor_keys = await repo.pruneAlbumVisitors(ctx.sql, yesterday)
}

export const albumJobs = {
  'album-expiry': {
    schedule: '*/5 * * * *',
    description: 'Deletes albums whose expiry date has passed and tells their webhooks; the images in them stay.',
    run: expireAlbums,
  },
  housekeeping: {
    schedule: '45 * * * *',
    description: 'Removes album visitor keys older than a day.',
    run: pruneAlbumVisitors,
  },
} satisfies JobDefinitions
