import type { Database } from './index.ts'

/**
 * A Database that exists before the real one is open. At start the server builds its apps, which
 * keep `ctx.db`, while PGlite's WebAssembly still compiles on another thread (src/context.ts,
 * startContext); the database opened meanwhile is then handed over with `open`.
 *
 * Until then the only thing allowed is `listen` (the view module and the image list cache
 * subscribe as they are built): it is made once the database is open, and `open` resolves only
 * when every such LISTEN is in place, so the server, which listens after that, never serves a
 * change whose notification nobody hears. Anything else before `open` is a programming error and
 * throws at once instead of waiting for a database that the caller is holding up.
 */
export interface DeferredDatabase extends Database {
  open(database: Database): Promise<void>
}

export function deferredDatabase(kind: Database['kind']): DeferredDatabase {
  let opened: Database | undefined
  let pendingListens: (() => Promise<unknown>)[] = []
  const current = () => {
    if (opened) return opened
    throw new Error('the database was used before it was open: only listen() may be called while the server builds its apps')
  }
  return {
    kind,
    get sql() {
      return current().sql
    },
    get health() {
      return current().health
    },
    listen(channel, onNotify, onListen) {
      if (opened) return opened.listen(channel, onNotify, onListen)
      return new Promise((resolve, reject) => {
        pendingListens.push(() => opened!.listen(channel, onNotify, onListen).then(resolve, reject))
      })
    },
    get changePropagationMs() {
      return current().changePropagationMs
    },
    notificationsCurrent: () => current().notificationsCurrent(),
    notificationsDelivered: () => current().notificationsDelivered(),
    changesPropagated: () => current().changesPropagated(),
    // Before open there is nothing to close.
    close: async () => {
      await opened?.close()
    },
    async open(database) {
      if (database.kind !== kind) throw new Error(`expected a ${kind} database, got ${database.kind}`)
      opened = database
      const listens = pendingListens
      pendingListens = []
      // A failed LISTEN is its caller's to handle (each logs it and carries on without); settled is enough.
      await Promise.all(listens.map((start) => start()))
    },
  }
}
