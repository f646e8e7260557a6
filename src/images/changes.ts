/**
 * Tells the modules of one process that an image's visibility changed, so the view module can
 * drop its cached lookup at once instead of after its TTL. Other processes (replicas, split
 * mode) have no such signal: they see the change when their lookup expires (one second).
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
