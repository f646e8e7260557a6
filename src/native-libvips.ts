import { isCompiledBinary, preloadLibvips } from './native.ts'

/**
 * The single binary's libvips, loaded when this module is first evaluated: src/media/sharp-configured.ts
 * imports it before sharp, so it happens on the first image rather than at every start (see
 * ./native.ts). Held for the life of the process, so the library can never be closed under the addon.
 */
export const libvips = isCompiledBinary ? preloadLibvips() : undefined
