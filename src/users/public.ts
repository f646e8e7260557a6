import { t } from 'elysia'
import type { UserRow } from '../auth/principal.ts'
import { PLAN_LIMITS } from '../config.ts'
import { BIDI_CONTROLS, DEL_AND_C1, oneLineText } from '../text/user-text.ts'

const Timestamp = t.Union([t.Date(), t.String()])

export const Settings = t.Object({
  allowed_referrers: t.Array(t.String()),
  default_is_public: t.Boolean(),
  public_profile: t.Boolean({ description: 'Whether /u/{username} on the view server lists your public images and albums' }),
})

/**
 * Control characters (C0, DEL and C1) and bidirectional overrides, embeddings and isolates, which
 * a name has no use for: invisible, they make it read otherwise than it is stored (U+202E turns
 * the rest of a line around wherever the name is shown: the admin's lists, a mail's greeting).
 */
const WITHOUT_CONTROLS = `[^\\u0000-\\u001f${DEL_AND_C1}${BIDI_CONTROLS}]*`
const HIGH_SURROGATE = /[\ud800-\udbff]/
const NAME_MAX_LENGTH = 100

/** A first name as sign-up and the account take it: stored trimmed, so spaces alone would be an empty name. */
export const FirstName = t.String({
  minLength: 1,
  maxLength: NAME_MAX_LENGTH,
  pattern: `^(?=[\\s\\S]*\\S)${WITHOUT_CONTROLS}$`,
  description: '1 to 100 characters, not only spaces, without control characters',
})

/** A last name, which may be left out (null). */
export const LastName = t.String({ maxLength: NAME_MAX_LENGTH, pattern: `^${WITHOUT_CONTROLS}$`, description: 'at most 100 characters, without control characters' })

/**
 * A name as an OAuth or OpenID Connect provider gives it, made to obey FirstName and LastName
 * (a provider's profile is not ours to refuse, only to store safely): without the invisible
 * controls (a line break or tab becomes a space), trimmed, at most NAME_MAX_LENGTH UTF-16 units and never half of a surrogate pair.
 * Null when nothing is left, so the caller falls back to another name.
 */
export function nameFromProvider(given: string | null | undefined): string | null {
  const name = oneLineText(given ?? '').trim()
  if (!name) return null
  if (name.length <= NAME_MAX_LENGTH) return name
  const cutsPair = HIGH_SURROGATE.test(name[NAME_MAX_LENGTH - 1]!)
  return name.slice(0, cutsPair ? NAME_MAX_LENGTH - 1 : NAME_MAX_LENGTH).trimEnd()
}

/** A password being set (sign-up, reset, change): spaces alone are no password, though spaces within one are welcome. */
export const NewPassword = t.String({ minLength: 8, maxLength: 1024, pattern: '\\S', description: 'text of 8 to 1024 characters, not only spaces' })

/** A user as every module's API shows it. */
export const User = t.Object({
  id: t.String(),
  first_name: t.String(),
  last_name: t.Nullable(t.String()),
  username: t.String(),
  email: t.String(),
  provider: t.String(),
  is_admin: t.Boolean(),
  is_verified: t.Boolean(),
  is_blocked: t.Boolean(),
  plan_type: t.String(),
  upload_limit_per_day: t.Number(),
  storage_used: t.Number(),
  delete_scheduled_for: t.Nullable(Timestamp),
  created_at: Timestamp,
  settings: Settings,
})

/** What the API shows of a user: never the password hash or the token version. */
export function publicUser(user: UserRow): typeof User.static {
  return {
    id: user.id,
    first_name: user.first_name,
    last_name: user.last_name,
    username: user.username,
    email: user.email,
    provider: user.provider,
    is_admin: user.is_admin,
    is_verified: user.is_verified,
    is_blocked: user.is_blocked,
    plan_type: user.plan_type,
    upload_limit_per_day: user.upload_limit_per_day ?? PLAN_LIMITS[user.plan_type].uploadsPerDay,
    storage_used: user.storage_used,
    delete_scheduled_for: user.delete_scheduled_for,
    created_at: user.created_at,
    settings: { allowed_referrers: user.allowed_referrers, default_is_public: user.default_is_public, public_profile: user.public_profile },
  }
}
