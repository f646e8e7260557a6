import { formatBytes, formatDate, useLoad, useSession } from './ui.tsx'

/** What GET /upload/quota says of the month's bandwidth. */
export interface BandwidthState {
  bandwidth_limit_reached: boolean
  bandwidth_limit_month: number
  bandwidth_resets_at: string
}

/**
 * The month's bandwidth as the view servers enforce it, loaded with the page: once it is used
 * up, the account's images are refused to everyone but the owner (429) until the month turns.
 * Undefined until known; a failure to load says nothing (the page goes on without the notice).
 */
export function useBandwidthLimit(): BandwidthState | undefined {
  const { api } = useSession()
  const quota = useLoad(async () => (await api.remote<BandwidthState>('upload', 'GET', '/upload/quota')).data)
  return quota.data
}

/**
 * Shown to the owner where their images and usage are (gallery, image, upload and account pages)
 * while the month's bandwidth is used up: otherwise nothing would tell them why their links
 * stopped working for everyone else.
 */
export function BandwidthLimitNotice({ state }: { state: BandwidthState | undefined }) {
  if (!state?.bandwidth_limit_reached) return null
  return (
    <div class="warning" role="status" data-testid="bandwidth-notice">
      <p>
        This month’s bandwidth ({formatBytes(state.bandwidth_limit_month)}) is used up, so your images are not shown to anyone else until{' '}
        <strong>{formatDate(state.bandwidth_resets_at)}</strong>, when the count starts over. You can still open and download them yourself while signed in. A
        bigger plan lifts the limit at once: ask an administrator.
      </p>
    </div>
  )
}
