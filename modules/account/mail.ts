import { type Recipient, renderMail } from '#core/mail/templates.ts'

export const deletionScheduledMail = (user: Recipient, deleteAt: Date, accountUrl: string) =>
  renderMail({
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
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: 'Account deletion cancelled',
    paragraphs: ['The scheduled deletion of your imghost account was cancelled. Your account and images stay as they are.'],
    footer: 'If you did not cancel it yourself, change your password.',
  })

/** To the old address: the one place the owner still hears of a change made with a stolen session. */
export const emailChangedMail = (user: Recipient, newEmail: string) =>
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: 'Your email address was changed',
    paragraphs: [`The email address of your imghost account was changed to ${newEmail}. Password resets now go there.`],
    footer: 'If you did not change it yourself, sign in, change your password and set your address back.',
  })
