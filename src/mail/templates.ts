import { escapeHtml } from '../http/html.ts'
import type { OutgoingMail } from './index.ts'

/** Names are user text: in the plain-text part, keep them on one line and short. */
const plainName = (name: string) => name.replace(/[\r\n\t]+/g, ' ').slice(0, 100)

export interface MailParts {
  to: string
  name: string
  subject: string
  /** Paragraphs of plain text; each is escaped for the HTML part. */
  paragraphs: string[]
  action?: { label: string; url: string }
  footer?: string
}

/** One mail in the house layout, as plain text and as HTML; each module writes its own on top of it. */
export function renderMail(parts: MailParts): OutgoingMail {
  const greeting = `Hello ${plainName(parts.name)},`
  const text = [
    greeting,
    '',
    ...parts.paragraphs.flatMap((p) => [p, '']),
    ...(parts.action ? [`${parts.action.label}: ${parts.action.url}`, ''] : []),
    ...(parts.footer ? [parts.footer, ''] : []),
    '— imghost',
  ].join('\n')
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">',
    `<p>${escapeHtml(greeting)}</p>`,
    ...parts.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
    parts.action ? `<p><a href="${escapeHtml(parts.action.url)}">${escapeHtml(parts.action.label)}</a></p>` : '',
    parts.footer ? `<p style="color:#666;font-size:90%">${escapeHtml(parts.footer)}</p>` : '',
    '<p>— imghost</p></body></html>',
  ].join('\n')
  return { to: parts.to, subject: parts.subject, text, html, links: parts.action ? [parts.action.url] : [] }
}

export interface Recipient {
  email: string
  first_name: string
}

