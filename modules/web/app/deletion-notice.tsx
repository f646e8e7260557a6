import { Link } from './router.tsx'
import { formatDate } from './ui.tsx'

/**
 * After "Delete my account", only the account page said so: every other signed-in page carries
 * this line until the deletion is cancelled there (or happens).
 */
export function DeletionScheduledNotice({ at }: { at: string }) {
  return (
    <div class="warning" data-testid="deletion-notice">
      <p>
        Your account is scheduled for deletion on <strong>{formatDate(at)}</strong>. Cancel it on the <Link href="/account">Account page</Link>.
      </p>
    </div>
  )
}
