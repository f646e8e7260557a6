import { AppError } from '../errors'

export interface BmpRequest {
  path: string
  /** Where the worker writes the decoded pixels, as a libvips `.v` file. */
  outPath: string
  maxPixels: number
}

export type BmpReply =
  | { ok: true; width: number; height: number; channels: 3 | 4 }
  | { ok: false; refusal: { status: number; code: string; message: string } }

/**
 * Under `bun src/main.ts` the entry sits beside this file. In the single binary every module is
 * bundled into one whose URL is the executable's, at the build root (the project root, pinned in
 * scripts/build.ts), and the worker entry is embedded under its path from there.
 */
const WORKER_URL = import.meta.url.startsWith('file:///$bunfs/')
  ? new URL('./src/media/bmp-worker.ts', import.meta.url).href
  : new URL('./bmp-worker.ts', import.meta.url).href

/** A refusal raised in the worker, rebuilt on this side with the same status, code and message. */
class BmpRefusal extends AppError {}

/**
 * Decodes the BMP at `path` in a worker of its own into a `.v` file at `outPath`, so the event
 * loop keeps serving while it runs. One worker per job, ended afterwards: BMP uploads are rare,
 * a worker starts in tens of milliseconds, and ending it hands its whole heap back at once.
 */
export async function decodeBmpOffThread(path: string, outPath: string, maxPixels: number): Promise<{ width: number; height: number }> {
  const worker = new Worker(WORKER_URL)
  try {
    const reply = await new Promise<BmpReply>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<BmpReply>) => resolve(event.data)
      worker.onerror = (event) => reject(new Error(`BMP worker failed: ${event.message}`))
      worker.postMessage({ path, outPath, maxPixels } satisfies BmpRequest)
    })
    if (reply.ok) return { width: reply.width, height: reply.height }
    throw new BmpRefusal(reply.refusal.status, reply.refusal.code, reply.refusal.message)
  } finally {
    worker.terminate()
  }
}
