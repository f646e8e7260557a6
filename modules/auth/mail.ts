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
