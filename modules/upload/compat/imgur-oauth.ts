import { Elysia, t } from 'elysia'
import { type HeaderBag, limitAnonymous } from '#core/auth/guard.ts'
import { ACCESS_TOKEN_LIFETIME_SECONDS, type AppGrant, CLIENT_ID_PATTERN, clientIdRefusal, redeemPin, refreshGrant } from '#core/auth/app-grants.ts'
import { requestMeta } from '#core/auth/sessions.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest } from '#core/errors.ts'
import { clientIp } from '#core/http/client-ip.ts'
import type { ErrorDialects } from '#core/http/error-dialects.ts'
import { htmlErrorPage, personFacing, webAppUrl } from '#core/http/html.ts'
import { applyError, clientError } from './shared.ts'
import { errorData, errorJson, escapeXml, ImgurError, jsonDialect, xml, xmlDialect } from './imgur.ts'

/**
 * Imgur's OAuth 2 PIN flow (https://apidocs.imgur.com/#authorization-and-oauth), as ksnip's
 * signed-in mode uses it: `GET /oauth2/authorize?client_id=…&response_type=pin` sends the person
 * to the web app's consent page, which shows a PIN; the app trades it at `/oauth2/token` (JSON)
 * or `/oauth2/token.xml` (ksnip) for an upload-only API key and a refresh token
 * (src/auth/app-grants.ts). The client secret is not checked: a desktop app cannot keep one
 * secret, so the PIN is the secret, and each call spends the address's anonymous budget.
 */

/** The web app's consent page (modules/web/app/pages/authorize-app.tsx). */
export const CONSENT_PAGE = '/authorize-app'

const clientIdPattern = new RegExp(CLIENT_ID_PATTERN)

const TokenBody = t.Object({
  grant_type: t.Optional(t.String({ maxLength: 64, description: '`pin` or `refresh_token`' })),
  client_id: t.Optional(t.String({ maxLength: 512 })),
  client_secret: t.Optional(t.String({ maxLength: 512, description: 'Not checked: a public client; the PIN is the secret' })),
  pin: t.Optional(t.String({ maxLength: 64, description: 'With grant_type=pin: the PIN the consent page showed' })),
  refresh_token: t.Optional(t.String({ maxLength: 512, description: 'With grant_type=refresh_token: the last refresh token answered; it works once' })),
})

const TokenAnswer = t.Object({
  access_token: t.String({ description: 'An imghost API key (ih_…) with the upload scope only; listed and revocable on the keys page' }),
  expires_in: t.Number({ description: 'The key does not expire (a refresh replaces it): ten years, as Imgur says' }),
  token_type: t.Literal('bearer'),
  refresh_token: t.String({ description: 'Works once: a refresh answers the next one' }),
  account_id: t.String(),
  account_username: t.String(),
})

const required = (value: string | undefined, field: string) => {
  if (!value) throw new BadRequest(`${field} is required`, 'invalid_request')
  return value
}

function grantFor(ctx: AppContext, body: typeof TokenBody.static, meta: ReturnType<typeof requestMeta>): Promise<AppGrant> {
  const grantType = required(body.grant_type, 'grant_type')
  if (grantType !== 'pin' && grantType !== 'refresh_token') {
    throw new BadRequest('grant_type must be pin or refresh_token', 'unsupported_grant_type')
  }
  const clientId = required(body.client_id, 'client_id')
  if (grantType === 'pin') return redeemPin(ctx, { pin: required(body.pin, 'pin'), clientId }, meta)
  return refreshGrant(ctx, { refreshToken: required(body.refresh_token, 'refresh_token'), clientId }, meta)
}

const answerOf = (grant: AppGrant): typeof TokenAnswer.static => ({
  access_token: grant.accessToken,
  expires_in: ACCESS_TOKEN_LIFETIME_SECONDS,
  token_type: 'bearer',
  refresh_token: grant.refreshToken,
  account_id: grant.user.id,
  account_username: grant.user.username,
})

/** The token answer as Imgur's XML: root `<response>`, one element per field (ksnip reads three). */
const responseXml = (answer: typeof TokenAnswer.static) =>
  new Response(
    `<?xml version="1.0" encoding="utf-8"?>\n<response>${Object.entries(answer).map(([name, value]) => `<${name}>${escapeXml(String(value))}</${name}>`).join('')}</response>`,
    { headers: { 'content-type': 'application/xml; charset=utf-8', 'cache-control': 'no-store' } },
  )

/** Why an authorize link cannot be served, or null. */
function authorizeRefusal(query: { client_id?: string; response_type?: string }) {
  if (!query.client_id) return { code: 'invalid_request', message: 'The link names no client_id: the app that sent you here should give one' }
  if (!clientIdPattern.test(query.client_id)) return { code: 'invalid_request', message: 'The client_id is not one this server takes (1 to 80 printable characters, no spaces)' }
  const refusal = clientIdRefusal(query.client_id)
  if (refusal) return { code: 'invalid_client_id', message: refusal }
  if (query.response_type !== 'pin') {
    return { code: 'unsupported_response_type', message: 'Only response_type=pin is served: the app gets a PIN you paste into it' }
  }
  return null
}

type Handler = { body: typeof TokenBody.static | null | undefined; request: Request; server: Parameters<typeof clientIp>[1]; set: { status?: number | string; headers: HeaderBag } }

export const imgurOAuthRoutes = (ctx: AppContext, errorDialects?: ErrorDialects) => {
  errorDialects?.add(['/oauth2/token'], jsonDialect)
  errorDialects?.add(['/oauth2/token.xml'], xmlDialect)
  const token = (asXml: boolean) => async ({ body, request, server, set }: Handler) => {
    try {
      // Anonymous: each call, good or not, spends the address's budget, so PINs cannot be guessed at speed.
      await limitAnonymous(ctx, clientIp(request, server, ctx.config.trustedProxies), set.headers)
      const answer = answerOf(await grantFor(ctx, body ?? {}, requestMeta(ctx, request, server)))
      set.headers['cache-control'] = 'no-store'
      return asXml ? (responseXml(answer) as never) : answer
    } catch (error) {
      const appError = clientError(error)
      applyError(set, appError)
      set.headers['cache-control'] = 'no-store'
      if (asXml) return xml(appError.status, false, errorData(appError, request), { 'cache-control': 'no-store' }) as never
      return errorJson(appError, request) as never
    }
  }
  const tokenOptions = (xmlAnswer: boolean) => ({
    body: t.Optional(TokenBody),
    // ksnip and Imgur's own examples post a form.
    parse: 'urlencoded' as const,
    response: {
      200: xmlAnswer ? t.String({ description: 'application/xml: <response><access_token/><expires_in/><token_type/><refresh_token/><account_id/><account_username/></response>' }) : TokenAnswer,
      ...Object.fromEntries([400, 408, 413, 415, 422, 429, 503].map((status) => [status, xmlAnswer ? t.String() : ImgurError])),
    },
    detail: {
      tags: ['compatible APIs'],
      summary: `Imgur OAuth 2: trade a PIN or a refresh token for an upload-only API key${xmlAnswer ? ' (XML, ksnip)' : ''}`,
      description:
        'Anonymous; each call counts against the address\'s anonymous hourly budget. `grant_type=pin` with `client_id` and `pin` (from the consent page, ' +
        'once, within 10 minutes, for that client id), or `grant_type=refresh_token` with `client_id` and `refresh_token`: the key it answered is revoked, ' +
        'and a new key and refresh token are answered; a refresh token used twice revokes the newest key too. `client_secret` is not checked. ' +
        'Refusals: 400 `invalid_grant` (PIN unknown, used, expired or another client id\'s; a bad or used refresh token), 400 `invalid_request` (a missing field), ' +
        '400 `unsupported_grant_type`, in Imgur\'s error shape.',
      requestBody: {
        required: true,
        // The form ksnip posts: TokenBody's fields (Elysia would otherwise document a JSON body).
        content: { 'application/x-www-form-urlencoded': { schema: TokenBody as never } },
      },
    },
  })
  return new Elysia({ name: 'upload-compat-imgur-oauth', seed: ctx.id })
    .get(
      '/oauth2/authorize',
      ({ query, request }) => {
        const refusal = authorizeRefusal(query)
        if (refusal) return htmlErrorPage({ status: 400, ...refusal }) as never
        return new Response(null, { status: 303, headers: { location: webAppUrl(ctx.config, `${CONSENT_PAGE}${new URL(request.url).search}`), 'cache-control': 'no-store' } }) as never
      },
      {
        ...personFacing,
        query: t.Object({
          client_id: t.Optional(t.String({ maxLength: 512 })),
          response_type: t.Optional(t.String({ maxLength: 64, description: 'pin (the only one served)' })),
          state: t.Optional(t.String({ maxLength: 512 })),
        }),
        response: { 303: t.Void({ description: 'To the web app\'s consent page, the query kept' }), 400: t.String({ description: 'An HTML page: no client_id, or a response_type other than pin' }) },
        detail: {
          tags: ['compatible APIs'],
          summary: 'Imgur OAuth 2: the consent link an app opens (response_type=pin)',
          description: 'Answers 303 to the web app\'s consent page (`/authorize-app`, query kept), where the signed-in person allows the app and is shown a PIN.',
        },
      },
    )
    .post('/oauth2/token', token(false), tokenOptions(false))
    .post('/oauth2/token.xml', token(true), tokenOptions(true))
}
