import { fieldRefused } from '#core/errors.ts'
import { withoutHiddenControls } from '#core/text/user-text.ts'

/**
 * An image's title and description as POST /upload (form fields) and PATCH /images/{id} (JSON)
 * both read them: one limit and one refusal, 400 `invalid_title` or `invalid_description`, so
 * the two routes cannot drift. The PATCH schema leaves the length to this check for that reason.
 */

export const TITLE_MAX_LENGTH = 200
export const DESCRIPTION_MAX_LENGTH = 2000

const LIMITS = {
  title: { max: TITLE_MAX_LENGTH, code: 'invalid_title' },
  description: { max: DESCRIPTION_MAX_LENGTH, code: 'invalid_description' },
} as const

/**
 * Without hidden controls (src/text/user-text.ts; a description keeps its carriage returns),
 * trimmed, and within its limit (in UTF-16 units, as the web form's maxLength counts). The
 * controls are removed, not refused: the compatible APIs, which reach this too, cannot show a
 * refusal, and a 20 MB upload sent again for one invisible character would be a poor answer.
 * Blank text is no text: `null`, clearing the field rather than storing it empty. `undefined`
 * (not sent) stays `undefined`: a PATCH leaves that field as it is.
 */
export function imageText(field: keyof typeof LIMITS, value: string | null | undefined): string | null | undefined {
  if (typeof value !== 'string') return value
  const text = withoutHiddenControls(value, { carriageReturn: field === 'description' }).trim()
  const { max, code } = LIMITS[field]
  if (text.length > max) throw fieldRefused(code, field, `is longer than ${max} characters`, text)
  return text || null
}
