/** punycode.js ships no types; the app uses its decoder only. */
declare module 'punycode.js' {
  export function toUnicode(domain: string): string
}
