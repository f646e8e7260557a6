import { afterAll, beforeAll, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { PLAN_LIMITS } from '#core/config.ts'
import { describeEachBackend } from '../helpers/index.ts'
import { recordingLogger } from '../helpers/flows.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'
import { seedLargeOriginal } from '../helpers/zip.ts'
import { eventually } from '../view/support.ts'
import { createAlbum, readZip, setImages, signUp, uploadImage, type Owner } from './support.ts'

/**
 * The bytes of an album's ZIP are its owner's bandwidth (modules/albums/zip.ts): what was sent,
 * whole or cut short, lands in user_usage of the UTC day, and the monthly limit is decided from
 * it (and mailed) as after a batch of views.
 */
const START = new Date('2030-05-20T12:00:00.000Z')
const DAY = '2030-05-20'
const clock = manualClock(START)
const FREE = PLAN_LIMITS.free.bandwidthBytesPerMonth
const smtp = await startSmtpSink()
const log = recordingLogger()
afterAll(() => smtp.stop())

describeEachBackend(
  'album ZIP: bandwidth',
  (app) => {
    let base: string
    let stop: () => void
    beforeAll(() => {
      clock.set(START)
      const listening = app().view.listen({ hostname: '127.0.0.1', port: 0, reusePort: false })
      base = `http://127.0.0.1:${listening.server!.port}`
      stop = () => listening.stop(true)
    })
    afterAll(() => stop?.())

    const usedOn = async (owner: Owner, day = DAY) => {
      const [row] = await app().ctx.sql<{ bytes: number }[]>`
        select coalesce(sum(bandwidth_used), 0)::int8 as bytes from user_usage where user_id = ${owner.id} and date = ${day}::date`
      return Number(row!.bytes)
    }
    const zipOf = async (albumId: string, init: RequestInit = {}) => app().view.handle(new Request(`http://localhost/a/${albumId}.zip`, init))
    const albumOf = async (owner: Owner, count = 2) => {
      const ids: string[] = []
      for (let i = 0; i < count; i++) ids.push((await uploadImage(app(), owner, { isPublic: true, name: `photo-${i}.png` })).id)
      const album = await createAlbum(app(), owner, { title: 'Trip', visibility: 'unlisted' })
      await setImages(app(), owner, album.id, ids)
      return album
    }

    test("a whole ZIP counts its bytes into the owner's day; a HEAD counts nothing", async () => {
      const owner = await signUp(app())
      const album = await albumOf(owner)
      const head = await zipOf(album.id, { method: 'HEAD' })
      expect(head.status).toBe(200)
      const response = await zipOf(album.id)
      expect(response.status).toBe(200)
      const body = Buffer.from(await response.arrayBuffer())
      expect((await readZip(body)).size).toBe(2)
      await eventually(async () => (await usedOn(owner)) >= body.byteLength, 5_000)
      // Long enough for a HEAD's count, had there been one, to land too.
      await Bun.sleep(200)
      expect(await usedOn(owner)).toBe(body.byteLength)

      // A second download adds to the same day; the owner's own download counts as their images' do.
      const again = await zipOf(album.id, { headers: { 'x-api-key': owner.apiKey } })
      const second = (await again.arrayBuffer()).byteLength
      await eventually(async () => (await usedOn(owner)) === body.byteLength + second, 5_000)
    })

    test('a download cut short counts what went out, not the whole archive', async () => {
      const owner = await signUp(app())
      const objectBytes = 16 * 1024 * 1024
      const ids = [await seedLargeOriginal(app(), owner.id, objectBytes), await seedLargeOriginal(app(), owner.id, objectBytes), await seedLargeOriginal(app(), owner.id, objectBytes)]
      const album = await createAlbum(app(), owner, { title: 'Heavy', visibility: 'unlisted' })
      await setImages(app(), owner, album.id, ids)

      const response = await fetch(`${base}/a/${album.id}.zip`)
      expect(response.status).toBe(200)
      const reader = response.body!.getReader()
      let received = 0
      while (received < 2 * 1024 * 1024) {
        const { value, done } = await reader.read()
        if (done) throw new Error('the archive ended before the test cut it short')
        received += value.byteLength
      }
      await reader.cancel()
      await eventually(async () => (await usedOn(owner)) > 0, 10_000)
      const counted = await usedOn(owner)
      console.log(`[${app().backend.name}] cut short: ${received} bytes read, ${counted} counted`)
      expect(counted).toBeGreaterThanOrEqual(received)
      // What the connection's buffers took beyond what was read, at most: far from the 48 MB archive.
      expect(counted).toBeLessThan(received + objectBytes)
    }, 60_000)

    test('a ZIP that reaches the monthly limit limits the owner at once and mails them once', async () => {
      const owner = await signUp(app())
      const album = await albumOf(owner, 1)
      await app().ctx.sql`insert into user_usage (user_id, date, bandwidth_used) values (${owner.id}, '2030-05-03', ${FREE - 1})`
      const first = await zipOf(album.id)
      expect(first.status).toBe(200)
      await first.arrayBuffer()
      await eventually(async () => (await zipOf(album.id)).status === 429, 5_000)
      const mail = await smtp.waitFor(mailTo(owner.email, /monthly bandwidth is used up/))
      expect(mail.text).toContain("the free plan allows 10 GiB a month")
      expect(mail.text).toContain('Until 2030-06-01 00:00 UTC')
      expect(mail.text).toContain('An administrator can move your account to a bigger plan')

      // The owner's own download still goes out, and counts; the limit stands, so no second mail.
      const own = await zipOf(album.id, { headers: { 'x-api-key': owner.apiKey } })
      expect(own.status).toBe(200)
      const before = await usedOn(owner)
      const ownBytes = (await own.arrayBuffer()).byteLength
      await eventually(async () => (await usedOn(owner)) === before + ownBytes, 5_000)
      await app().ctx.mailer.idle()
      expect(smtp.messages.filter(mailTo(owner.email, /monthly bandwidth/))).toHaveLength(1)
    })

    test('usage that cannot be written is logged; the download is whole all the same', async () => {
      const owner = await signUp(app())
      const album = await albumOf(owner, 1)
      // A real refusal by the database, for this owner's rows only.
      await app().ctx.sql.unsafe(`
        create or replace function refuse_usage_of_test_owner() returns trigger language plpgsql as $$
        begin if new.user_id = '${owner.id}' then raise exception 'usage refused for the test'; end if; return new; end $$`)
      await app().ctx.sql.unsafe('create trigger refuse_usage before insert on user_usage for each row execute function refuse_usage_of_test_owner()')
      try {
        const response = await zipOf(album.id)
        expect(response.status).toBe(200)
        expect((await readZip(Buffer.from(await response.arrayBuffer()))).size).toBe(1)
        await eventually(async () => log.entries.some((entry) => entry.msg === 'album ZIP bandwidth not counted' && entry.user_id === owner.id), 5_000)
        expect(await usedOn(owner)).toBe(0)
      } finally {
        await app().ctx.sql.unsafe('drop trigger refuse_usage on user_usage')
      }
    })
  },
  { clock, env: smtp.env, log },
)
