import { useRef, useState } from 'preact/hooks'
import { ActionButton } from '../forms.tsx'
import { counted, formatDate, messageOf, Status, useLoad, useRowFocus, useSession } from '../ui.tsx'

const REASONS: Record<string, string> = {
  illegal: 'Illegal',
  copyright: 'Copyright',
  harassment: 'Harassment',
  spam: 'Spam',
  nsfw: 'Sexual / graphic',
  other: 'Other',
}

/** The accounts among the reports shown (the newest 20), once each; the others reported anonymously. */
function SignedInReporters({ entry }: { entry: QueueEntry }) {
  const usernames = [...new Set(entry.reports.flatMap((r) => (r.reporter ? [r.reporter.username] : [])))]
  return usernames.length ? <p class="small" data-testid="signed-in-reporters">Signed-in reporters: {usernames.join(', ')}</p> : null
}

interface QueueEntry {
  target: { type: string; id: string }
  status: 'open' | 'resolved'
  report_id: number
  count: number
  open_count: number
  reasons: Record<string, number>
  last_reported_at: string
  reports: { id: number; reason: string; note: string | null; reporter: { id: string; username: string } | null; status: string; resolution: string | null; resolved_at: string | null; created_at: string }[]
  image: { id: string; title: string | null; is_public: boolean; hidden: boolean; width: number; height: number; thumbnail_path: string; view_url: string } | null
  album: { id: string; title: string; visibility: string; hidden: boolean; image_count: number; thumbnail_path: string | null; view_url: string } | null
  uploader: { id: string; username: string; email: string; is_blocked: boolean } | null
}

type Action = 'dismiss' | 'remove' | 'block-uploader'

const CONFIRM: Record<Action, (entry: QueueEntry) => string> = {
  dismiss: (entry) => `Dismiss these reports? The ${entry.target.type} stays (and is shown again if it was hidden).`,
  remove: (entry) =>
    entry.target.type === 'album'
      ? 'Remove this album for good? Its images stay with their owner; this cannot be undone.'
      : 'Remove this image for good? Its files are deleted; this cannot be undone.',
  'block-uploader': (entry) => `Block ${entry.uploader?.username ?? 'the uploader'}? They are signed out and none of their images is served until unblocked.`,
}

const DONE: Record<Action, (entry: QueueEntry) => string> = {
  dismiss: () => 'Reports dismissed.',
  remove: (entry) => (entry.target.type === 'album' ? 'Album removed.' : 'Image removed.'),
  'block-uploader': () => 'Uploader blocked.',
}

/** The moderation queue: reported images and albums, open ones first, with what was said about them. */
export function AdminReports() {
  const { api, user } = useSession()
  const [showResolved, setShowResolved] = useState(false)
  const [status, setStatus] = useState<{ error?: string; message?: string }>({})
  const [busy, setBusy] = useState<string | null>(null)
  const queue = useLoad(() => api.auth<{ targets: QueueEntry[]; total: number }>('GET', `/api/v1/admin/reports?status=${showResolved ? 'all' : 'open'}&limit=50`), [showResolved])

  const list = useRef<HTMLUListElement>(null)
  const empty = useRef<HTMLParagraphElement>(null)
  const refocus = useRowFocus(list, empty, queue.data)

  const act = async (entry: QueueEntry, action: Action, index: number) => {
    if (!confirm(CONFIRM[action](entry))) return
    setBusy(`${entry.target.id}:${action}`)
    try {
      await api.auth('POST', `/api/v1/admin/reports/${entry.report_id}/${action}`)
      setStatus({ message: DONE[action](entry) })
      refocus(index)
      queue.reload()
    } catch (e) {
      setStatus({ error: messageOf(e) })
    } finally {
      setBusy(null)
    }
  }

  const entries = queue.data?.targets ?? []
  return (
    <>
      <div class="toolbar">
        <label>
          <input type="checkbox" checked={showResolved} onChange={(e) => setShowResolved((e.currentTarget as HTMLInputElement).checked)} /> Show resolved reports too
        </label>
      </div>
      <Status error={status.error ?? queue.error} message={status.message} retry={queue} />
      {/* Focusable: where the focus goes once the last entry is dealt with. Only of a queue read: a failed read is no empty queue. */}
      {queue.data && entries.length === 0 && !queue.loading ? <p tabIndex={-1} ref={empty}>No {showResolved ? '' : 'open '}reports.</p> : null}
      <ul class="report-list" ref={list}>
        {entries.map((entry, index) => {
          const label = entry.image?.title ?? entry.album?.title ?? entry.target.id
          const thumbnail = entry.image?.thumbnail_path ?? entry.album?.thumbnail_path
          const exists = entry.image !== null || entry.album !== null
          return (
            <li key={`${entry.target.type}:${entry.target.id}`} class="report-card" data-testid="report-entry" data-target={entry.target.id}>
              <div class="report-thumb">
                {thumbnail ? (
                  <img src={thumbnail} alt={`Reported ${entry.target.type} ${label}`} loading="lazy" />
                ) : (
                  <span class="muted small">{exists ? `empty ${entry.target.type}` : `${entry.target.type} gone`}</span>
                )}
              </div>
              <div class="report-body">
                <p>
                  {entry.album ? <span class="badge">album</span> : null} <strong>{label}</strong>{' '}
                  {entry.status === 'open' ? <span class="badge private">{entry.open_count} open</span> : <span class="badge">resolved</span>}{' '}
                  {(entry.image ?? entry.album)?.hidden ? <span class="badge private">hidden</span> : null}{' '}
                  {entry.image && !entry.image.is_public ? <span class="badge">private</span> : null}
                </p>
                <p class="small">
                  {counted(entry.count, 'report')}, last {formatDate(entry.last_reported_at)} ·{' '}
                  {Object.entries(entry.reasons).map(([reason, n]) => `${REASONS[reason] ?? reason} ×${n}`).join(', ')}
                </p>
                <p class="small">
                  Uploader: {entry.uploader ? <>{entry.uploader.username} ({entry.uploader.email}){entry.uploader.is_blocked ? <> <span class="badge private">blocked</span></> : null}</> : 'unknown'}
                </p>
                <SignedInReporters entry={entry} />
                {entry.reports.some((r) => r.note) ? (
                  <ul class="small report-notes">
                    {entry.reports.filter((r) => r.note).slice(0, 5).map((r) => <li>“{r.note}” <span class="muted">({REASONS[r.reason] ?? r.reason})</span></li>)}
                  </ul>
                ) : null}
                {entry.status === 'resolved' ? <p class="small muted">Resolved: {entry.reports[0]?.resolution ?? '–'} {formatDate(entry.reports[0]?.resolved_at)}</p> : null}
                <div class="actions">
                  {/* A hidden target stays hidden once its reports are closed by a block: dismiss still shows it again. */}
                  {entry.status === 'open' || entry.image?.hidden || entry.album?.hidden ? (
                    <ActionButton class="secondary small" disabled={busy !== null} onClick={() => act(entry, 'dismiss', index)}>
                      Dismiss<span class="visually-hidden"> reports of {label}</span>
                    </ActionButton>
                  ) : null}
                  {exists ? (
                    <ActionButton class="danger small" disabled={busy !== null} onClick={() => act(entry, 'remove', index)}>
                      Remove {entry.target.type}<span class="visually-hidden"> {label}</span>
                    </ActionButton>
                  ) : null}
                  {entry.status === 'open' && entry.uploader && !entry.uploader.is_blocked && entry.uploader.id !== user?.id ? (
                    <ActionButton class="danger small" disabled={busy !== null} onClick={() => act(entry, 'block-uploader', index)}>
                      Block uploader<span class="visually-hidden"> {entry.uploader.username}</span>
                    </ActionButton>
                  ) : null}
                </div>
              </div>
            </li>
          )
        })}
      </ul>
    </>
  )
}
