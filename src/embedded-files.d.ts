// Files src/native.ts embeds in the single binary: imported `with { type: 'file' }`, they are paths.
declare module '*.wasm' {
  const path: string
  export default path
}
declare module '*.data' {
  const path: string
  export default path
}
declare module '@img/sharp-libvips-linux-x64/binary' {
  const path: string
  export default path
}
