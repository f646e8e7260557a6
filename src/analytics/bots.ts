import { isbot } from 'isbot'

/**
 * Link-preview fetchers named explicitly, on top of isbot's crawler list: they fetch a shared
 * page once per share, and counting them as people would make every shared link look popular.
 * (The same list as the view module's user-agent classification.)
 */
const LINK_PREVIEW_BOTS =
  /discordbot|slackbot|slack-imgproxy|twitterbot|facebookexternalhit|facebot|whatsapp|telegrambot|linkedinbot|skypeuripreview|redditbot|embedly|iframely|mastodon|pleroma|misskey|cardyb|bitlybot|google-pagerenderer|applebot|pinterestbot|vkshare/i

/** Every browser sends a User-Agent, so an empty one is a script. */
export const isBotUserAgent = (userAgent: string | null | undefined) => {
  const ua = userAgent ?? ''
  return ua.trim() === '' || isbot(ua) || LINK_PREVIEW_BOTS.test(ua)
}
