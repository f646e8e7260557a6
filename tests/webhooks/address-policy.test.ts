import { describe, expect, test } from 'bun:test'
import { AddressRefused, addressPolicy, refusalOf, resolveChecked } from '#modules/webhooks/address-policy.ts'

const strict = addressPolicy({ allowPrivate: false, allowedNetworks: [] })

describe('webhook address policy', () => {
  test('the refusal reads as English: "an unspecified address", "a private address"', () => {
    expect(new AddressRefused('0.0.0.0', '0.0.0.0', 'unspecified').message).toBe('0.0.0.0 resolves to 0.0.0.0, an unspecified address, which webhooks may not reach')
    expect(new AddressRefused('db.lan', '10.0.0.1', 'private').message).toContain(', a private address,')
  })

  test('every range name takes the article of its sound', () => {
    const articles: [string, string][] = [
      ['unspecified', 'an'],
      ['private', 'a'],
      ['cgnat', 'a'],
      ['loopback', 'a'],
      ['link-local', 'a'],
      ['reserved', 'a'],
      ['documentation', 'a'],
      ['benchmarking', 'a'],
      ['multicast', 'a'],
      ['discard', 'a'],
      ['unique-local', 'a'],
      ['site-local', 'a'],
      ['local-use translation', 'a'],
    ]
    for (const [reason, article] of articles) expect(new AddressRefused('h', 'x', reason).message).toContain(`, ${article} ${reason} address,`)
  })

  test('refuses special-purpose IPv4 and IPv6 ranges, including IPv4 hidden in IPv6', () => {
    const refused: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback'],
      ['10.0.0.1', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['169.254.169.254', 'link-local'],
      ['100.64.0.1', 'cgnat'],
      ['100.127.255.255', 'cgnat'],
      ['0.0.0.0', 'unspecified'],
      ['224.0.0.251', 'multicast'],
      ['255.255.255.255', 'reserved'],
      ['::', 'unspecified'],
      ['::1', 'loopback'],
      ['[::1]', 'loopback'],
      ['fe80::1%eth0', 'link-local'],
      ['fd00::1', 'unique-local'],
      ['fc00::1', 'unique-local'],
      ['ff02::1', 'multicast'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['::ffff:10.1.1.1', 'private'],
      ['::ffff:169.254.169.254', 'link-local'],
      ['64:ff9b::a9fe:a9fe', 'link-local'], // NAT64 of 169.254.169.254
      ['2002:7f00:1::', 'loopback'], // 6to4 of 127.0.0.1
      ['::127.0.0.1', 'reserved'],
      ['::8.8.8.8', 'reserved'], // IPv4-compatible is deprecated (RFC 4291): refused whatever it holds
      ['::ffff:0:7f00:1', 'loopback'], // SIIT (RFC 6145) of 127.0.0.1
      ['::ffff:0:10.0.0.1', 'private'],
      ['64:ff9b::7f00:1', 'loopback'], // NAT64 of 127.0.0.1
      ['64:ff9b::192.168.0.1', 'private'],
      ['64:ff9b:1::7f00:1', 'local-use translation'], // RFC 8215: the operator picks where the IPv4 sits
      ['64:ff9b:1:808:808::', 'local-use translation'], // even when it looks like a public one
      ['2002:a9fe:a9fe::1', 'link-local'], // 6to4 of 169.254.169.254
      ['2002:c0a8:101:1::1', 'private'], // 6to4 of 192.168.1.1
      ['2001:0:808:808:0:0:80ff:fffe', 'loopback'], // Teredo, server 8.8.8.8, client 127.0.0.1 (inverted)
      ['2001:0:7f00:1:0:0:f7f7:f7f7', 'loopback'], // Teredo, server 127.0.0.1, client 8.8.8.8
      ['2001:0:808:808::f5ff:fffe', 'private'], // Teredo, client 10.0.0.1
    ]
    for (const [address, reason] of refused) expect({ address, reason: refusalOf(strict, address) }).toEqual({ address, reason })
  })

  test('allows public addresses, and private ones only when told to', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '::ffff:0:808:808', '2002:808:808::1', '2001:0:808:808::f7f7:f7f7']) {
      expect({ address, reason: refusalOf(strict, address) }).toEqual({ address, reason: undefined })
    }
    const open = addressPolicy({ allowPrivate: true, allowedNetworks: [] })
    expect(refusalOf(open, '127.0.0.1')).toBeUndefined()
    const oneNet = addressPolicy({ allowPrivate: false, allowedNetworks: ['10.0.5.0/24', 'fd00:1::/32'] })
    expect(refusalOf(oneNet, '10.0.5.77')).toBeUndefined()
    expect(refusalOf(oneNet, '10.0.6.1')).toBe('private')
    expect(refusalOf(oneNet, 'fd00:1:2::3')).toBeUndefined()
    expect(refusalOf(oneNet, 'fd00:2::3')).toBe('unique-local')
  })

  test('checks every address a name resolves to', async () => {
    await expect(resolveChecked(strict, 'localhost')).rejects.toThrow(/loopback address/)
    await expect(resolveChecked(strict, '[::ffff:127.0.0.1]')).rejects.toThrow(/loopback/)
    // In plain words, without the resolver's ENOTFOUND.
    await expect(resolveChecked(strict, 'no-such-host.invalid')).rejects.toThrow('no-such-host.invalid could not be looked up: there is no such host name. Check the address')
    expect(await resolveChecked(strict, '8.8.8.8')).toEqual({ address: '8.8.8.8', family: 4 })
  })

  test('an AAAA answer with IPv4 inside is refused like the IPv4 itself', async () => {
    const answering = (...addresses: string[]) => async () => addresses.map((address) => ({ address, family: 6 }))
    const refused: [string, RegExp][] = [
      ['::ffff:0:7f00:1', /loopback/],
      ['64:ff9b:1::7f00:1', /local-use translation/],
      ['2001:0:808:808::80ff:fffe', /loopback/],
      ['2002:a00:1::1', /private/],
    ]
    for (const [address, reason] of refused) {
      await expect(resolveChecked(strict, 'hook.example', answering('2606:4700:4700::1111', address))).rejects.toThrow(reason)
    }
    expect(await resolveChecked(strict, 'hook.example', answering('64:ff9b::808:808'))).toEqual({ address: '64:ff9b::808:808', family: 6 })
  })
})
