import { Elysia } from 'elysia'
const mk = () => new ReadableStream({ start(c) { c.enqueue(new Uint8Array(1000)); c.enqueue(new Uint8Array(500)); c.close() } })
const app = new Elysia().get('/s', () => new Response(mk(), { headers: { 'content-length': '1500' } }))
app.listen({ port: 0, hostname: '127.0.0.1' })
const raw = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response(mk(), { headers: { 'content-length': '1500' } }) })
for (const url of [`http://127.0.0.1:${app.server!.port}/s`, `http://127.0.0.1:${raw.port}/s`]) {
  const p = Bun.spawn(['curl', '-s', '-D', '-', '-o', '/dev/null', url]); await p.exited; console.log(await new Response(p.stdout).text())
}
app.stop(true); raw.stop(true)
