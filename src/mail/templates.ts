import type { OutgoingMail } from './index.ts'

/** Every piece of user text goes through this before it reaches HTML. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** Names are user text: in the plain-text part, keep them on one line and short. */
const plainName = (name: string) => name.replace(/[\r\n\t]+/g, ' ').slice(0, 100)

interface Parts {
  to: string
  name: string
  subject: string
  /** Paragraphs of plain text; each is escaped for the HTML part. */
  paragraphs: string[]
  action?: { label: string; url: string }
  footer?: string
}

function render(parts: Parts): OutgoingMail {
  const greeting = `Hello ${plainName(parts.name)},`
  const text = [
    greeting,
    '',
    ...parts.paragraphs.flatMap((p) => [p, '']),
    ...(parts.action ? [`${parts.action.label}: ${parts.action.url}`, ''] : []),
    ...(parts.footer ? [parts.footer, ''] : []),
    '— imghost',
  ].join('\n')
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">',
    `<p>${escapeHtml(greeting)}</p>`,
    ...parts.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
    parts.action ? `<p><a href="${escapeHtml(parts.action.url)}">${escapeHtml(parts.action.label)}</a></p>` : '',
    parts.footer ? `<p style="color:#666;font-size:90%">${escapeHtml(parts.footer)}</p>` : '',
    '<p>— imghost</p></body></html>',
  ].join('\n')
  return { to: parts.to, subject: parts.subject, text, html, links: parts.action ? [parts.action.url] : [] }
}

export interface Recipient {
  email: string
  first_name: string
}

export const verificationMail = (user: Recipient, url: string, validHours: number) =>
  render({
    to: user.email,
    name: user.first_name,
    subject: 'Confirm your email address',
    paragraphs: [`Please confirm that ${user.email} is your address. The link works for ${validHours} hours.`],
    action: { label: 'Confirm my email', url },
    footer: 'If you did not create an imghost account, ignore this mail.',
  })

export const passwordResetMail = (user: Recipient, url: string) =>
  render({
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

export const deletionScheduledMail = (user: Recipient, deleteAt: Date, accountUrl: string) =>
  render({
    to: user.email,
    name: user.first_name,
    subject: 'Your account is scheduled for deletion',
    paragraphs: [
      `Your imghost account and every image in it will be deleted for good on ${deleteAt.toUTCString()}.`,
      'Changed your mind? Sign in before then and cancel the deletion (DELETE /api/v1/account/delete-request).',
    ],
    action: { label: 'Your account', url: accountUrl },
  })

export const deletionCancelledMail = (user: Recipient) =>
  render({
    to: user.email,
    name: user.first_name,
    subject: 'Account deletion cancelled',
    paragraphs: ['The scheduled deletion of your imghost account was cancelled. Your account and images stay as they are.'],
    footer: 'If you did not cancel it yourself, change your password.',
  })

const formatBytes = (bytes: number) => {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) (value /= 1024), unit++
  return `${value.toFixed(value < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`
}

export const storageWarningMail = (user: Recipient, percent: number, used: number, limit: number, accountUrl: string) =>
  render({
    to: user.email,
    name: user.first_name,
    subject: percent >= 100 ? 'Your storage is full' : `You have used ${percent}% of your storage`,
    paragraphs: [
      `Your images use ${formatBytes(used)} of your plan's ${formatBytes(limit)}.`,
      percent >= 100
        ? 'New uploads are refused until you delete images or move to a bigger plan.'
        : 'When it is full, new uploads are refused. Delete images you no longer need, or move to a bigger plan.',
    ],
    action: { label: 'Your account', url: accountUrl },
  })

/** Sent instead of a 403 at login, so only the mailbox owner learns the password was right. */
export const blockedSignInMail = (user: Recipient) =>
  render({
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
  render({
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
