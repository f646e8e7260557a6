import { generateCodeVerifier, generateState } from 'arctic'
import { createHash, timingSafeEqual } from 'node:crypto'
import type { UserRow } from '#core/auth/principal.ts'
import type { Config } from '#core/config.ts'
import type { AppContext } from '#core/context.ts'
import { BadRequest, Conflict, Forbidden, Unauthorized } from '#core/errors.ts'
import { isUniqueViolation } from '#core/db/errors.ts'
import { audit } from '#core/audit/record.ts'
import { type OidcSignIn, type RequestMeta, startSession } from '#core/auth/sessions.ts'
import { sha256Hex } from '#core/auth/tokens.ts'
import { admitAccount, assertMayRegister, hashInviteCode } from '#core/registration/index.ts'
import { findTakenIdentity } from '#core/users/repo.ts'
import { nameFromProvider } from '#core/users/public.ts'
import type { OAuthProvider, OidcProvider, ProviderProfile } from './oauth-providers.ts'
import { beginSecondStep } from './login-second-step.ts'
import { badLogoutToken } from './oidc.ts'
import * as repo from './repo.ts'

/** A sign-in must come back from the provider within this; the state cookie lives as long. */
export const OAUTH_STATE_TTL_SECONDS = 600
export const OAUTH_STATE_COOKIE = 'oauth_state'

const hashState = (state: string) => createHash('sha256').update(state).digest('hex')

/**
 * Where a browser may be sent after signing in: only the platform's own URLs (its three public
 * URLs and FRONTEND_URL). Paths are resolved against the auth server first, so "//evil.example",
 * "/\evil.example" and "javascript:" all end up with a foreign origin and are refused.
 */
export function safeRedirect(config: Config, value: string | undefined): string {
  // Without ?redirect=: the web app's gallery, a page for the person the browser now holds a session for.
  const fallback = config.frontendUrl ?? `${config.publicUrls.auth}/gallery`
  if (value === undefined || value.trim() === '') return fallback
  let target: URL
  try {
    target = new URL(value.trim(), `${config.publicUrls.auth}/`)
  } catch {
    throw new BadRequest('redirect must be a URL of this platform', 'invalid_redirect')
  }
  const ownOrigins = new Set(
    [config.publicUrls.auth, config.publicUrls.upload, config.publicUrls.view, config.frontendUrl]
      .filter((url): url is string => !!url)
      .map((url) => new URL(url).origin),
  )
  if ((target.protocol !== 'http:' && target.protocol !== 'https:') || !ownOrigins.has(target.origin)) {
    throw new BadRequest('redirect must be a URL of this platform', 'invalid_redirect')
  }
  return target.href
}

/** The web app's login page, which shows the second step, then goes on to where the sign-in was headed. */
function secondStepPage(config: Config, redirectTo: string, token: string) {
  const page = new URL('/login', config.publicUrls.auth)
  const target = new URL(redirectTo)
  if (target.origin === page.origin) page.searchParams.set('next', target.pathname + target.search)
  page.hash = `two_factor=${token}`
  return page.href
}

/**
 * Step one: remember the state (and PKCE verifier, OIDC nonce, invite) server-side, bind it to
 * this browser by cookie. The invite is only looked at if the sign-in makes a new account.
 */
export async function beginSignIn(ctx: AppContext, provider: OAuthProvider, redirect: string | undefined, invite: string | undefined) {
  const redirectTo = safeRedirect(ctx.config, redirect)
  const state = generateState()
  const codeVerifier = provider.usesPkce ? generateCodeVerifier() : null
  // Same entropy as the state; it travels in the ID token, never in a cookie.
  const nonce = provider.usesNonce ? generateState() : null
  const url = await provider.authorizationUrl(state, codeVerifier, nonce)
  await repo.insertOAuthState(ctx.sql, {
    stateHash: hashState(state),
    provider: provider.name,
    codeVerifier,
    redirectTo,
    expiresAt: new Date(ctx.clock.now().getTime() + OAUTH_STATE_TTL_SECONDS * 1000),
    nonce,
    inviteHash: invite?.trim() ? hashInviteCode(invite) : null,
  })
  return { url: url.toString(), state }
}

const sameState = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))

/**
 * Step two, the callback: the state must match this browser's cookie and a live, unused
 * server-side record (a replayed callback finds it gone); then the code is exchanged (with the
 * PKCE verifier for Google) and the profile read; then the account is found or made.
 */
export async function finishSignIn(
  ctx: AppContext,
  provider: OAuthProvider,
  query: { code?: string; state?: string; error?: string },
  cookieState: string | undefined,
  meta: RequestMeta,
  /** A remembered device's token (its cookie): an account with 2FA then skips the second step. */
  trustedDeviceToken?: string,
) {
  if (query.error) throw new Unauthorized(`${provider.label} sign-in was not completed (${query.error.slice(0, 100)})`, 'oauth_denied')
  if (!query.state || !cookieState || !sameState(query.state, cookieState)) {
    throw new BadRequest('The sign-in state does not match this browser; start the sign-in again', 'invalid_oauth_state')
  }
  const pending = await repo.takeOAuthState(ctx.sql, hashState(query.state), provider.name, ctx.clock.now())
  if (!pending) throw new BadRequest('This sign-in has expired or was already used; start again', 'invalid_oauth_state')
  if (!query.code) throw new BadRequest('The provider sent no code', 'invalid_oauth_callback')
  const profile = await provider.signIn(query.code, pending.code_verifier, pending.nonce)
  const user = await findOrCreateAccount(ctx, provider, profile, pending.invite_hash, meta)
  const redirectTo = pending.redirect_to ?? safeRedirect(ctx.config, undefined)
  // An account with 2FA finishes on the web app's login page. The token rides in the fragment,
  // which browsers send to no server and put in no Referer.
  const oidc = oidcSignIn(provider, profile)
  const { secondStep, remembered } = await beginSecondStep(ctx, user, trustedDeviceToken, oidc)
  if (secondStep) return { secondStep, redirectTo: secondStepPage(ctx.config, redirectTo, secondStep.challenge_token) }
  const session = await startSession(ctx, user, meta, oidc)
  await audit(ctx, { action: 'auth.login', userId: user.id, detail: { method: remembered ? `${provider.name}+trusted_device` : provider.name } }, meta)
  return { user, ...session, redirectTo }
}

/**
 * The provider's back-channel logout: the sessions its logout token names end here too, and every
 * process forgets them at once (sql/00024). How many ended: none is an answer, not an error (the
 * person may have logged out here first).
 */
export async function endProviderSessions(ctx: AppContext, provider: OidcProvider, logoutToken: string, meta: RequestMeta) {
  const { names, jti, takenUntil } = await provider.verifyLogoutToken(logoutToken)
  // One transaction: a token whose sessions could not be ended is not counted as taken, so the provider's retry works.
  const ended = await ctx.sql.begin(async (tx) => {
    if (!(await repo.takeLogoutToken(tx, sha256Hex(jti), takenUntil))) {
      throw badLogoutToken(provider.label, `it was received before (jti ${JSON.stringify(jti)})`)
    }
    return repo.deleteOidcSessions(tx, names)
  })
  await auditProviderLogout(ctx, provider, 'back', names.sid, ended, meta)
  return ended.length
}

/**
 * The provider's front-channel logout, from a frame on its logout page in the person's browser:
 * the sessions signed in through the provider's session that its sid names end here. How many
 * ended: none is an answer (the person may have logged out here first, which sent them there).
 */
export async function endFramedProviderSessions(ctx: AppContext, provider: OidcProvider, query: { iss?: string; sid?: string }, meta: RequestMeta) {
  const names = provider.readFrontChannelLogout(query)
  const ended = await repo.deleteOidcSessions(ctx.sql, names)
  await auditProviderLogout(ctx, provider, 'front', names.sid, ended, meta)
  return ended.length
}

async function auditProviderLogout(ctx: AppContext, provider: OidcProvider, channel: 'back' | 'front', sid: string | null, ended: { user_id: string }[], meta: RequestMeta) {
  for (const [userId, sessions] of Map.groupBy(ended, (row) => row.user_id)) {
    await audit(ctx, { action: 'auth.provider_logout', userId, detail: { provider: provider.name, channel, sessions: sessions.length, ...(sid && { sid }) } }, meta)
  }
}

/** What the session keeps of an OpenID Connect sign-in; the ID token only where a logout is to end the provider's session too. */
function oidcSignIn(provider: OAuthProvider, profile: ProviderProfile): OidcSignIn | undefined {
  if (!profile.oidcSession) return undefined
  return { sub: profile.subject, sid: profile.oidcSession.sid, idToken: provider.logoutUrl ? profile.oidcSession.idToken : null }
}

async function findOrCreateAccount(ctx: AppContext, provider: OAuthProvider, profile: ProviderProfile, inviteHash: string | null, meta: RequestMeta): Promise<UserRow> {
  const name = provider.name
  const usable = (user: UserRow & { deletion_started_at: Date | null }) => {
    if (user.is_blocked || user.deletion_started_at) throw new Forbidden('This account is blocked', 'account_blocked')
    const { deletion_started_at: _, ...row } = user
    return row
  }
  const linked = await repo.findUserByIdentity(ctx.sql, name, profile.subject)
  if (linked) return usable(linked)
  // Linking or creating by email is only safe on an address the provider has verified.
  if (!profile.email || !profile.emailVerified) {
    throw new Forbidden(`Your ${provider.label} account has no verified email address; verify it there first`, 'oauth_email_unverified')
  }
  const existing = await repo.findUserByEmail(ctx.sql, profile.email)
  if (existing) {
    // Someone may have registered this address without owning it; linking would hand them the owner's sign-in.
    if (!existing.is_verified) {
      throw new Conflict(
        'An account with this email exists but its address is not verified yet. Sign in with its password and verify the address first.',
        'account_email_unverified',
      )
    }
    const user = usable(existing)
    await repo.linkIdentity(ctx.sql, { provider: name, subject: profile.subject, userId: user.id, email: profile.email })
    return user
  }
  return createOAuthAccount(ctx, provider, profile, profile.email, inviteHash, meta)
}

function usernameCandidates(hint: string): string[] {
  const base = (hint.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 24) || 'user').padEnd(3, '0')
  return [base, ...Array.from({ length: 5 }, () => `${base}_${Math.floor(1000 + Math.random() * 9000)}`)]
}

/** A new account from a provider obeys REGISTRATION like the form does; existing accounts never get here. */
async function createOAuthAccount(ctx: AppContext, provider: OAuthProvider, profile: ProviderProfile, email: string, inviteHash: string | null, meta: RequestMeta): Promise<UserRow> {
  const name = provider.name
  const applicant = { email, inviteHash }
  await assertMayRegister(ctx.sql, ctx.config.registration, applicant, ctx.clock.now())
  for (const username of usernameCandidates(profile.usernameHint)) {
    const taken = await findTakenIdentity(ctx.sql, username, email)
    if (taken.email) return findOrCreateAccount(ctx, provider, profile, inviteHash, meta) // created meanwhile by a racing request
    if (taken.username) continue
    try {
      const { user, invited } = await ctx.sql.begin(async (tx) => {
        const admitted = await admitAccount(tx, ctx.config.registration, applicant, ctx.clock.now())
        const user = await repo.insertUser(tx, {
          first_name: nameFromProvider(profile.firstName) ?? username,
          last_name: nameFromProvider(profile.lastName),
          username,
          email,
          password: null,
          provider: name,
          is_verified: true,
          plan_type: admitted.plan,
        })
        await admitted.used(user.id)
        await repo.linkIdentity(tx, { provider: name, subject: profile.subject, userId: user.id, email })
        return { user, invited: admitted.invited }
      })
      await audit(ctx, { action: 'account.created', userId: user.id, detail: { method: name, ...(invited && { via: 'invite' }) } }, meta)
      return user
    } catch (error) {
      if (!isUniqueViolation(error)) throw error
    }
  }
  throw new Conflict('Could not find a free username; register with a password instead', 'username_taken')
}
