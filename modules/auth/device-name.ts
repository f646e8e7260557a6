import { UAParser } from 'ua-parser-js'

/** "Firefox on Linux", for people telling their sessions and devices apart; null when the user agent names neither. */
export function deviceName(userAgent: string | null) {
  if (!userAgent) return null
  const { browser, os } = new UAParser(userAgent).getResult()
  if (!browser.name && !os.name) return null
  return [browser.name, os.name].filter(Boolean).join(' on ')
}
