import { beforeAll, expect, test } from 'bun:test'
import type { TestUser } from '../helpers/http.ts'
import { type TestApp, call, describeEachBackend, migratedEmbeddedSnapshot } from '../helpers/index.ts'
import { firstAdmin, report, uploadedImage } from './support.ts'

await migratedEmbeddedSnapshot()

/** Every target's figures per status, worked out from the reports themselves: what report_targets must hold. */
const figuresFromReports = (app: TestApp) => app.ctx.sql`
  select target_type, target_id, coalesce(status, 'all') as status, count(*)::int as count, (count(*) filter (where status = 'open'))::int as open_count,
         min(created_at) as first_reported_at, max(created_at) as last_reported_at,
         coalesce(max(id) filter (where status = 'open'), max(id))::int8 as report_id, max(target_owner_id::text) as owner_id
  from abuse_reports group by grouping sets ((target_type, target_id, status), (target_type, target_id)) order by 1, 2, 3`
const keptFigures = (app: TestApp) => app.ctx.sql`
  select target_type, target_id, status, count, open_count, first_reported_at, last_reported_at, report_id, owner_id
  from report_targets order by 1, 2, 3`
/** How many targets each view lists, kept (report_target_totals) and counted afresh. */
const keptTotals = (app: TestApp) => app.ctx.sql`select status, targets from report_target_totals order by status`
const countedTotals = (app: TestApp) => app.ctx.sql`
  select views.status, (select count(*)::int from report_targets r where r.status = views.status) as targets
  from (values ('all'), ('open'), ('resolved')) as views(status) order by status`
const expectKeptFiguresRight = async (app: TestApp) => {
  expect(await keptFigures(app)).toEqual(await figuresFromReports(app))
  expect(await keptTotals(app)).toEqual(await countedTotals(app))
}

describeEachBackend(
  'the report queue, from the figures kept per target (report_targets)',
  (app) => {
    let admin: TestUser
    beforeAll(async () => {
      admin = await firstAdmin(app())
    })
    const queue = async (query: string) => {
      const [response, body] = await call(app().auth, 'GET', `/api/v1/admin/reports?${query}`, { token: admin.token })
      expect(response.status, JSON.stringify(body)).toBe(200)
      return body as { targets: { target: { id: string }; status: string; count: number; open_count: number; reasons: Record<string, number>; reports: { id: number }[] }[]; total: number }
    }

    test('25 reports at once: the entry counts every one and every reason, shows the newest 20, and the kept figures match the reports through a dismissal', async () => {
      const { image } = await uploadedImage(app())
      const target = { type: 'image', id: image.id }
      // At once: on PostgreSQL each report is its own transaction, and none may miss another's.
      const filed = await Promise.all(Array.from({ length: 25 }, (_, i) => report(app(), `198.51.100.${i + 1}`, { target, reason: i % 2 ? 'nsfw' : 'spam' })))
      expect(filed.map(([response]) => response.status)).toEqual(Array(25).fill(201))
      await expectKeptFiguresRight(app())

      const open = (await queue('status=open&limit=100')).targets.find((entry) => entry.target.id === image.id)!
      expect(open).toMatchObject({ status: 'open', count: 25, open_count: 25, reasons: { spam: 13, nsfw: 12 } })
      const ids = filed.map(([, body]) => body.report.id as number).sort((a, b) => b - a)
      expect(open.reports.map((shown) => shown.id)).toEqual(ids.slice(0, 20))

      const [dismissed] = await call(app().auth, 'POST', `/api/v1/admin/reports/${ids[0]}/dismiss`, { token: admin.token })
      expect(dismissed.status).toBe(200)
      await expectKeptFiguresRight(app())
      expect((await queue('status=open&limit=100')).targets.find((entry) => entry.target.id === image.id)).toBeUndefined()
      expect((await queue('status=resolved&limit=100')).targets.find((entry) => entry.target.id === image.id)).toMatchObject({ status: 'resolved', count: 25, open_count: 0 })

      // Reported again after the dismissal: under every status, the open report puts it first.
      const [again] = await report(app(), '198.51.100.200', { target, reason: 'other' })
      expect(again.status).toBe(201)
      const all = await queue('status=all&limit=100')
      expect(all.targets[0]).toMatchObject({ target: { id: image.id }, status: 'open', count: 26, open_count: 1 })
      await expectKeptFiguresRight(app())
    })

    test('50,000 reports on 2,500 targets: a page of the queue, its total, and the figures still match, also once they are deleted', async () => {
      const before = (await queue('status=open&limit=1')).total
      const sql = app().ctx.sql
      await sql`
        insert into abuse_reports (target_type, target_id, reason, reporter_key, created_at)
        select 'image', 'bulk' || (n % 2500), case when n % 3 = 0 then 'spam' else 'nsfw' end, 'key' || n, now() - (n || ' seconds')::interval
        from generate_series(1, 50000) as n`
      const started = performance.now()
      const page = await queue('status=open&limit=50&page=2')
      console.log(`queue page 2 of 2,500 targets with 50,000 reports: ${(performance.now() - started).toFixed(0)} ms [${app().backend.name}]`)
      expect(page.total).toBe(before + 2500)
      expect(page.targets.length).toBe(50)
      const bulk = page.targets.filter((shown) => shown.target.id.startsWith('bulk'))
      // Page 2 lies wholly among the bulk targets, so the checks below are on 50 entries, never none.
      expect(bulk.length).toBe(50)
      for (const entry of bulk) {
        expect(entry.count).toBe(20)
        expect(entry.reports.length).toBe(20)
        expect((entry.reasons.spam ?? 0) + (entry.reasons.nsfw ?? 0)).toBe(20)
      }
      await expectKeptFiguresRight(app())
      await sql`delete from abuse_reports where target_id like 'bulk%'`
      expect((await sql`select count(*)::int as n from report_targets where target_id like 'bulk%'`)[0]!.n).toBe(0)
      await expectKeptFiguresRight(app())
      expect((await queue('status=open&limit=1')).total).toBe(before)
    })
  },
  { env: { TRUST_PROXY: 'true', REPORTS_PER_HOUR: '1000' } },
)
