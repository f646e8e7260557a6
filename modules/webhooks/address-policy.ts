import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { WebhookSettings } from '#core/config.ts'

/**
 * Which addresses a webhook may reach. A user chooses the URL, so without this a webhook is a
 * way to make the server POST into its own network (cloud metadata at 169.254.169.254, an
 * admin port on loopback, a database on 10.x). The check runs on the resolved addresses, and
 * the connection then goes to the address that was checked (see sender.ts), so a DNS answer
 * that changes between check and connect (rebinding) cannot slip through.
 */

/** Address as a 128-bit number; IPv4 as its IPv4-mapped IPv6 form (::ffff:a.b.c.d). */
type Address = bigint

const V4_MAPPED_PREFIX = 0xffffn << 32n

function parseV4(text: string): bigint | undefined {
  const parts = text.split('.')
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined
  return parts.reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n)
}

function parseV6(text: string): bigint | undefined {
  let head = text.replace(/%.*$/, '') // a zone id (fe80::1%eth0) names an interface, not an address
  let tail: bigint[] = []
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(head)
  if (dotted) {
    const v4 = parseV4(dotted[2]!)
    if (v4 === undefined) return undefined
    head = dotted[1]! + '0:0'
    tail = [v4 >> 16n, v4 & 0xffffn]
  }
  const halves = head.split('::')
  if (halves.length > 2) return undefined
  const group = (s: string) => (s === '' ? [] : s.split(':'))
  const left = group(halves[0]!)
  const right = halves.length === 2 ? group(halves[1]!) : []
  const missing = 8 - left.length - right.length
  if ((halves.length === 1 && missing !== 0) || missing < 0) return undefined
  const groups = [...left, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...right]
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return undefined
  let value = groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n)
  if (tail.length) value = (value & ~0xffffffffn) | (tail[0]! << 16n) | tail[1]!
  return value
}

/** Parses an IPv4 or IPv6 literal (brackets allowed) into one 128-bit space. */
export function parseAddress(text: string): Address | undefined {
  const bare = text.replace(/^\[(.*)\]$/, '$1')
  const family = isIP(bare.replace(/%.*$/, ''))
  if (family === 4) {
    const v4 = parseV4(bare)
    return v4 === undefined ? undefined : V4_MAPPED_PREFIX | v4
  }
  return family === 6 ? parseV6(bare) : undefined
}

interface Network {
  base: Address
  bits: number
}

function network(cidr: string): Network {
  const [address, bits] = cidr.split('/')
  const base = parseAddress(address!)
  if (base === undefined) throw new Error(`not an address: ${cidr}`)
  const isV4 = isIP(address!) === 4
  const prefix = bits === undefined ? 128 : Number(bits) + (isV4 ? 96 : 0)
  return { base, bits: prefix }
}

const contains = (net: Network, address: Address) => {
  const shift = BigInt(128 - net.bits)
  return address >> shift === net.base >> shift
}

/** Not reachable on the public internet, or not one host: RFC 6890 special-purpose ranges. */
const REFUSED: { name: string; net: Network }[] = [
  ['unspecified', '0.0.0.0/8'],
  ['private', '10.0.0.0/8'],
  ['cgnat', '100.64.0.0/10'],
  ['loopback', '127.0.0.0/8'],
  ['link-local', '169.254.0.0/16'],
  ['private', '172.16.0.0/12'],
  ['reserved', '192.0.0.0/24'],
  ['documentation', '192.0.2.0/24'],
  ['private', '192.168.0.0/16'],
  ['benchmarking', '198.18.0.0/15'],
  ['documentation', '198.51.100.0/24'],
  ['documentation', '203.0.113.0/24'],
  ['multicast', '224.0.0.0/4'],
  ['reserved', '240.0.0.0/4'],
  ['unspecified', '::/128'],
  ['loopback', '::1/128'],
  // IPv4-compatible (deprecated) addresses; the IPv4-mapped ones are checked as IPv4 above.
  ['reserved', '::/96'],
  // RFC 8215 lets each network choose where the IPv4 address sits in 64:ff9b:1::/48, so what it
  // holds cannot be read from outside.
  ['local-use translation', '64:ff9b:1::/48'],
  ['discard', '100::/64'],
  ['documentation', '2001:db8::/32'],
  ['unique-local', 'fc00::/7'],
  ['link-local', 'fe80::/10'],
  ['site-local', 'fec0::/10'],
  ['multicast', 'ff00::/8'],
].map(([name, cidr]) => ({ name: name!, net: network(cidr!) }))

/**
 * IPv6 forms that a translator or tunnel delivers to the IPv4 address inside them, so each is
 * judged by that IPv4 address. Teredo holds two: the server, and the client with its bits inverted.
 */
const EMBEDDINGS: { net: Network; inner: (address: Address) => bigint[] }[] = [
  { net: network('::ffff:0:0:0/96'), inner: (a) => [a] }, // SIIT, RFC 6145 (RFC 2765)
  { net: network('64:ff9b::/96'), inner: (a) => [a] }, // NAT64 well-known prefix, RFC 6052
  { net: network('2002::/16'), inner: (a) => [a >> 80n] }, // 6to4, RFC 3056
  { net: network('2001::/32'), inner: (a) => [a >> 64n, a ^ 0xffffffffn] }, // Teredo, RFC 4380
]

const embeddedV4 = (address: Address): Address[] =>
  EMBEDDINGS.find(({ net }) => contains(net, address))?.inner(address).map((v4) => V4_MAPPED_PREFIX | (v4 & 0xffffffffn)) ?? []

export interface AddressPolicy {
  allowPrivate: boolean
  allowed: Network[]
}

export const addressPolicy = (settings: Pick<WebhookSettings, 'allowPrivate' | 'allowedNetworks'>): AddressPolicy => ({
  allowPrivate: settings.allowPrivate,
  allowed: settings.allowedNetworks.map(network),
})

/** Why `text` may not be reached under `policy` ('loopback', 'private', …), or undefined when it may. */
export function refusalOf(policy: AddressPolicy, text: string): string | undefined {
  const address = parseAddress(text)
  return address === undefined ? 'not an address' : refusalOfAddress(policy, address)
}

function refusalOfAddress(policy: AddressPolicy, address: Address): string | undefined {
  if (policy.allowPrivate || policy.allowed.some((net) => contains(net, address))) return undefined
  const inner = embeddedV4(address)
  if (inner.length) return inner.map((v4) => refusalOfAddress(policy, v4)).find((reason) => reason !== undefined)
  return REFUSED.find(({ net }) => contains(net, address))?.name
}

/** By sound, not spelling: "an unspecified address", but "a unique-local address". */
const article = (word: string) => (/^(?!uni)[aeiou]/i.test(word) ? 'an' : 'a')

export class AddressRefused extends Error {
  constructor(readonly host: string, readonly address: string, readonly reason: string) {
    super(`${host} resolves to ${address}, ${article(reason)} ${reason} address, which webhooks may not reach`)
  }
}

/** What a resolver's error code means, for the person who typed the address (the code itself is logged nowhere it is read). */
const LOOKUP_FAILURES: Record<string, string> = {
  ENOTFOUND: 'there is no such host name',
  ENODATA: 'that name has no address',
  ETIMEOUT: 'the name servers did not answer in time',
  EAI_AGAIN: 'the name servers did not answer in time',
  ESERVFAIL: 'the name servers failed to answer',
  ECONNREFUSED: 'the name servers could not be reached',
}

export class Unresolvable extends Error {
  constructor(readonly host: string, cause: unknown) {
    const code = (cause as { code?: string })?.code
    super(`${host} could not be looked up: ${(code && LOOKUP_FAILURES[code]) ?? 'the name servers gave no usable answer'}. Check the address`)
  }
}

export interface ResolvedHost {
  address: string
  family: 4 | 6
}

/** Every address DNS gives for a name; the system resolver unless a test stands in for DNS. */
type ResolveAll = (host: string) => Promise<{ address: string; family: number }[]>

const systemResolve: ResolveAll = (host) => lookup(host, { all: true, verbatim: true })

/**
 * Resolves `hostname` (a name or an IP literal) and checks every address it has, so a name with
 * one public and one private address is refused rather than raced. Returns the first address.
 */
export async function resolveChecked(policy: AddressPolicy, hostname: string, resolveAll = systemResolve): Promise<ResolvedHost> {
  const host = hostname.replace(/^\[(.*)\]$/, '$1')
  let answers: { address: string; family: number }[]
  if (isIP(host)) answers = [{ address: host, family: isIP(host) }]
  else {
    try {
      answers = await resolveAll(host)
    } catch (error) {
      throw new Unresolvable(host, error)
    }
  }
  if (answers.length === 0) throw new Unresolvable(host, 'no addresses')
  for (const answer of answers) {
    const reason = refusalOf(policy, answer.address)
    if (reason) throw new AddressRefused(host, answer.address, reason)
  }
  return { address: answers[0]!.address, family: answers[0]!.family === 6 ? 6 : 4 }
}
