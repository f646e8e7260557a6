import { expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { type TestApp, call, describeEachBackend, registerUser } from '../helpers/index.ts'
import { COMPAT_ENV, distinctPng, expectServes } from './compat-support.ts'
import { signUp } from './support.ts'
import { CRON_TOKEN, runJobNow } from '../helpers/flows.ts'

/**
 * Imgur's OAuth 2 PIN flow as ksnip's signed-in mode drives it (ksnip's src/backend/uploader/imgur/
 * ImgurWrapper.cpp): the requests below are ksnip's own, with Qt's headers and its form built by
 * appending `name=value` pairs unencoded.
 */

const clock = manualClock()

const KSNIP_HEADERS = { 'user-agent': 'Mozilla/5.0', 'accept-encoding': 'gzip, deflate', 'accept-language': 'en-US,*', connection: 'Keep-Alive' }
const KSNIP_FORM = { ...KSNIP_HEADERS, 'content-type': 'application/x-www-form-urlencoded' }
const CLIENT_ID = 'ksnipclient01'
const SECRET = '0123456789abcdef0123456789abcdef01234567'

/** ksnip's getAccessToken: `client_id=…&client_secret=…&grant_type=pin&pin=…`, posted as is. */
const pinForm = (pin: string, clientId = CLIENT_ID) => `client_id=${clientId}&client_secret=${SECRET}&grant_type=pin&pin=${pin}`
/** ksnip's refreshToken: `refresh_token=…&client_id=…&client_secret=…&grant_type=refresh_token`. */
const refreshForm = (token: string, clientId = CLIENT_ID) => `refresh_token=${token}&client_id=${clientId}&client_secret=${SECRET}&grant_type=refresh_token`

/** The text of each named element of an XML answer. */
const elements = (xml: string) => Object.fromEntries([...xml.matchAll(/<([a-z_]+)>([^<]*)<\/\1>/g)].map((m) => [m[1]!, m[2]!]))

async function postForm(app: TestApp, path: string, body: string, headers: Record<string, string> = KSNIP_FORM) {
  const response = await app.upload.handle(new Request(`http://localhost${path}`, { method: 'POST', headers, body }))
  return [response, await response.text()] as const
}

async function issuePin(app: TestApp, token: string, clientId = CLIENT_ID) {
  const [response, body] = await call(app.auth, 'POST', '/api/v1/app-pins', { token, body: { client_id: clientId } })
  expect(response.status, JSON.stringify(body)).toBe(201)
  return body.pin as string
}

const expectXmlError = (response: Response, text: string, status: number, code: string, path = '/oauth2/token.xml') => {
  expect(response.status, text).toBe(status)
  expect(response.headers.get('content-type')).toContain('application/xml')
  expect(text).toStartWith('<?xml version="1.0" encoding="utf-8"?>\n<data type="array" success="0" status="' + status + '">')
  expect(elements(text)).toEqual({ error: expect.any(String), code, request: path, method: 'POST' })
}

const expectJsonError = (response: Response, text: string, status: number, code: string) => {
  expect(response.status, text).toBe(status)
  expect(JSON.parse(text)).toEqual({ data: { error: expect.any(String), code, request: '/oauth2/token', method: 'POST' }, success: false, status })
}

/** ksnip's signed-in upload: the raw PNG labelled urlencoded, `Authorization: Bearer <access_token>`, title in the query. */
async function ksnipUpload(app: TestApp, accessToken: string, bytes: Uint8Array) {
  const response = await app.upload.handle(
    new Request('http://localhost/3/upload.xml?title=shot&description=', { method: 'POST', headers: { ...KSNIP_FORM, authorization: `Bearer ${accessToken}` }, body: bytes as unknown as BodyInit }),
  )
  return [response, await response.text()] as const
}

describeEachBackend(
  'Imgur OAuth 2 PIN flow (ksnip signed in): /oauth2/authorize, /oauth2/token(.xml)',
  (app) => {
    test('ksnip end to end: authorize → PIN → token.xml → Bearer upload → refresh rotates the key → a reused refresh token is refused and ends the chain', async () => {
      const user = await signUp(app())
      // "Get PIN" opens the authorize link in the browser: it leads to the web app's consent page, the query kept.
      const [authorize] = await call(app().upload, 'GET', `/oauth2/authorize?client_id=${CLIENT_ID}&response_type=pin`)
      expect(authorize.status).toBe(303)
      expect(authorize.headers.get('location')).toBe(`${app().config.publicUrls.auth}/authorize-app?client_id=${CLIENT_ID}&response_type=pin`)

      const pin = await issuePin(app(), user.token)
      expect(pin).toMatch(/^[0-9A-HJKMNP-TV-Z]{10}$/)
      const [tokenResponse, tokenXml] = await postForm(app(), '/oauth2/token.xml', pinForm(pin))
      expect(tokenResponse.status, tokenXml).toBe(200)
      expect(tokenResponse.headers.get('content-type')).toContain('application/xml')
      expect(tokenResponse.headers.get('cache-control')).toBe('no-store')
      expect(tokenXml).toStartWith('<?xml version="1.0" encoding="utf-8"?>\n<response>')
      const granted = elements(tokenXml)
      expect(granted).toEqual({
        access_token: expect.stringMatching(/^ih_[A-Za-z0-9]{40}$/),
        expires_in: '315360000',
        token_type: 'bearer',
        refresh_token: expect.stringMatching(/^[A-Za-z0-9]{40}$/),
        account_id: user.id,
        account_username: user.username,
      })

      const bytes = await distinctPng()
      const [uploaded, uploadedXml] = await ksnipUpload(app(), granted.access_token!, bytes)
      expect(uploaded.status, uploadedXml).toBe(200)
      expect(uploadedXml).toContain('<data type="array" success="1" status="200">')
      await expectServes(app(), elements(uploadedXml).link!, bytes)
      const [[owned]] = [await app().ctx.sql<{ user_id: string }[]>`select user_id from images where id = ${elements(uploadedXml).id!}`]
      expect(owned!.user_id).toBe(user.id)

      // Refresh: a new key and refresh token; the old key is revoked at once.
      const [refreshed, refreshedXml] = await postForm(app(), '/oauth2/token.xml', refreshForm(granted.refresh_token!))
      expect(refreshed.status, refreshedXml).toBe(200)
      const next = elements(refreshedXml)
      expect(next.access_token).not.toBe(granted.access_token)
      expect(next.refresh_token).not.toBe(granted.refresh_token)
      expect(next.account_username).toBe(user.username)
      const [oldKey, oldKeyXml] = await ksnipUpload(app(), granted.access_token!, await distinctPng())
      expect(oldKey.status, oldKeyXml).toBe(401)
      const [newKey, newKeyXml] = await ksnipUpload(app(), next.access_token!, await distinctPng())
      expect(newKey.status, newKeyXml).toBe(200)

      // The first refresh token again: it was stolen. Refused, and the chain's newest key goes too.
      const [reused, reusedXml] = await postForm(app(), '/oauth2/token.xml', refreshForm(granted.refresh_token!))
      expectXmlError(reused, reusedXml, 400, 'invalid_grant')
      expect(elements(reusedXml).error).toBe('This refresh token was already used: the app must be authorized again')
      const [afterReuse, afterReuseXml] = await ksnipUpload(app(), next.access_token!, await distinctPng())
      expect(afterReuse.status, afterReuseXml).toBe(401)
      // And the chain's latest refresh token is dead with it. It was never used, and is not told it was:
      // the app holding it learns that an older token was replayed (outside test h19 "clients" #3).
      const endedByReplay = 'This app\'s authorization was ended because an older refresh token of it was used again (it may have been stolen): authorize the app again'
      const [latest, latestXml] = await postForm(app(), '/oauth2/token.xml', refreshForm(next.refresh_token!))
      expectXmlError(latest, latestXml, 400, 'invalid_grant')
      expect(elements(latestXml).error).toBe(endedByReplay.replace("'", '&apos;'))
      const [latestJson, latestText] = await postForm(app(), '/oauth2/token', refreshForm(next.refresh_token!))
      expectJsonError(latestJson, latestText, 400, 'invalid_grant')
      expect(JSON.parse(latestText).data.error).toBe(endedByReplay)

      // Audited as keys made and revoked by hand are, naming the app.
      const audit = await app().ctx.sql<{ action: string; detail: any }[]>`
        select action, detail from audit_log where user_id = ${user.id} and action like 'key.%' and detail ? 'client_id' order by id`
      expect(audit.map((row) => [row.action, row.detail.via, row.detail.client_id])).toEqual([
        ['key.created', 'oauth_pin', CLIENT_ID],
        ['key.revoked', 'oauth_refresh', CLIENT_ID],
        ['key.created', 'oauth_refresh', CLIENT_ID],
        ['key.revoked', 'oauth_refresh_token_reused', CLIENT_ID],
      ])
      expect(audit[0]!.detail.scopes).toEqual(['upload'])
    })

    test('/oauth2/token (JSON) answers Imgur\'s fields; the key is upload-only, listed on the keys page and revocable there, which ends the refresh chain', async () => {
      const user = await signUp(app())
      const [response, text] = await postForm(app(), '/oauth2/token', new URLSearchParams({ client_id: CLIENT_ID, client_secret: 'whatever', grant_type: 'pin', pin: (await issuePin(app(), user.token)).toLowerCase() }).toString())
      expect(response.status, text).toBe(200)
      expect(response.headers.get('content-type')).toContain('application/json')
      const body = JSON.parse(text)
      expect(body).toEqual({
        access_token: expect.stringMatching(/^ih_/),
        expires_in: 315360000,
        token_type: 'bearer',
        refresh_token: expect.any(String),
        account_id: user.id,
        account_username: user.username,
      })
      const [listed, list] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: user.token })
      expect(listed.status).toBe(200)
      const key = list.api_keys.find((k: any) => k.key_name === `Imgur app “${CLIENT_ID}”`)
      expect(key, JSON.stringify(list)).toBeDefined()
      expect(key.scopes).toEqual(['upload'])
      expect(body.access_token.startsWith(key.prefix)).toBe(true)
      // Upload only: it cannot list the images.
      const [images] = await call(app().upload, 'GET', '/images', { headers: { authorization: `Bearer ${body.access_token}` } })
      expect(images.status).toBe(403)

      const [revoked] = await call(app().auth, 'DELETE', `/api/v1/api-keys/${key.id}`, { token: user.token })
      expect(revoked.status).toBe(200)
      const [gone, goneXml] = await ksnipUpload(app(), body.access_token, await distinctPng())
      expect(gone.status, goneXml).toBe(401)
      // A key revoked by its owner stays revoked: refreshing does not bring the app back.
      const [refresh, refreshText] = await postForm(app(), '/oauth2/token', refreshForm(body.refresh_token))
      expectJsonError(refresh, refreshText, 400, 'invalid_grant')
      // Asked again, it is still the key's revocation, not a token "already used".
      for (let i = 0; i < 2; i++) {
        const [again, againText] = await postForm(app(), '/oauth2/token', refreshForm(body.refresh_token))
        expectJsonError(again, againText, 400, 'invalid_grant')
        expect(JSON.parse(againText).data.error).toBe('This app\'s key was revoked: authorize it again')
      }
    })

    test('a PIN works once, for its client id only, for 10 minutes', async () => {
      const user = await signUp(app())
      const pin = await issuePin(app(), user.token)
      const [first, firstXml] = await postForm(app(), '/oauth2/token.xml', pinForm(pin))
      expect(first.status, firstXml).toBe(200)
      const [twice, twiceXml] = await postForm(app(), '/oauth2/token.xml', pinForm(pin))
      expectXmlError(twice, twiceXml, 400, 'invalid_grant')

      const other = await issuePin(app(), user.token, 'another-app')
      const [wrongClient, wrongClientText] = await postForm(app(), '/oauth2/token', pinForm(other))
      expectJsonError(wrongClient, wrongClientText, 400, 'invalid_grant')

      const late = await issuePin(app(), user.token)
      clock.advance(10 * 60_000 + 1000)
      const [expired, expiredXml] = await postForm(app(), '/oauth2/token.xml', pinForm(late))
      expectXmlError(expired, expiredXml, 400, 'invalid_grant')
      expect(elements(expiredXml).error).toContain('expired')

      const inTime = await issuePin(app(), user.token)
      clock.advance(9 * 60_000)
      const [ok, okXml] = await postForm(app(), '/oauth2/token.xml', pinForm(inTime))
      expect(ok.status, okXml).toBe(200)
    })

    test('housekeeping drops PINs past their time and refresh tokens spent 90 days ago, keeping a chain\'s current one', async () => {
      const user = await signUp(app())
      const [first, firstXml] = await postForm(app(), '/oauth2/token.xml', pinForm(await issuePin(app(), user.token)))
      expect(first.status, firstXml).toBe(200)
      const [refreshed, refreshedText] = await postForm(app(), '/oauth2/token', refreshForm(elements(firstXml).refresh_token!))
      expect(refreshed.status, refreshedText).toBe(200)
      await issuePin(app(), user.token)
      const rows = async () => (await app().ctx.sql<{ pins: number; tokens: number }[]>`
        select (select count(*)::int from app_pins where user_id = ${user.id}) as pins,
               (select count(*)::int from app_refresh_tokens where user_id = ${user.id}) as tokens`)[0]!
      expect(await rows()).toEqual({ pins: 1, tokens: 2 })

      clock.advance(11 * 60_000)
      const [afterPin, afterPinBody] = await runJobNow(app(), 'housekeeping')
      expect(afterPin.status, JSON.stringify(afterPinBody)).toBe(200)
      expect(afterPinBody.run.counts.app_pins).toBeGreaterThanOrEqual(1)
      expect(await rows()).toEqual({ pins: 0, tokens: 2 })

      // A second chain, ended by a replay: its current token, revoked but never used, is kept as long.
      const [other, otherXml] = await postForm(app(), '/oauth2/token.xml', pinForm(await issuePin(app(), user.token)))
      expect(other.status, otherXml).toBe(200)
      const [otherNext, otherNextXml] = await postForm(app(), '/oauth2/token.xml', refreshForm(elements(otherXml).refresh_token!))
      expect(otherNext.status, otherNextXml).toBe(200)
      const [replayed] = await postForm(app(), '/oauth2/token.xml', refreshForm(elements(otherXml).refresh_token!))
      expect(replayed.status).toBe(400)
      await runJobNow(app(), 'housekeeping')
      expect(await rows()).toEqual({ pins: 0, tokens: 4 })

      clock.advance(91 * 86_400_000)
      await runJobNow(app(), 'housekeeping')
      // The spent tokens and the ended chain go; the first chain's current one stays, and still refreshes.
      expect(await rows()).toEqual({ pins: 0, tokens: 1 })
      const [again, againText] = await postForm(app(), '/oauth2/token', refreshForm(JSON.parse(refreshedText).refresh_token))
      expect(again.status, againText).toBe(200)
    })

    test('every refusal in both shapes: missing fields, unknown grant_type, unknown PIN and refresh token, a JSON body, a field too long', async () => {
      const cases: [string, number, string][] = [
        ['client_id=a&pin=ABCDEFGHJK', 400, 'invalid_request'],
        ['grant_type=password&client_id=a&username=u&password=p', 400, 'unsupported_grant_type'],
        ['grant_type=pin&pin=ABCDEFGHJK', 400, 'invalid_request'],
        [`grant_type=pin&client_id=${CLIENT_ID}`, 400, 'invalid_request'],
        [`grant_type=refresh_token&client_id=${CLIENT_ID}`, 400, 'invalid_request'],
        [pinForm('ABCDEFGHJK'), 400, 'invalid_grant'],
        [refreshForm('not-a-refresh-token'), 400, 'invalid_grant'],
        [`grant_type=pin&client_id=${CLIENT_ID}&pin=${'A'.repeat(65)}`, 422, 'validation_failed'],
        ['', 400, 'invalid_request'],
      ]
      for (const [form, status, code] of cases) {
        const [xmlResponse, xmlText] = await postForm(app(), '/oauth2/token.xml', form)
        expectXmlError(xmlResponse, xmlText, status, code)
        const [jsonResponse, jsonText] = await postForm(app(), '/oauth2/token', form)
        expectJsonError(jsonResponse, jsonText, status, code)
      }
      // Only a form is read: JSON is refused in Imgur's shape too.
      const json = { ...KSNIP_HEADERS, 'content-type': 'application/json' }
      const [xmlJson, xmlJsonText] = await postForm(app(), '/oauth2/token.xml', JSON.stringify({ grant_type: 'pin' }), json)
      expectXmlError(xmlJson, xmlJsonText, 415, 'unsupported_media_type')
      const [jsonJson, jsonJsonText] = await postForm(app(), '/oauth2/token', JSON.stringify({ grant_type: 'pin' }), json)
      expectJsonError(jsonJson, jsonJsonText, 415, 'unsupported_media_type')
    })

    test('/oauth2/authorize: no client_id or another response_type is a 400 page for the person looking, not a redirect', async () => {
      for (const query of ['response_type=pin', `client_id=${CLIENT_ID}&response_type=code`, `client_id=${CLIENT_ID}&response_type=token`, `client_id=${CLIENT_ID}`, 'client_id=has%20space&response_type=pin']) {
        const [response, text] = await call(app().upload, 'GET', `/oauth2/authorize?${query}`, { headers: { accept: 'text/html' } })
        expect(response.status, query).toBe(400)
        expect(response.headers.get('location')).toBeNull()
        expect(response.headers.get('content-type')).toContain('text/html')
        expect(text).toContain(query.includes('client_id=ksnip') ? 'unsupported_response_type' : 'invalid_request')
      }
      // An API key as the client id (ksnip's anonymous setting carried over) is refused before it is shown anywhere.
      const [key, keyPage] = await call(app().upload, 'GET', '/oauth2/authorize?client_id=ih_abcdefghijklmnopqrstuvwxyz0123456789ABCD&response_type=pin', { headers: { accept: 'text/html' } })
      expect(key.status).toBe(400)
      expect(key.headers.get('location')).toBeNull()
      expect(keyPage).toContain('invalid_client_id')
    })

    test('a PIN needs a session (not an API key) and a verified address', async () => {
      const user = await signUp(app())
      const [byKey] = await call(app().auth, 'POST', '/api/v1/app-pins', { apiKey: user.apiKey, body: { client_id: CLIENT_ID } })
      expect([401, 403]).toContain(byKey.status)
      const unverified = await registerUser(app().auth)
      const [refused, body] = await call(app().auth, 'POST', '/api/v1/app-pins', { token: unverified.token, body: { client_id: CLIENT_ID } })
      expect(refused.status, JSON.stringify(body)).toBe(403)
      expect(body.error.code).toBe('email_not_verified')
      const [badId, badIdBody] = await call(app().auth, 'POST', '/api/v1/app-pins', { token: user.token, body: { client_id: 'x'.repeat(81) } })
      expect(badId.status, JSON.stringify(badIdBody)).toBe(422)
      // The refusal is a sentence stating the real rule: a space is printable ASCII, yet refused.
      const [spaced, spacedBody] = await call(app().auth, 'POST', '/api/v1/app-pins', { token: user.token, body: { client_id: 'a b' } })
      expect([spaced.status, spacedBody.error.message]).toEqual([
        422,
        "Invalid input: client_id must be the app's client id as it will send it to /oauth2/token: 1 to 80 printable ASCII characters, no spaces",
      ])
      const [keyAsId, keyAsIdBody] = await call(app().auth, 'POST', '/api/v1/app-pins', { token: user.token, body: { client_id: user.apiKey } })
      expect(keyAsId.status, JSON.stringify(keyAsIdBody)).toBe(400)
      expect(keyAsIdBody.error.code).toBe('invalid_client_id')
    })
  },
  { env: { ...COMPAT_ENV, CRON_SECRET_TOKEN: CRON_TOKEN }, clock },
)

describeEachBackend(
  'Imgur OAuth 2 token route: each call spends the address\'s anonymous budget',
  (app) => {
    test('PIN guesses past ANONYMOUS_REQUESTS_PER_HOUR are 429 in Imgur\'s shape, a right PIN too', async () => {
      const user = await signUp(app())
      const pin = await issuePin(app(), user.token)
      // Signing up was one anonymous call from this address; two guesses are the rest.
      for (let i = 0; i < 2; i++) {
        const [guess, guessXml] = await postForm(app(), '/oauth2/token.xml', pinForm(`GUESS0000${i}`))
        expectXmlError(guess, guessXml, 400, 'invalid_grant')
      }
      const [limited, limitedXml] = await postForm(app(), '/oauth2/token.xml', pinForm(pin))
      expectXmlError(limited, limitedXml, 429, 'rate_limited')
      expect(limited.headers.get('retry-after')).toMatch(/^\d+$/)
      const [limitedJson, limitedJsonText] = await postForm(app(), '/oauth2/token', pinForm(pin))
      expectJsonError(limitedJson, limitedJsonText, 429, 'rate_limited')
    })
  },
  { env: { ...COMPAT_ENV, ANONYMOUS_REQUESTS_PER_HOUR: '3' } },
)
