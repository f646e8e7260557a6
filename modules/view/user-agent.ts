import { UAParser } from 'ua-parser-js'
import { isBotUserAgent, isLinkPreviewUserAgent } from '#core/analytics/bots.ts'

export type DeviceType = 'desktop' | 'mobile' | 'tablet' | 'bot'

export interface ClientKind {
  device: DeviceType
  browser: string | null
  os: string | null
  isBot: boolean
}

/** ua-parser-js reports phones and tablets; every other kind (TVs, consoles…) counts as desktop. */
const DEVICE_OF: Record<string, DeviceType> = { mobile: 'mobile', wearable: 'mobile', tablet: 'tablet' }

/**
 * What kind of client a User-Agent names. Every browser sends one, so an empty one is a script.
 * Parsing costs tens of microseconds, so the recorder classifies off the request path, once
 * per distinct user agent.
 */
export function classifyUserAgent(userAgent: string): ClientKind {
  const isBot = isBotUserAgent(userAgent)
  const { browser, os, device } = new UAParser(userAgent).getResult()
  return {
    device: isBot ? 'bot' : (DEVICE_OF[device.type ?? ''] ?? 'desktop'),
    browser: browser.name ?? null,
    os: os.name ?? null,
    isBot,
  }
}

/**
 * Link-preview fetchers, by their own say-so: they get an image with a view budget without
 * spending it, so a shared self-destructing link still shows its preview, but only as its
 * thumbnail (image-server.ts), since anyone can send their User-Agent. Crawlers and HTTP
 * libraries (curl, python-requests, headless browsers), which isbot also names, spend views like
 * anyone: a script could otherwise read such an image for ever.
 */
export const isPreviewFetcher = isLinkPreviewUserAgent
