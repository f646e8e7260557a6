import { toUnicode } from 'punycode.js'

/** Scripts a host name's letters are told apart by; a letter of none of them counts as its own. */
const SCRIPTS = ['Latin', 'Cyrillic', 'Greek', 'Armenian', 'Georgian', 'Hebrew', 'Arabic', 'Devanagari', 'Bengali', 'Tamil', 'Thai', 'Han', 'Hiragana', 'Katakana', 'Bopomofo', 'Hangul', 'Ethiopic', 'Cherokee'].map(
  (name) => [name, new RegExp(`\\p{Script=${name}}`, 'u')] as const,
)
const NEUTRAL = /[\p{Script=Common}\p{Script=Inherited}]/u
/** Scripts written together, as a browser allows them in one label: Japanese, Chinese and Korean beside Latin. */
const WRITTEN_TOGETHER = [new Set(['Latin', 'Han', 'Hiragana', 'Katakana']), new Set(['Latin', 'Han', 'Bopomofo']), new Set(['Latin', 'Han', 'Hangul'])]
/** Cyrillic and Greek letters that read as Latin ones (Chromium's Cyrillic list): a label of these alone passes for a Latin name ("аррӏе"). */
const READS_AS_LATIN: Record<string, RegExp> = { Cyrillic: /^[асԁеһіјӏорԛѕԝхуъьҽпгѵѡ]+$/u, Greek: /^[αικνορυχ]+$/u }

function scriptsOf(label: string): Set<string> {
  const scripts = new Set<string>()
  for (const letter of label) {
    if (NEUTRAL.test(letter)) continue
    scripts.add(SCRIPTS.find(([, pattern]) => pattern.test(letter))?.[0] ?? `U+${letter.codePointAt(0)!.toString(16)}`)
  }
  return scripts
}

/**
 * Whether a decoded label could be taken for another name: letters of scripts not written
 * together ("аpple" with a Cyrillic а), or a Cyrillic or Greek label of Latin look-alikes alone
 * under a top-level domain of another script ("аррӏе.com"). Browsers keep such labels in
 * Punycode for the same reason (Chromium's IDN display policy, simplified).
 */
function mayDeceive(label: string, topLevelScripts: Set<string>): boolean {
  const scripts = scriptsOf(label)
  if (scripts.size > 1 && !WRITTEN_TOGETHER.some((together) => [...scripts].every((script) => together.has(script)))) return true
  const [script] = scripts
  return scripts.size === 1 && script! in READS_AS_LATIN && !topLevelScripts.has(script!) && READS_AS_LATIN[script!]!.test(label.toLowerCase())
}

/**
 * Host names as people write them: the API keeps each label of an internationalised name in its
 * ASCII form ("xn--bcher-kva.example"), and the browser offers no way back (URL's `hostname`
 * gives the ASCII form). punycode.js (MIT) decodes it; a label that does not decode, or whose
 * letters could pass for another name, is shown as sent.
 */
export function hostToUnicode(host: string): string {
  const labels = host.split('.')
  const decoded = labels.map((label) => {
    try {
      return toUnicode(label)
    } catch {
      return label
    }
  })
  const topLevelScripts = scriptsOf(decoded.at(-1) ?? '')
  return decoded.map((label, index) => (label !== labels[index] && mayDeceive(label, topLevelScripts) ? labels[index] : label)).join('.')
}
