import { Link, useRouteContext } from './router.tsx'
import { counted } from './ui.tsx'
import { isRunning, type UploadQueueState, useUploadQueue } from './upload-queue.ts'

export interface BatchProgress {
  /** Files of the batch (cancelled ones left out). */
  total: number
  running: number
  /** Refused, failed on the way, or held back by the daily limit: the Upload page says which and offers Retry. */
  failed: number
  /** Of the batch's bytes, sent or finished with; floored, so 100 is never shown while one still runs. */
  percent: number
}

/** Where the queue's current batch stands, or null when there is nothing to show (none running, none failed). */
export function batchProgress({ items, batch }: Pick<UploadQueueState, 'items' | 'batch'>): BatchProgress | null {
  const inBatch = items.filter((item) => batch.includes(item.key) && item.status !== 'cancelled')
  const running = inBatch.filter(isRunning)
  const failed = inBatch.filter((item) => item.status === 'error' || item.status === 'not-sent').length
  if (!running.length && !failed) return null
  const bytes = inBatch.reduce((sum, item) => sum + item.file.size, 0)
  const done = inBatch.reduce((sum, item) => sum + (isRunning(item) ? item.loaded : item.file.size), 0)
  return { total: inBatch.length, running: running.length, failed, percent: Math.floor((done / (bytes || 1)) * 100) }
}

/** "Uploading 2 of 5": the file the batch is on, counting those finished with. */
const uploadingWords = ({ total, running }: BatchProgress) => `Uploading ${total - running + 1} of ${total}`

/**
 * The header's line for uploads going on while the person is on another page (the queue outlives
 * the Upload page, upload-queue.ts), linking to that page. The Upload page lists them itself, so it
 * shows none. Screen readers hear the counts change, never the percentage's ticks: the link is
 * outside the live region, which holds only the counts; the region is always there, so that its
 * first words are read out.
 */
export function UploadIndicator() {
  const [, state] = useUploadQueue()
  const route = useRouteContext()
  const progress = route.path === '/upload' ? null : batchProgress(state)
  let shown: string | null = null
  let announced = ''
  if (progress?.running) {
    shown = `${uploadingWords(progress)} · ${progress.percent}%${progress.failed ? ` · ${progress.failed} failed` : ''}`
    announced = `${uploadingWords(progress)}${progress.failed ? `, ${progress.failed} failed` : ''}.`
  } else if (progress) {
    shown = `${counted(progress.failed, 'upload')} failed`
    announced = `${progress.failed} of ${counted(progress.total, 'upload')} failed.`
  }
  return (
    <>
      {shown ? (
        <Link href="/upload" class={`upload-indicator${progress?.failed ? ' failed' : ''}`} data-testid="upload-indicator">
          {shown}
        </Link>
      ) : null}
      <span class="visually-hidden" role="status" data-testid="upload-indicator-status">{announced}</span>
    </>
  )
}
