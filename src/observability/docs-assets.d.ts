// The API reference UI's files, imported `with { type: 'file' }` (src/observability/docs.ts): paths, embedded by `bun build --compile`.
declare module 'swagger-ui-dist/swagger-ui-bundle.js' {
  const path: string
  export default path
}
declare module 'swagger-ui-dist/swagger-ui.css' {
  const path: string
  export default path
}
