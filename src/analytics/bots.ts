import { isbot } from 'isbot'

/**
 * Link-preview fetchers named explicitly, on top of isbot's crawler list: they fetch a shared
 * page or image once per share, and counting them as people would make every shared link look
 * popular.
 */
const LINK_PREVIEW_BOTS =
  /discordbot|slackbot|slack-imgproxy|twitterbot|facebookexternalhit|facebot|whatsapp|telegrambot|linkedinbot|skypeuripreview|redditbot|embedly|iframely|mastodon|pleroma|misskey|cardyb|bitlybot|google-pagerenderer|applebot|pinterestbot|vkshare/i

/** A link-preview fetcher (Slack, Discord, Twitter…), by its own say-so. */
export const isLinkPreviewUserAgent = (userAgent: string) => LINK_PREVIEW_BOTS.test(userAgent)

/** A crawler or a link-preview fetcher, by its own say-so; isbot also counts HTTP libraries (curl, python-requests). */
export const isCrawlerUserAgent = (userAgent: string) => isbot(userAgent) || isLinkPreviewUserAgent(userAgent)

/** Not a person, for counting views: every browser sends a User-Agent, so an empty one is a script. */
export const isBotUserAgent = (userAgent: string | null | undefined) => {
  const ua = userAgent ?? ''
  return ua.trim() === '' || isCrawlerUserAgent(ua)
}
