import { fieldRefused } from '../errors.ts'

/**
 * Characters free text from a user has no use for, shared by every place that cleans or
 * refuses them (titles and descriptions, file names, account names, the labels of keys,
 * passkeys and webhooks, report notes).
 *
 * The bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) are
 * invisible and make text read otherwise than it is stored: U+202E turns "abc\u202Egnp.exe"
 * into what reads as "abcexe.png" wherever it is shown.
 */
export const BIDI_CONTROLS = '\\u202a-\\u202e\\u2066-\\u2069'

/** DEL and the C1 controls (U+0080–U+009F): nothing a person types, and terminals act on some. */
export const DEL_AND_C1 = '\\u007f-\\u009f'

/** C0 controls but tab and line feed (BEL, ESC, backspace, CR, …). */
const C0_BUT_TAB_LF = '\\u0000-\\u0008\\u000b-\\u001f'
/** C0 controls but tab, line feed and carriage return, for text of several lines written on Windows. */
const C0_BUT_TAB_LF_CR = '\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f'

const HIDDEN_IN_LINE = new RegExp(`[${C0_BUT_TAB_LF}${DEL_AND_C1}${BIDI_CONTROLS}]+`, 'g')
const HIDDEN_IN_LINES = new RegExp(`[${C0_BUT_TAB_LF_CR}${DEL_AND_C1}${BIDI_CONTROLS}]+`, 'g')

/**
 * Free text a user gives (a title, a description) without the controls above: C0 controls but
 * tab and line feed (and carriage return when `carriageReturn`, for descriptions), DEL, C1, and
 * the bidirectional controls. Cleaned rather than refused: clients of the compatible APIs cannot
 * show a refusal, and one rule holds whichever route the text came in by.
 */
export function withoutHiddenControls(text: string, options: { carriageReturn?: boolean } = {}): string {
  return text.replace(options.carriageReturn ? HIDDEN_IN_LINES : HIDDEN_IN_LINE, '')
}

const LINE_BREAKS_AND_TABS = /[\t\n\v\f\r]+/g

/**
 * A label of one line (an API key's or a passkey's name, a webhook's description, a name an
 * OAuth provider gives): its tabs and line breaks become one space, and the other controls go
 * as from a title. A CR or LF in a name shown in a list, a mail or a log line only breaks it.
 */
export function oneLineText(text: string): string {
  return withoutHiddenControls(text.replace(LINE_BREAKS_AND_TABS, ' '))
}

/**
 * A label a thing must have (an API key's name, a passkey's new name): oneLineText, trimmed, and
 * a 400 `code` naming `field` when nothing is left, as from a name of controls or spaces alone.
 */
export function requiredLabel(value: string, field: string, code: string): string {
  const label = oneLineText(value).trim()
  if (!label) throw fieldRefused(code, field, 'must not be blank', value)
  return label
}
