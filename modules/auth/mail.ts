import { type Recipient, renderMail } from '#core/mail/templates.ts'

export const passwordResetMail = (user: Recipient, url: string) =>
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: 'Reset your password',
    paragraphs: [
      'Someone (hopefully you) asked to reset the password of your imghost account.',
      'The link works once, for one hour. Setting a new password signs you out everywhere.',
    ],
    action: { label: 'Choose a new password', url },
    footer: 'If you did not ask for this, ignore this mail: your password stays as it is.',
  })

/** Sent instead of a reset link: a blocked account's password cannot be used, so a new one would change nothing. */
export const blockedResetMail = (user: Recipient) =>
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: 'Your account is blocked',
    paragraphs: [
      'Someone (hopefully you) asked to reset the password of your imghost account, but the account is blocked, so no reset link was sent: no password can be used to sign in to it while it is blocked.',
      'If you think this is a mistake, contact the administrator of this imghost instance.',
    ],
    footer: 'If you did not ask for this, ignore this mail: your password stays as it is.',
  })

/** Sent instead of a 403 at login, so only the mailbox owner learns the password was right. */
export const blockedSignInMail = (user: Recipient) =>
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: 'Your account is blocked',
    paragraphs: [
      'Someone signed in to your imghost account with its correct password, but the account is blocked, so no session was started.',
      'If you think this is a mistake, contact the administrator of this imghost instance.',
    ],
    footer: 'If this was not you, your password is known to someone else: change it once the account is unblocked.',
  })

/** Verify-first registration: what the owner of an address that already has an account is told. */
export const addressTakenMail = (user: Recipient, signInUrl?: string) =>
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: 'Someone tried to sign up with your address',
    paragraphs: [
      `Someone asked to create an imghost account for ${user.email}, but this address already has one, so nothing was created.`,
      'If it was you: sign in instead, or use "forgot password" with this address to set a new password (that also takes the account over if you never finished signing up).',
    ],
    action: signInUrl ? { label: 'Sign in', url: signInUrl } : undefined,
    footer: 'If it was not you, ignore this mail: your account is unchanged.',
  })

/**
 * Told after every change to how the account signs in (2FA on or off, a passkey added or
 * removed, new recovery codes), so someone who took a session over cannot quietly make it theirs.
 */
export const securityChangeMail = (user: Recipient, change: string, at: Date, securityPageUrl: string) =>
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: 'A sign-in setting of your account changed',
    paragraphs: [`${change} on ${at.toUTCString()}.`, 'If this was you, there is nothing to do.'],
    action: { label: 'Review your sign-in settings', url: securityPageUrl },
    footer: 'If this was not you, someone can use your account: change your password at once (that signs everyone out) and check your two-factor settings.',
  })
