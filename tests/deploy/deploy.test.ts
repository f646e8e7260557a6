import { describe, expect, test } from 'bun:test'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, parseConfig } from '#core/config.ts'
import { PROJECT_ROOT } from '../../scripts/lib/process.ts'

const deploy = (...parts: string[]) => join(PROJECT_ROOT, 'deploy', ...parts)

/** KEY=VALUE lines, as systemd's EnvironmentFile reads them (comments and blanks skipped). */
function readEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim())
    if (match) env[match[1]!] = match[2]!
  }
  return env
}

/** `Environment=` assignments of a unit, with the instance name (%i) given. */
function unitEnvironment(unit: string, instance: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of unit.split('\n').filter((l) => l.startsWith('Environment='))) {
    for (const pair of line.slice('Environment='.length).split(/\s+/)) {
      const [key, value] = pair.split('=')
      env[key!] = value!.replaceAll('%i', instance)
    }
  }
  return env
}

describe('deploy/ artefacts', () => {
  const example = readEnvFile(readFileSync(deploy('.env.example'), 'utf8'))
  /** The example as an operator leaves it at step 2: every placeholder secret replaced by one of their own. */
  const filledIn = { ...example, JWT_SECRET: 'operator-secret-0123456789abcdef-0123456789', METRICS_TOKEN: 'metrics-0123456789abcdef', CRON_SECRET_TOKEN: 'cron-0123456789abcdef' }
  const known = new Set(readFileSync(join(PROJECT_ROOT, 'src/config.ts'), 'utf8').match(/'[A-Z][A-Z0-9_]+'/g)!.map((q) => q.slice(1, -1)))

  test('.env.example holds only real variables and, its secrets filled in, is a valid split-mode configuration', () => {
    expect(Object.keys(example).filter((key) => !known.has(key))).toEqual([])
    // As it ships, its placeholder secrets stop the start (tests/core/config.test.ts).
    expect(() => parseConfig(example)).toThrow(ConfigError)
    const config = parseConfig(filledIn)
    expect(config.databaseUrl).toStartWith('postgres://')
    expect(config.storage.driver).toBe('s3')
    expect(config.trustedProxies).toBe(1)
    expect(config.jwtSecret!.length).toBeGreaterThanOrEqual(32)
  })

  test('each systemd unit runs the binary as one module on its instance port, with the shared settings', () => {
    const units = readdirSync(deploy('systemd')).sort()
    expect(units).toEqual(['imghost-auth@.service', 'imghost-upload@.service', 'imghost-view@.service'])
    for (const unit of units) {
      const module = /^imghost-(\w+)@/.exec(unit)![1]!
      const text = readFileSync(deploy('systemd', unit), 'utf8')
      expect(text).toContain('ExecStart=/usr/local/bin/imghost\n')
      expect(text).toContain('EnvironmentFile=/etc/imghost/imghost.env')
      expect(text).toContain('KillSignal=SIGTERM')
      expect(text).toContain('\nUMask=0077\n')
      const config = parseConfig({ ...filledIn, ...unitEnvironment(text, '5042') })
      expect(config.modules).toEqual([module as 'auth' | 'upload' | 'view'])
      expect(config.ports[module as 'auth']).toBe(5042)
      expect(config.dataDir).toBe(`/var/lib/imghost/${module}-5042`)
    }
  })

  test('every placeholder of nginx.conf is explained in its header', () => {
    const text = readFileSync(deploy('nginx.conf'), 'utf8')
    const header = text.slice(0, text.indexOf('upstream'))
    const placeholders = [...new Set(text.match(/\$\{(IMGHOST_[A-Z0-9_]+)\}/g)!.map((p) => p.slice(2, -1)))]
    expect(placeholders.length).toBeGreaterThanOrEqual(11)
    for (const name of placeholders) expect(header).toContain(name)
  })
})
