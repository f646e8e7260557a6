import { expect, test } from 'bun:test'
import { ConfigError, parseConfig } from '#core/config.ts'

const refused = (env: Record<string, string>) => {
  try {
    parseConfig(env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message.split('\n')).toHaveLength(1)
    return (error as ConfigError).variable
  }
  throw new Error('expected the configuration to be refused')
}

test('WebAuthn relying party: defaults from AUTH_SERVER_URL, overridable, checked', () => {
  expect(parseConfig({}).webauthn).toEqual({ rpId: 'localhost', rpName: 'imghost', origins: ['http://localhost:5001'] })
  expect(parseConfig({ AUTH_SERVER_URL: 'https://img.example.com/' }).webauthn).toEqual({
    rpId: 'img.example.com',
    rpName: 'imghost',
    origins: ['https://img.example.com'],
  })
  const wide = parseConfig({
    AUTH_SERVER_URL: 'https://auth.example.com',
    WEBAUTHN_RP_ID: 'Example.com',
    WEBAUTHN_ORIGIN: 'https://auth.example.com, https://example.com/',
    WEBAUTHN_RP_NAME: 'Pics',
  }).webauthn
  expect(wide).toEqual({ rpId: 'example.com', rpName: 'Pics', origins: ['https://auth.example.com', 'https://example.com'] })
  // An origin that is not on the RP ID could never use its passkeys.
  expect(refused({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGIN: 'https://evil.test' })).toBe('WEBAUTHN_ORIGIN')
  expect(refused({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGIN: 'https://notexample.com' })).toBe('WEBAUTHN_ORIGIN')
  // The origin then comes from AUTH_SERVER_URL: the setting to fix is the one the operator made.
  expect(refused({ WEBAUTHN_RP_ID: 'example.com' })).toBe('WEBAUTHN_RP_ID')
  expect(() => parseConfig({ WEBAUTHN_RP_ID: 'example.com' })).toThrow(`WEBAUTHN_RP_ID="example.com": must be AUTH_SERVER_URL's host (localhost)`)
  // Browsers refuse passkeys for an IP address, so the RP ID must be a name (README, Configuration).
  for (const ip of ['127.0.0.1', '192.168.1.10', '10.0.0.1']) {
    expect(refused({ WEBAUTHN_RP_ID: ip, AUTH_SERVER_URL: `http://${ip}:6126` })).toBe('WEBAUTHN_RP_ID')
    expect(refused({ WEBAUTHN_RP_ID: ip })).toBe('WEBAUTHN_RP_ID')
  }
  expect(() => parseConfig({ WEBAUTHN_RP_ID: '127.0.0.1', AUTH_SERVER_URL: 'http://127.0.0.1:6126' })).toThrow('not an IP address')
  expect(refused({ WEBAUTHN_RP_ID: 'https://example.com' })).toBe('WEBAUTHN_RP_ID')
  expect(refused({ WEBAUTHN_ORIGIN: 'ftp://localhost' })).toBe('WEBAUTHN_ORIGIN')
})

test('REQUIRE_ADMIN_2FA is off by default and must be a boolean', () => {
  expect(parseConfig({}).requireAdmin2fa).toBe(false)
  expect(parseConfig({ REQUIRE_ADMIN_2FA: 'true' }).requireAdmin2fa).toBe(true)
  expect(refused({ REQUIRE_ADMIN_2FA: 'maybe' })).toBe('REQUIRE_ADMIN_2FA')
})
