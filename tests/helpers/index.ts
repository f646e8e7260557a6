export * from './context.ts'
export * from './http.ts'
