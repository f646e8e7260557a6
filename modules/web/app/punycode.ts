import { toUnicode } from 'punycode.js'

/**
 * Host names as people write them: the API keeps each label of an internationalised name in its
 * ASCII form ("xn--bcher-kva.example"), and the browser offers no way back (URL's `hostname`
 * gives the ASCII form). punycode.js (MIT) decodes it; a label that does not decode is shown as sent.
 */
export function hostToUnicode(host: string): string {
  try {
    return toUnicode(host)
  } catch {
    return host
  }
}
