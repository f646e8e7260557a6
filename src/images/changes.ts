/**
 * Tells the modules of one process that an image changed, synchronously, so the view module drops
 * its cached lookup before the change's request answers. Other processes learn it by NOTIFY
 * (notifyImageChanged in invalidate.ts, the one caller of changed()).
 */
export interface ImageChanges {
  /** Announce that an image's row changed (privatised, deleted, retitled). */
  changed(imageId: string): void
  /** Run `listener` for every change announced in this process; returns the unsubscribe. */
  subscribe(listener: (imageId: string) => void): () => void
}

export function createImageChanges(): ImageChanges {
  const listeners = new Set<(imageId: string) => void>()
  return {
    changed(imageId) {
      for (const listener of listeners) listener(imageId)
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}
