import { type Recipient, renderMail } from '#core/mail/templates.ts'

/** `accountUrl`: the web app's account page, where its "Cancel the deletion" button is. */
export const deletionScheduledMail = (user: Recipient, deleteAt: Date, accountUrl: string) =>
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: 'Your account is scheduled for deletion',
    paragraphs: [
      `Your imghost account and every image in it will be deleted for good on ${deleteAt.toUTCString()}.`,
      'Changed your mind? Before then, sign in, open your account page and choose “Cancel the deletion”.',
    ],
    action: { label: 'Your account', url: accountUrl },
  })

export const deletionCancelledMail = (user: Recipient) =>
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: 'Account deletion cancelled',
    paragraphs: ['The scheduled deletion of your imghost account was cancelled. Your account and images stay as they are.'],
    footer: 'If you did not cancel it yourself, change your password.',
  })

/**
 * An address as the old mailbox is told it: enough for its owner to recognise their own typo or
 * someone else's address, not a full address handed to whoever reads that mailbox.
 */
export function maskedAddress(email: string): string {
  const at = email.lastIndexOf('@')
  if (at < 1) return '***'
  return `${email[0]}***${email.slice(at)}`
}

/** To the new address: the link that makes it the account's. */
export const confirmNewEmailMail = (user: Recipient, newEmail: string, url: string, validHours: number) =>
  renderMail({
    to: newEmail,
    name: user.first_name,
    subject: 'Confirm your new address for imghost',
    paragraphs: [
      `You asked to change the email address of your imghost account to ${newEmail}.`,
      `Follow the link to confirm that this mailbox is yours; until then the account keeps its current address. The link works once, for ${validHours} hours.`,
    ],
    action: { label: 'Confirm my new address', url },
    footer: 'If you did not ask for this, ignore this mail: nothing changes.',
  })

/** To the old address, when the change is asked for: the owner hears of it while it can still be stopped. */
export const emailChangeRequestedMail = (user: Recipient, newEmail: string, validHours: number, accountUrl: string) =>
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: 'A change of your email address was asked for',
    paragraphs: [
      `Someone signed in to your imghost account asked to change this account's address to ${maskedAddress(newEmail)}.`,
      `Nothing changes unless the link mailed to that address is followed within ${validHours} hours. Until then, sign-in, password resets and mail stay with this address.`,
    ],
    action: { label: 'Your account', url: accountUrl },
    footer: 'If it was not you, change your password: that signs everyone out and cancels the change. You can also cancel it on your account page.',
  })

/** To the account's address, which was told of the request: the change it was warned of will not happen. */
export const emailChangeCancelledMail = (user: Recipient, newEmail: string) =>
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: 'The change of your email address was cancelled',
    paragraphs: [
      `The change of your imghost account's address to ${maskedAddress(newEmail)} was cancelled, and the link mailed there no longer works.`,
      'Sign-in, password resets and mail stay with this address.',
    ],
    footer: 'If you did not cancel it yourself, someone else is signed in to your account: change your password, which signs everyone out.',
  })

/** To the old address, once the new one is confirmed: the last mail this address gets about the account. */
export const emailChangedMail = (user: Recipient, newEmail: string) =>
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: 'Your email address was changed',
    paragraphs: [
      `The address of your imghost account is now ${maskedAddress(newEmail)}, confirmed from that mailbox.`,
      'Sign-in by email, password resets and mail go there from now on; this address gets nothing more about the account.',
    ],
    footer: 'If you did not change it yourself, change your password if you still can, and contact the administrator of this imghost instance.',
  })
