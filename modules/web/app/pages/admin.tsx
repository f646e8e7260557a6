import { useEffect, useRef, useState } from 'preact/hooks'
import { Chart } from '../chart.tsx'
import { ActionButton, Form, SubmitButton } from '../forms.tsx'
import { Link, navigate, useRouteContext } from '../router.tsx'
import { Pager } from '../pager.tsx'
import { AdminAudit } from './admin-audit.tsx'
import { AdminReports } from './admin-reports.tsx'
import { InvitesPanel } from './invites.tsx'
import { NotFoundPage } from './public.tsx'
import { TableWrap } from '../table-wrap.tsx'
import { PageTitle, Status, type User, counted, formatBytes, formatDate, messageOf, useFieldStatus, useLoad, useRefocus, useRowFocus, useSession } from '../ui.tsx'
import { ApiError } from '../api.ts'
import { cronInWords } from '../cron-words.ts'

const PLANS = ['free', 'pro', 'enterprise']
/** The most the API takes (modules/admin/model.ts; modules may not import each other). */
const MAX_UPLOAD_LIMIT = 10_000_000
/** The rule of a user's daily upload limit, naming whose: the refusal is read where the field is, beside other users' fields. */
const uploadLimitRule = (user: User) => `Daily upload limit of ${user.username}: a whole number from 0 to ${MAX_UPLOAD_LIMIT}, or empty for the plan’s own.`
/** The message saying what is wrong with the daily upload limit refused, shown under its field. */
const UPLOAD_LIMIT_ERROR_ID = 'upload-limit-error'
/** The field of one user's daily upload limit, as `useFieldStatus` names it: one such field in each row. */
const uploadLimitField = (user: User) => `upload_limit_per_day:${user.id}`
const PAGE_SIZE = 20

/**
 * A user's plan, applied by its Set button only. The drop-down's change event would not do: a
 * keyboard user looking through the options with ↓ changes it at each key press, and each change
 * would be saved at once, unasked.
 */
function PlanChoice({ user, apply }: { user: User; apply: (plan: string) => Promise<unknown> }) {
  const [choice, setChoice] = useState(user.plan_type)
  // The list reloaded with another plan (applied here, or elsewhere): the choice starts from it.
  useEffect(() => setChoice(user.plan_type), [user.plan_type])
  const unchanged = choice === user.plan_type
  return (
    <Form class="inline" onSubmit={() => (unchanged ? undefined : apply(choice))}>
      <select aria-label={`Plan of ${user.username}`} value={choice} onChange={(event) => setChoice((event.currentTarget as HTMLSelectElement).value)}>
        {PLANS.map((plan) => <option value={plan}>{plan}</option>)}
      </select>
      {/* aria-disabled, not disabled: once applied, the button keeps the focus (a disabled one drops it to the page). */}
      <button type="submit" class={unchanged ? 'secondary small unchanged' : 'secondary small'} aria-disabled={unchanged || undefined}>
        Set<span class="visually-hidden"> plan of {user.username}</span>
      </button>
    </Form>
  )
}

/** A user as the admin API lists them (modules/admin/model.ts): the month's bandwidth too. */
interface AdminUser extends User {
  bandwidth_used_month: number
  bandwidth_limit_month: number
  /** While the month's bandwidth is used up: when the limit lifts. Null otherwise. */
  bandwidth_limited_until: string | null
}

/**
 * What an account stores and serves: its storage, and this month's bandwidth beside the plan's.
 * Once that is used up its images are refused to everyone but the owner until the month turns,
 * which this says with when (an owner asking why their links stopped working is the admin's case).
 */
function Usage({ user }: { user: AdminUser }) {
  return (
    <>
      <span class="usage-line">Storage: {formatBytes(user.storage_used)}</span>
      <span class="usage-line small">
        Bandwidth: {formatBytes(user.bandwidth_used_month, { precise: true })} of {formatBytes(user.bandwidth_limit_month, { precise: true })} this month
      </span>
      {user.bandwidth_limited_until ? (
        <span class="usage-line small" data-testid="bandwidth-limited-until">
          Limited until <time dateTime={user.bandwidth_limited_until}>{formatDate(user.bandwidth_limited_until)}</time>
        </span>
      ) : null}
    </>
  )
}

/** A noun for a count shown apart from it (the figure in bold): "1 user", "2 users". */
const plural = (count: number, noun: string) => (count === 1 ? noun : `${noun}s`)

/**
 * Promoting hands over the whole server: it is asked twice, as deleting is. Demoting takes
 * nothing away that cannot be given back at once, so it is not.
 */
const confirmPromotion = (user: User) =>
  confirm(`Make ${user.username} an administrator? They will be able to manage every account, image and setting on this server.`)

/**
 * Blocking signs the person out and takes every image, album and link of theirs offline at once:
 * asked first, as promoting and deleting are. Unblocking gives it all back, so it is not.
 */
const confirmBlock = (user: User) =>
  confirm(`Block ${user.username}? They are signed out everywhere, their API keys stop working, and their images, albums and links answer “not found” until you unblock them.`)

/** Where an account stands: blocked, on its way out (its owner asked for its deletion), or active. */
function UserState({ user }: { user: User }) {
  if (user.is_blocked) return <span class="badge private">Blocked</span>
  if (user.delete_scheduled_for) return <span class="badge private">Deletion scheduled ({formatDate(user.delete_scheduled_for)})</span>
  return <span class="badge public">Active</span>
}

/**
 * The search and page shown live in the address (`?q=&page=`, as on /gallery), so a reload or
 * Back returns to them. A page that is no whole number from 1 up is the first.
 */
interface UserListing {
  query: string
  page: number
}

const userListingOf = (params: URLSearchParams): UserListing => {
  const page = Number(params.get('page'))
  return { query: params.get('q')?.trim() ?? '', page: Number.isSafeInteger(page) && page >= 1 ? page : 1 }
}

/** `path`: /admin or /admin/users, whichever shows the list (a search there does not open another page). */
function userListingHref(path: string, { query, page }: UserListing) {
  const params = new URLSearchParams()
  if (query) params.set('q', query)
  if (page > 1) params.set('page', String(page))
  const search = params.toString()
  return search ? `${path}?${search}` : path
}

function Users() {
  const { api, user: me } = useSession()
  const route = useRouteContext()
  const { query, page } = userListingOf(route.query)
  const showListing = (listing: UserListing) => navigate(userListingHref(route.path, listing))
  // A refused daily upload limit is about the field of one row: it marks that field, says so under it, and keeps the focus there.
  const { status, setStatus, refuse, errorOf } = useFieldStatus(UPLOAD_LIMIT_ERROR_ID, (field) => `[name="${field.split(':')[0]}"]`)
  const list = useLoad(
    async () => api.auth<{ users: AdminUser[]; total: number }>('GET', `/api/v1/admin/users?${new URLSearchParams({ page: String(page), limit: String(PAGE_SIZE), q: query })}`),
    [page, query],
  )
  const rows = useRef<HTMLTableSectionElement>(null)
  const empty = useRef<HTMLParagraphElement>(null)
  const refocus = useRowFocus(rows, empty, list.data)
  // Enter in the search box re-creates it (it is keyed by the search): the new one takes the focus.
  const searchBox = useRef<HTMLInputElement>(null)
  const refocusAfterSearch = useRefocus(query)
  // What was said of a row ("bob unblocked.") belongs to the listing it was said on, not to the next search or page.
  useEffect(() => setStatus({}), [query, page])
  const change = async (user: User, body: Record<string, unknown>, message: string, index: number, form?: HTMLFormElement) => {
    try {
      await api.auth('PATCH', `/api/v1/admin/users/${user.id}`, body)
      setStatus({ message })
      refocus(index)
      list.reload()
    } catch (e) {
      const limitRefused = form && e instanceof ApiError && e.details.some((problem) => problem.field === 'upload_limit_per_day')
      if (limitRefused) refuse(form, uploadLimitRule(user), uploadLimitField(user))
      else setStatus({ error: messageOf(e) })
    }
  }
  const remove = async (user: User, index: number) => {
    if (!confirm(`Delete ${user.username} (${user.email})? The account is blocked at once, then removed with all its images, albums and data. This cannot be undone.`)) return
    try {
      await api.auth('DELETE', `/api/v1/admin/users/${user.id}`)
      setStatus({ message: `${user.username} is being deleted.` })
      refocus(index)
      list.reload()
    } catch (e) {
      setStatus({ error: messageOf(e) })
    }
  }
  const pages = Math.max(1, Math.ceil((list.data?.total ?? 0) / PAGE_SIZE))
  return (
    <>
      <form
        class="toolbar"
        role="search"
        onSubmit={(event) => {
          event.preventDefault()
          const searched = String(new FormData(event.currentTarget).get('q') ?? '').trim()
          if (searched !== query) refocusAfterSearch(() => searchBox.current)
          showListing({ query: searched, page: 1 })
        }}
      >
        <label for="user-search" class="visually-hidden">Search users by email or username</label>
        {/* Keyed by the search, so Back to another search shows its text. */}
        <input key={query} ref={searchBox} id="user-search" name="q" type="search" placeholder="Email or username" defaultValue={query} />
        <button type="submit" class="secondary">Search</button>
      </form>
      {/* A refused field's message is under the field instead. */}
      <Status error={status.field ? undefined : (status.error ?? list.error)} message={status.message} retry={list} />
      {list.error ? null : (
        <TableWrap label="Users">
          <table class="users">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Plan</th>
                <th scope="col">Uploads / day</th>
                <th scope="col">Usage</th>
                <th scope="col">Status</th>
                <th scope="col"><span class="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody ref={rows}>
              {(list.data?.users ?? []).map((user, index) => (
                <tr key={user.id} data-testid="admin-user-row">
                  <td>
                    <strong>{user.username}</strong>
                    <br />
                    <span class="small muted">{user.email}</span>
                    {/* In the first column: at 390 px the table scrolls, and the usage column is off the screen. */}
                    {user.bandwidth_limited_until ? (
                      <>
                        <br />
                        <span class="badge private" data-testid="bandwidth-limited">Bandwidth used up</span>
                      </>
                    ) : null}
                  </td>
                  <td>
                    <PlanChoice user={user} apply={(plan) => change(user, { plan_type: plan }, `${user.username} is now on ${plan}.`, index)} />
                  </td>
                  <td>
                    <Form
                      class="inline"
                      onSubmit={(event) => {
                        const form = event.currentTarget as HTMLFormElement
                        const raw = String(new FormData(form).get('upload_limit_per_day') ?? '')
                        return change(user, { upload_limit_per_day: raw ? Number(raw) : null }, `Upload limit of ${user.username} saved.`, index, form)
                      }}
                    >
                      <input
                        name="upload_limit_per_day"
                        type="number"
                        min={0}
                        max={MAX_UPLOAD_LIMIT}
                        class="narrow-input"
                        defaultValue={String(user.upload_limit_per_day)}
                        aria-label={`Daily upload limit of ${user.username}`}
                        aria-invalid={errorOf(uploadLimitField(user)) ? true : undefined}
                        aria-describedby={errorOf(uploadLimitField(user))}
                      />
                      <SubmitButton class="secondary small">Set<span class="visually-hidden"> daily upload limit of {user.username}</span></SubmitButton>
                    </Form>
                    {errorOf(uploadLimitField(user)) ? <Status error={status.error} errorId={UPLOAD_LIMIT_ERROR_ID} /> : null}
                  </td>
                  <td class="usage">
                    <Usage user={user} />
                  </td>
                  <td>
                    <UserState user={user} /> {user.is_admin ? <span class="badge">Admin</span> : null}
                  </td>
                  <td class="actions">
                    {user.id !== me?.id ? (
                      <>
                        {/* Another admin is blocked or deleted only once demoted (409 demote_first). */}
                        {user.is_admin && !user.is_blocked ? null : (
                          <ActionButton class={user.is_blocked ? 'secondary small' : 'danger small'} onClick={() => (user.is_blocked || confirmBlock(user) ? change(user, { is_blocked: !user.is_blocked }, `${user.username} ${user.is_blocked ? 'unblocked' : 'blocked'}.`, index) : undefined)}>
                            {user.is_blocked ? 'Unblock' : 'Block'}
                            <span class="visually-hidden"> {user.username}</span>
                          </ActionButton>
                      )}
                      {/* A blocked account is promoted only once unblocked (409 unblock_first); a blocked admin can still be demoted. */}
                      {user.is_blocked && !user.is_admin ? null : (
                        <ActionButton class="secondary small" onClick={() => (user.is_admin || confirmPromotion(user) ? change(user, { is_admin: !user.is_admin }, `${user.username} ${user.is_admin ? 'is no longer' : 'is now'} an admin.`, index) : undefined)}>
                          {user.is_admin ? 'Demote' : 'Promote'}
                          <span class="visually-hidden"> {user.username}</span>
                        </ActionButton>
                      )}
                      {user.is_admin ? null : (
                        <ActionButton class="danger small" onClick={() => remove(user, index)}>
                          Delete<span class="visually-hidden"> {user.username}</span>
                        </ActionButton>
                      )}
                    </>
                  ) : <span class="small muted">you</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      )}
      {/* Focusable: where the focus goes once the last row on view is gone. */}
      {list.data?.users.length === 0 ? <p tabIndex={-1} ref={empty}>No users match.</p> : null}
      {/* Counted only once read: a failed read is no list of 0 users. */}
      {list.data ? (
        <Pager
          position={`Page ${page} of ${pages} (${counted(list.data.total, 'user')})`}
          toPrevious={page > 1 ? () => showListing({ query, page: Math.min(page, pages) - 1 }) : null}
          toNext={page < pages ? () => showListing({ query, page: page + 1 }) : null}
          shown={list.data}
        />
      ) : null}
    </>
  )
}

function Stats() {
  const { api } = useSession()
  const stats = useLoad(() => api.auth('GET', '/api/v1/admin/stats'))
  const s = stats.data
  // The status line stays on the page once the figures come, so Try again's focus can go to the heading.
  return (
    <>
      <Status error={stats.error} retry={stats} />
      {s ? <StatsFigures s={s} /> : stats.error ? null : <p>Loading…</p>}
    </>
  )
}

function StatsFigures({ s }: { s: any }) {
  return (
    <>
      <ul class="figures">
        <li><strong>{s.users.total}</strong> {plural(s.users.total, 'user')}</li>
        {Object.entries(s.users.by_plan as Record<string, number>).map(([plan, count]) => <li><strong>{count}</strong> on {plan}</li>)}
        <li><strong>{s.images.total}</strong> {plural(s.images.total, 'image')}</li>
        <li><strong>{formatBytes(s.storage.used_bytes)}</strong> stored</li>
        <li><strong>{s.users.deletion_scheduled}</strong> {plural(s.users.deletion_scheduled, 'deletion')} scheduled</li>
      </ul>
      <Chart title={`Uploads per day, last ${s.days} days`} dates={s.uploads_per_day.map((d: any) => d.date)} series={[{ label: 'Uploads', values: s.uploads_per_day.map((d: any) => d.count) }]} />
      <Chart title={`Views per day, last ${s.days} days`} dates={s.views_per_day.map((d: any) => d.date)} series={[{ label: 'Views', values: s.views_per_day.map((d: any) => d.count) }]} />
    </>
  )
}

function Jobs() {
  const { api } = useSession()
  const jobs = useLoad(() => api.auth('GET', '/api/v1/admin/jobs?limit=20'))
  const [status, setStatus] = useState<{ error?: string; message?: string }>({})
  const [running, setRunning] = useState<string | null>(null)
  const run = async (name: string) => {
    setRunning(name)
    try {
      const answer = await api.auth('POST', `/api/v1/admin/jobs/${name}/run`)
      setStatus({ message: `${name}: ${answer.run.status}.` })
      jobs.reload()
    } catch (e) {
      setStatus({ error: messageOf(e) })
    } finally {
      setRunning(null)
    }
  }
  return (
    <>
      <Status error={status.error ?? jobs.error} message={status.message} retry={jobs} />
      {/* No empty table for a list that could not be read. At phone width each row is a card
          (styles.css, table.jobs): the name with its Run now button on top, then when it runs, so
          neither scrolls away from the other. */}
      {jobs.data ? (
        <TableWrap label="Jobs">
          <table class="jobs">
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col"><span class="visually-hidden">Actions</span></th>
                <th scope="col">Schedule</th>
                <th scope="col">Last run</th>
                <th scope="col">Next run</th>
              </tr>
            </thead>
            <tbody>
              {jobs.data.jobs.map((job: any) => (
                <tr data-testid="job" data-job={job.name}>
                  <td class="job-name"><strong>{job.name}</strong><br /><span class="small muted">{job.description}</span></td>
                  <td class="job-action"><ActionButton class="secondary small" onClick={() => run(job.name)}>{running === job.name ? 'Running…' : 'Run now'}<span class="visually-hidden"> {job.name}</span></ActionButton></td>
                  <td data-label="Schedule">{cronInWords(job.schedule, job.timezone)} <span class="small muted">(<code title="cron expression">{job.schedule}</code>)</span></td>
                  <td data-label="Last run">{job.last_run ? <>{formatDate(job.last_run.started_at)} · {job.last_run.status}{job.last_run.error ? ` (${job.last_run.error})` : ''}</> : 'never'}</td>
                  <td data-label="Next run">{formatDate(job.next_run_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      ) : null}
    </>
  )
}

const TABS = {
  users: ['Users', Users], stats: ['Statistics', Stats], jobs: ['Jobs', Jobs], invites: ['Invites', InvitesPanel],
  reports: ['Reports', AdminReports], audit: ['Audit log', AdminAudit],
} as const

export function AdminPage({ tab = 'users' }: { tab?: string }) {
  const { api, user } = useSession()
  // REQUIRE_ADMIN_2FA: an admin without a second factor is sent to set one up.
  useEffect(() => {
    if (user?.is_admin) api.auth('GET', '/api/v1/auth/2fa').then((s) => s.required && !s.enabled && navigate('/security?required=1', true), () => {})
  }, [])
  // Own keys only: `tab in TABS` holds for `toString` too.
  if (!Object.hasOwn(TABS, tab)) return <NotFoundPage />
  if (!user?.is_admin) return <><PageTitle>Administrators only</PageTitle><p>This page is for administrators.</p></>
  const current = tab as keyof typeof TABS
  const [label, Panel] = TABS[current]
  return (
    <section>
      {/* Each section has its own tab title, so the browser's history and tabs tell them apart. */}
      <PageTitle title={`${label} · Admin`}>Admin</PageTitle>
      <nav class="tabs" aria-label="Admin sections">
        {Object.entries(TABS).map(([key, [label]]) => (
          <Link href={`/admin/${key}`} aria-current={key === current ? 'page' : undefined}>{label}</Link>
        ))}
      </nav>
      <Panel />
    </section>
  )
}
