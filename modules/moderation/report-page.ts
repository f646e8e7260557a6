import { escapeHtml, htmlPage } from '#core/http/html.ts'
import { NOTE_MAX_LENGTH, REPORT_REASONS, type ReportReason, type ReportTargetType } from './model.ts'

export const REASON_LABELS: Record<ReportReason, string> = {
  illegal: 'Illegal content',
  copyright: 'Copyright infringement',
  harassment: 'Harassment or hateful content',
  spam: 'Spam or scam',
  nsfw: 'Sexual or graphic content',
  other: 'Something else',
}

export interface FormTarget {
  type: ReportTargetType
  id: string
}

/**
 * Where each kind of target is reported (the form posts to itself, on whichever server shows it)
 * and shown: on the view server, named in full since the form may be the auth server's.
 */
const PAGES: Record<ReportTargetType, { noun: string; form: (id: string) => string; back: (viewUrl: string, id: string) => string }> = {
  image: { noun: 'image', form: (id) => `/report/${id}`, back: (viewUrl, id) => `${viewUrl}/embed/${id}` },
  album: { noun: 'album', form: (id) => `/report/album/${id}`, back: (viewUrl, id) => `${viewUrl}/a/${id}` },
}

const STYLE = 'fieldset{border:0;padding:0;margin:0 0 1rem}label{display:block;margin:.25rem 0}textarea{width:100%;box-sizing:border-box;font:inherit}.error{color:#b00020}'

/** What the form says about who is reporting: `reporter` is the signed-in username, if any. */
function reporterNote(noun: string, reporter: string | undefined): string {
  if (reporter === undefined) {
    return `No account needed. Your address is not stored; a keyed hash of it is kept so each address can report an ${noun} once.`
  }
  return `You are signed in as <strong>${escapeHtml(reporter)}</strong>: administrators see your username with this report, and your account can report an ${noun} once.`
}

/**
 * The report form, reached from the image's page: on the view server, or on the auth server
 * where the two have separate host names. A plain HTML form posted urlencoded to the same origin:
 * it works without an account, without JavaScript, and under the page CSP of src/http/html.ts
 * (form-action 'self'). A browser signed in on this host sends its session cookie along, and then
 * the report names the account (`reporter`).
 */
export function reportFormPage(viewUrl: string, target: FormTarget, options: { error?: string; status?: number; reason?: string; note?: string; reporter?: string } = {}) {
  const e = escapeHtml
  const { noun, form, back } = PAGES[target.type]
  const reasons = REPORT_REASONS.map(
    (reason) =>
      `<label><input type="radio" name="reason" value="${reason}" required${options.reason === reason ? ' checked' : ''}> ${e(REASON_LABELS[reason])}</label>`,
  ).join('\n')
  return htmlPage({
    title: `Report this ${noun}`,
    status: options.status,
    style: STYLE,
    bodyHtml: `${options.error ? `<p class="error" role="alert">${e(options.error)}</p>` : ''}
<p><a href="${e(back(viewUrl, target.id))}">Back to the ${noun}</a></p>
<form method="post" action="${e(form(target.id))}">
<fieldset><legend>Why should an administrator look at this ${noun}?</legend>
${reasons}
</fieldset>
<p><label for="note">Details (optional)</label><textarea id="note" name="note" rows="4" maxlength="${NOTE_MAX_LENGTH}">${e(options.note ?? '')}</textarea></p>
<p><button type="submit">Send report</button></p>
</form>
<p><small data-testid="reporter-note">${reporterNote(noun, options.reporter)}</small></p>`,
  })
}

export function reportSentPage(viewUrl: string, target: FormTarget, duplicate: boolean, reporter?: string) {
  const { noun, back } = PAGES[target.type]
  const signedIn = reporter === undefined ? '' : `<p>Sent as <strong>${escapeHtml(reporter)}</strong>.</p>\n`
  return htmlPage({
    title: 'Report sent',
    status: duplicate ? 200 : 201,
    bodyHtml: `<p>${duplicate ? `You had already reported this ${noun}; your first report stands.` : `Thank you. An administrator will review the ${noun}.`}</p>
${signedIn}<p><a href="${escapeHtml(back(viewUrl, target.id))}">Back to the ${noun}</a></p>`,
  })
}

export const reportErrorPage = (title: string, message: string, status: number) =>
  htmlPage({ title, status, bodyHtml: `<p>${escapeHtml(message)}</p>` })
