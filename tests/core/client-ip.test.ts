import { describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { clientIp } from '#core/http/client-ip.ts'

/** A server whose socket says 192.0.2.1, as Bun's requestIP() would. */
const socket = { requestIP: () => ({ address: '192.0.2.1', family: 'IPv4', port: 40000 }) } as unknown as Server<unknown>
const request = (headers: Record<string, string>) => new Request('http://localhost/i/x', { headers })

describe('the client address', () => {
  test('behind one trusted proxy: the X-Forwarded-For entry it appended (the right-most), then X-Real-IP, then the socket', () => {
    expect(clientIp(request({ 'x-forwarded-for': '203.0.113.7' }), socket, 1)).toBe('203.0.113.7')
    // What stands left of the proxy's entry was sent by the client: nginx's $proxy_add_x_forwarded_for and CDNs append to it.
    expect(clientIp(request({ 'x-forwarded-for': ' 10.0.0.1 , 10.0.0.2, 203.0.113.7 ' }), socket, 1)).toBe('203.0.113.7')
    expect(clientIp(request({ 'x-forwarded-for': '10.0.0.1, ', 'x-real-ip': '198.51.100.4' }), socket, 1)).toBe('198.51.100.4')
    expect(clientIp(request({ 'x-forwarded-for': '' }), socket, 1)).toBe('192.0.2.1')
    expect(clientIp(request({}), socket, 1)).toBe('192.0.2.1')
  })

  test('behind a chain of proxies: as many entries from the right as there are proxies, or the left-most when fewer', () => {
    const forwarded = '10.0.0.1, 203.0.113.7, 198.51.100.20'
    expect(clientIp(request({ 'x-forwarded-for': forwarded }), socket, 2)).toBe('203.0.113.7')
    expect(clientIp(request({ 'x-forwarded-for': forwarded }), socket, 3)).toBe('10.0.0.1')
    expect(clientIp(request({ 'x-forwarded-for': forwarded }), socket, 5)).toBe('10.0.0.1')
  })

  test('without one, headers are the client\'s own words: only the socket counts', () => {
    expect(clientIp(request({ 'x-forwarded-for': '203.0.113.7', 'x-real-ip': '198.51.100.4' }), socket, 0)).toBe('192.0.2.1')
  })
})
