import { useState } from 'preact/hooks'
import type { Api } from './api.ts'
import { ActionButton } from './forms.tsx'
import { messageOf, useSession } from './ui.tsx'

/** Mails the verification link again: what the server said, or why it did not. */
export async function resendVerificationLink(api: Api): Promise<{ message?: string; error?: string }> {
  try {
    return { message: (await api.auth<{ message: string }>('POST', '/api/v1/auth/verify-email/resend')).message }
  } catch (e) {
    return { error: messageOf(e) }
  }
}

/**
 * Until its address is verified, an account may make no API keys (src/auth/unverified-policy.ts),
 * and nothing else says so after sign-up: the person lands on the upload page. Shown on the
 * signed-in pages until the link is followed; the account page has its own line for it.
 */
export function VerifyAddressNotice({ email }: { email: string }) {
  const { api } = useSession()
  const [sent, setSent] = useState<{ error?: string; message?: string }>({})
  const resend = async () => setSent(await resendVerificationLink(api))
  // No Status of its own: App puts this in a live region already (a region inside one is read twice).
  return (
    <div class="warning verify-notice" data-testid="verify-notice">
      <p>
        We sent a link to <strong>{email}</strong>: open it to verify your address. Until then, API keys cannot be made.{' '}
        <ActionButton class="link" busyLabel="Sending…" onClick={resend}>Send the link again</ActionButton>
      </p>
      {sent.message ? <p class="ok">{sent.message}</p> : null}
      {sent.error ? <p class="error" role="alert">{sent.error}</p> : null}
    </div>
  )
}
