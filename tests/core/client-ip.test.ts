import { describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { clientIp } from '#core/http/client-ip.ts'

/** A server whose socket says 192.0.2.1, as Bun's requestIP() would. */
const socket = { requestIP: () => ({ address: '192.0.2.1', family: 'IPv4', port: 40000 }) } as unknown as Server<unknown>
const request = (headers: Record<string, string>) => new Request('http://localhost/i/x', { headers })

describe('the client address', () => {
  test('behind a trusted proxy: the left-most X-Forwarded-For entry, then X-Real-IP, then the socket', () => {
    expect(clientIp(request({ 'x-forwarded-for': '203.0.113.7' }), socket, true)).toBe('203.0.113.7')
    expect(clientIp(request({ 'x-forwarded-for': ' 203.0.113.7 , 10.0.0.1, 10.0.0.2' }), socket, true)).toBe('203.0.113.7')
    expect(clientIp(request({ 'x-forwarded-for': ' , 10.0.0.1', 'x-real-ip': '198.51.100.4' }), socket, true)).toBe('198.51.100.4')
    expect(clientIp(request({ 'x-forwarded-for': '' }), socket, true)).toBe('192.0.2.1')
    expect(clientIp(request({}), socket, true)).toBe('192.0.2.1')
  })

  test('without one, headers are the client\'s own words: only the socket counts', () => {
    expect(clientIp(request({ 'x-forwarded-for': '203.0.113.7', 'x-real-ip': '198.51.100.4' }), socket, false)).toBe('192.0.2.1')
  })
})
