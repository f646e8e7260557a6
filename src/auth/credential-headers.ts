/**
 * A header sent more than once reaches the app as one value, its lines joined by ", " (Bun does
 * as the Fetch standard says, RFC 9110 §5.3): `X-API-Key: k1` and `X-API-Key: k2` read "k1, k2",
 * two `Authorization: Bearer …` lines "Bearer a, Bearer b". No credential this platform hands
 * out holds a comma or a space (a key is `ih_` and base62, a session token three base64url
 * parts), so such a value splits back into what each line carried, and each is then a credential
 * of its own: the first is the one used, the others only checked not to name another account
 * (Credentials.alongside). Looked up as one, the joined value told a client whose proxy added
 * the header again that its good key was revoked.
 */

/**
 * The credentials in one header's value, in the order sent. `parse` takes one line's value to
 * its credential (`Bearer x` to `x`), or undefined for a line that carries none. The value is
 * split only when every line gives a credential without a space or comma; anything else is one
 * line, as before (`Bearer a b` stays `a b`, refused as a bad token).
 */
export function credentialsIn(value: string | null, parse: (line: string) => string | undefined = (line) => line): string[] {
  const whole = value?.trim()
  if (!whole) return []
  if (whole.includes(',')) {
    const lines = whole.split(',').map((line) => line.trim()).filter((line) => line !== '')
    const credentials = lines.map(parse)
    if (credentials.every((credential) => credential !== undefined && credential !== '' && !/[\s,]/.test(credential))) return credentials as string[]
  }
  const credential = parse(whole)?.trim()
  return credential ? [credential] : []
}

/** The token of an `Authorization: Bearer …` line. */
export const bearerOf = (line: string) => /^Bearer\s+(.+)$/i.exec(line)?.[1]?.trim()

/** Every key sent in X-API-Key, the one used first. */
export const apiKeysIn = (headers: Headers) => credentialsIn(headers.get('x-api-key'))

/** Every Bearer token sent in `Authorization`, the one used first. */
export const bearersIn = (headers: Headers) => credentialsIn(headers.get('authorization'), bearerOf)
