import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { PROJECT_ROOT } from '../../scripts/lib/process.ts'

/**
 * The layout's rules, checked on every import the bundler would follow (static, dynamic and
 * re-exports): the core (src/) knows no feature module except in the composition root, and no
 * module reaches into another.
 */

const COMPOSITION_ROOT = ['src/app.ts', 'src/main.ts']
/**
 * Every module specifier in the code: `from '…'` (imports, type imports, re-exports),
 * `import('…')` (dynamic and type-position imports) and bare `import '…'`. A regex rather than
 * the transpiler's scanImports, which drops type-only imports.
 */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g
const specifiersIn = (code: string) => [...code.matchAll(SPECIFIER)].map((match) => match[1]!)

function sourceFiles(folder: string): string[] {
  return [...new Bun.Glob('**/*.{ts,tsx}').scanSync({ cwd: join(PROJECT_ROOT, folder) })].map((file) => `${folder}/${file}`)
}

/** Where each import of `file` points, as a path from the project root (package imports stay as they are). */
function importsOf(file: string): string[] {
  const code = readFileSync(join(PROJECT_ROOT, file), 'utf8')
  return specifiersIn(code).map((path) => {
    if (path.startsWith('#core/')) return `src/${path.slice('#core/'.length)}`
    if (path.startsWith('#modules/')) return `modules/${path.slice('#modules/'.length)}`
    if (path.startsWith('.')) return relative(PROJECT_ROOT, resolve(dirname(join(PROJECT_ROOT, file)), path))
    return path
  })
}

/** Imports of files under `src/` that lead into `modules/`, outside the composition root. */
export function coreViolations(): string[] {
  return sourceFiles('src')
    .filter((file) => !COMPOSITION_ROOT.includes(file))
    .flatMap((file) => importsOf(file).filter((target) => target.startsWith('modules/')).map((target) => `${file} imports ${target}`))
}

/** Imports of a module's files that lead into another module. */
export function moduleViolations(): string[] {
  return sourceFiles('modules').flatMap((file) => {
    const own = file.split('/')[1]
    return importsOf(file)
      .filter((target) => target.startsWith('modules/') && target.split('/')[1] !== own)
      .map((target) => `${file} imports ${target}`)
  })
}

describe('boundaries', () => {
  test('src/ imports no feature module, except the composition root (src/app.ts, src/main.ts)', () => {
    expect(coreViolations()).toEqual([])
  })

  test('no module imports another module', () => {
    expect(moduleViolations()).toEqual([])
  })

  test('the check sees every kind of import: relative, aliased, type-only, dynamic and re-exports', () => {
    const scanned = specifiersIn(`
      import a from '../../modules/view/repo.ts'
      import { b } from '#modules/upload/service.ts'
      import type { T } from '#modules/account/model.ts'
      export { c } from '#modules/auth/repo.ts'
      import '#modules/web/index.ts'
      const d = await import('#modules/admin/stats.ts')
      let e: import('#modules/view/model.ts').E`)
    expect(scanned).toEqual([
      '../../modules/view/repo.ts',
      '#modules/upload/service.ts',
      '#modules/account/model.ts',
      '#modules/auth/repo.ts',
      '#modules/web/index.ts',
      '#modules/admin/stats.ts',
      '#modules/view/model.ts',
    ])
  })
})
