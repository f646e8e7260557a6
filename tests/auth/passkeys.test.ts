import { expect, test } from 'bun:test'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'
import { auditActions, passwordStep } from '../helpers/two-factor.ts'
import { softAuthenticator } from '../helpers/webauthn.ts'

describeEachBackend('passkeys (WebAuthn)', (app) => {
  const origin = () => app().config.webauthn.origins[0]!

  async function addPasskey(token: string, authenticator: ReturnType<typeof softAuthenticator>, name?: string) {
    const [, start] = await call(app().auth, 'POST', '/api/v1/auth/passkeys/options', { token })
    const response = authenticator.create(start.options)
    const [added, body] = await call(app().auth, 'POST', '/api/v1/auth/passkeys', { token, body: { challenge_token: start.challenge_token, name, response } })
    expect(added.status, JSON.stringify(body)).toBe(201)
    return body
  }

  test('registering: options from the config, a discoverable credential, recovery codes with the first factor', async () => {
    const user = await registerUser(app().auth)
    const [, start] = await call(app().auth, 'POST', '/api/v1/auth/passkeys/options', { token: user.token })
    expect(start.options.rp).toEqual({ id: 'localhost', name: 'imghost' })
    expect(start.options.authenticatorSelection).toMatchObject({ residentKey: 'required', requireResidentKey: true })
    expect(start.options.attestation).toBe('none')
    expect(start.options.user.name).toBe(user.username)
    const authenticator = softAuthenticator({ origin: origin() })
    const throwaway = softAuthenticator({ origin: origin() })

    // An answer made for another site is refused.
    const [foreign, foreignBody] = await call(app().auth, 'POST', '/api/v1/auth/passkeys', {
      token: user.token,
      body: { challenge_token: start.challenge_token, response: throwaway.create(start.options, { origin: 'https://evil.example' }) },
    })
    expect(foreign.status).toBe(400)
    expect(foreignBody.error.code).toBe('invalid_passkey')
    expect(foreignBody.error.message).toContain('origin')
    // A malformed attestation is said to be malformed, without the engine's words for where the library broke.
    for (const attestationObject of ['oA', '/////w']) {
      const response = throwaway.create(start.options)
      const [malformed, malformedBody] = await call(app().auth, 'POST', '/api/v1/auth/passkeys', {
        token: user.token,
        body: { challenge_token: start.challenge_token, response: { ...response, response: { ...response.response, attestationObject } } },
      })
      expect({ status: malformed.status, code: malformedBody.error.code, message: malformedBody.error.message }).toEqual({
        status: 400,
        code: 'invalid_passkey',
        message: 'The passkey could not be verified: the response is malformed',
      })
    }
    // Someone else's session cannot finish this registration.
    const other = await registerUser(app().auth)
    const [stolen, stolenBody] = await call(app().auth, 'POST', '/api/v1/auth/passkeys', {
      token: other.token,
      body: { challenge_token: start.challenge_token, response: throwaway.create(start.options) },
    })
    expect(stolen.status).toBe(403)
    expect(stolenBody.error.code).toBe('invalid_challenge')

    const first = await addPasskey(user.token, authenticator, 'Laptop')
    expect(first.passkey).toMatchObject({ name: 'Laptop', device_type: 'singleDevice', backed_up: false, last_used_at: null })
    expect(first.recovery_codes).toHaveLength(10)
    const second = await addPasskey(user.token, authenticator)
    expect(second.passkey.name).toBe('Passkey 2')
    expect(second.recovery_codes).toBeNull()
    const [, status] = await call(app().auth, 'GET', '/api/v1/auth/2fa', { token: user.token })
    expect(status).toMatchObject({ enabled: true, totp: false, passkeys: 2, recovery_codes_left: 10 })
    // The next registration excludes both credentials.
    const [, next] = await call(app().auth, 'POST', '/api/v1/auth/passkeys/options', { token: user.token })
    expect(next.options.excludeCredentials.map((c: { id: string }) => c.id).sort()).toEqual(authenticator.credentials.map((c) => Buffer.from(c.id).toString('base64url')).sort())

    const [renamed, renamedBody] = await call(app().auth, 'PATCH', `/api/v1/auth/passkeys/${second.passkey.id}`, { token: user.token, body: { name: 'Phone' } })
    expect(renamed.status).toBe(200)
    expect(renamedBody.passkey.name).toBe('Phone')
    const [, list] = await call(app().auth, 'GET', '/api/v1/auth/passkeys', { token: user.token })
    expect(list.passkeys.map((p: { name: string }) => p.name)).toEqual(['Laptop', 'Phone'])
    expect(JSON.stringify(list)).not.toContain('public_key')
    const [otherRename] = await call(app().auth, 'PATCH', `/api/v1/auth/passkeys/${second.passkey.id}`, { token: other.token, body: { name: 'Mine' } })
    expect(otherRename.status).toBe(404)
    // A name is one line without hidden controls (src/text/user-text.ts); nothing left is no name.
    const [hiddenRename, hiddenBody] = await call(app().auth, 'PATCH', `/api/v1/auth/passkeys/${second.passkey.id}`, { token: user.token, body: { name: 'Ph\u202eone\r\nkey\u0007' } })
    expect([hiddenRename.status, hiddenBody.passkey?.name]).toEqual([200, 'Phone key'])
    const [blankRename, blankBody] = await call(app().auth, 'PATCH', `/api/v1/auth/passkeys/${second.passkey.id}`, { token: user.token, body: { name: '\u202e \u0007' } })
    expect([blankRename.status, blankBody.error.code]).toEqual([400, 'invalid_passkey_name'])
    const third = await addPasskey(user.token, authenticator, '\u2066Desk\ttop\u0085')
    expect(third.passkey.name).toBe('Desk top')
    const fourth = await addPasskey(user.token, authenticator, '\u202e\n')
    expect(fourth.passkey.name).toBe('Passkey 4')
    expect(await auditActions(app().ctx.sql, user.id)).toEqual(['auth.passkey_added', 'auth.2fa_enabled', 'auth.passkey_added', 'auth.passkey_added', 'auth.passkey_added'])
  })

  test('a passkey is the second step of a password sign-in', async () => {
    const user = await registerUser(app().auth)
    const authenticator = softAuthenticator({ origin: origin(), userVerified: false })
    await addPasskey(user.token, authenticator)
    const { body } = await passwordStep(app().auth, user.username, user.password)
    expect(body.methods).toEqual(['recovery_code', 'passkey'])
    expect(body.webauthn.allowCredentials).toHaveLength(1)
    expect(body.webauthn.rpId).toBe('localhost')
    // Signed for another origin: refused, and counted.
    const [wrongOrigin, wrongBody] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', {
      body: { challenge_token: body.challenge_token, webauthn: authenticator.get(body.webauthn, { origin: 'http://localhost:9999' }) },
    })
    expect(wrongOrigin.status).toBe(401)
    expect(wrongBody.error.code).toBe('invalid_passkey')
    const [done, session] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: body.challenge_token, webauthn: authenticator.get(body.webauthn) } })
    expect(done.status, JSON.stringify(session)).toBe(200)
    expect(session.user.id).toBe(user.id)
    const [, list] = await call(app().auth, 'GET', '/api/v1/auth/passkeys', { token: session.token })
    expect(list.passkeys[0].last_used_at).not.toBeNull()
    // A passkey of another account does not pass for this one.
    const other = await registerUser(app().auth)
    const otherKey = softAuthenticator({ origin: origin() })
    await addPasskey(other.token, otherKey)
    const again = await passwordStep(app().auth, user.username, user.password)
    const [foreign] = await call(app().auth, 'POST', '/api/v1/auth/login/2fa', {
      body: { challenge_token: again.body.challenge_token, webauthn: otherKey.get({ ...again.body.webauthn, allowCredentials: [] }) },
    })
    expect(foreign.status).toBe(401)
  })

  test('passwordless: a discoverable passkey with user verification signs in; replays, clones and unverified users do not', async () => {
    const user = await registerUser(app().auth)
    const authenticator = softAuthenticator({ origin: origin() })
    await addPasskey(user.token, authenticator)
    const [, start] = await call(app().auth, 'POST', '/api/v1/auth/login/passkey/options')
    expect(start.options.allowCredentials).toEqual([])
    expect(start.options.userVerification).toBe('required')
    const assertion = authenticator.get(start.options)
    const [done, session] = await call(app().auth, 'POST', '/api/v1/auth/login/passkey', { body: { challenge_token: start.challenge_token, response: assertion } })
    expect(done.status, JSON.stringify(session)).toBe(200)
    expect(session.user.id).toBe(user.id)
    expect(done.headers.getSetCookie().some((c) => c.startsWith('token='))).toBe(true)
    const [me] = await call(app().auth, 'GET', '/api/v1/account', { token: session.token })
    expect(me.status).toBe(200)
    // The same signed answer again: its challenge is used up.
    const [replayed, replayedBody] = await call(app().auth, 'POST', '/api/v1/auth/login/passkey', { body: { challenge_token: start.challenge_token, response: assertion } })
    expect(replayed.status).toBe(401)
    expect(replayedBody.error.code).toBe('invalid_challenge')
    // A signature counter that goes backwards (a cloned key) is refused.
    const [, fresh] = await call(app().auth, 'POST', '/api/v1/auth/login/passkey/options')
    authenticator.credentials[0]!.signCount = 0
    const [cloned, clonedBody] = await call(app().auth, 'POST', '/api/v1/auth/login/passkey', { body: { challenge_token: fresh.challenge_token, response: authenticator.get(fresh.options) } })
    expect(cloned.status).toBe(401)
    expect(clonedBody.error.code).toBe('invalid_passkey')
    // Without user verification a passkey is one factor only: no passwordless sign-in.
    const presenceOnly = softAuthenticator({ origin: origin(), userVerified: false })
    await addPasskey(user.token, presenceOnly)
    const [, third] = await call(app().auth, 'POST', '/api/v1/auth/login/passkey/options')
    const [unverified] = await call(app().auth, 'POST', '/api/v1/auth/login/passkey', { body: { challenge_token: third.challenge_token, response: presenceOnly.get(third.options) } })
    expect(unverified.status).toBe(401)
    // An unknown credential.
    const stranger = softAuthenticator({ origin: origin() })
    stranger.create({ challenge: 'x', rp: { id: 'localhost' }, user: { id: 'AAAA' } })
    const [, fourth] = await call(app().auth, 'POST', '/api/v1/auth/login/passkey/options')
    const [unknown, unknownBody] = await call(app().auth, 'POST', '/api/v1/auth/login/passkey', { body: { challenge_token: fourth.challenge_token, response: stranger.get(fourth.options) } })
    expect(unknown.status).toBe(401)
    expect(unknownBody.error.code).toBe('invalid_passkey')
  })

  test('removing a passkey needs the password; the last one gone turns 2FA off', async () => {
    const user = await registerUser(app().auth)
    const authenticator = softAuthenticator({ origin: origin() })
    const { passkey } = await addPasskey(user.token, authenticator)
    const [wrong, wrongBody] = await call(app().auth, 'DELETE', `/api/v1/auth/passkeys/${passkey.id}`, { token: user.token, body: { password: 'not the password' } })
    expect(wrong.status).toBe(403)
    expect(wrongBody.error.code).toBe('invalid_password')
    const [none] = await call(app().auth, 'DELETE', `/api/v1/auth/passkeys/${passkey.id}`, { token: user.token })
    expect(none.status).toBe(403)
    const [removed] = await call(app().auth, 'DELETE', `/api/v1/auth/passkeys/${passkey.id}`, { token: user.token, body: { password: user.password } })
    expect(removed.status).toBe(200)
    const [missing] = await call(app().auth, 'DELETE', `/api/v1/auth/passkeys/${passkey.id}`, { token: user.token, body: { password: user.password } })
    expect(missing.status).toBe(404)
    const [, status] = await call(app().auth, 'GET', '/api/v1/auth/2fa', { token: user.token })
    expect(status).toMatchObject({ enabled: false, passkeys: 0, recovery_codes_left: 0 })
    const [login, body] = await call(app().auth, 'POST', '/api/v1/auth/login', { body: { identifier: user.username, password: user.password } })
    expect(login.status).toBe(200)
    expect(body.token).toBeString()
    // A removed passkey signs in no more.
    const [, start] = await call(app().auth, 'POST', '/api/v1/auth/login/passkey/options')
    const [gone] = await call(app().auth, 'POST', '/api/v1/auth/login/passkey', { body: { challenge_token: start.challenge_token, response: authenticator.get(start.options) } })
    expect(gone.status).toBe(401)
    expect(await auditActions(app().ctx.sql, user.id)).toEqual([
      'auth.passkey_added', 'auth.2fa_enabled', 'auth.2fa_failed', 'auth.2fa_failed', 'auth.passkey_removed', 'auth.2fa_disabled', 'auth.login',
    ])
  })

  test('a passkey confirms new recovery codes and turning 2FA off, in place of a code; only its own challenge, for its own account, once', async () => {
    const user = await registerUser(app().auth)
    const authenticator = softAuthenticator({ origin: origin() })
    const { recovery_codes: firstCodes } = await addPasskey(user.token, authenticator)
    const confirm = async (action: 'recovery-codes' | 'disable', body: Record<string, unknown>, token = user.token) =>
      call(app().auth, 'POST', `/api/v1/auth/2fa/${action}`, { token, body })
    const passkeyAnswer = async (token = user.token) => {
      const [started, start] = await call(app().auth, 'POST', '/api/v1/auth/2fa/passkey-options', { token })
      expect(started.status, JSON.stringify(start)).toBe(200)
      return { challenge_token: start.challenge_token as string, response: authenticator.get(start.options), options: start.options }
    }

    const answer = await passkeyAnswer()
    // Only this account's passkeys may answer.
    expect(answer.options.allowCredentials).toHaveLength(1)
    const refusals: [Record<string, unknown>, number, string][] = [
      [{ password: 'not-the-password', webauthn: answer }, 403, 'invalid_password'],
      [{ password: user.password }, 400, 'second_factor_required'],
      [{ password: user.password, code: firstCodes[0], webauthn: answer }, 400, 'second_factor_required'],
    ]
    for (const [body, status, code] of refusals) {
      const [refused, refusedBody] = await confirm('recovery-codes', body)
      expect({ status: refused.status, code: refusedBody.error.code }).toEqual({ status, code })
    }
    // A sign-in's challenge, signed by the same passkey, is not a confirmation.
    const { body: signIn } = await passwordStep(app().auth, user.username, user.password)
    const signInAnswer = { challenge_token: signIn.challenge_token, response: authenticator.get(signIn.webauthn) }
    const [asSignIn, asSignInBody] = await confirm('recovery-codes', { password: user.password, webauthn: signInAnswer })
    expect(asSignIn.status).toBe(403)
    expect(asSignInBody.error.code).toBe('invalid_challenge')
    // Worded for the security page the person is on, not for a sign-in.
    expect(asSignInBody.error.message).toBe('This passkey step has expired or was already used; start again')
    // Another account cannot use this one's confirmation.
    const other = await registerUser(app().auth)
    await addPasskey(other.token, softAuthenticator({ origin: origin() }))
    const [stolen, stolenBody] = await confirm('recovery-codes', { password: other.password, webauthn: answer }, other.token)
    expect(stolen.status).toBe(403)
    expect(stolenBody.error.code).toBe('invalid_challenge')

    const [renewed, renewedBody] = await confirm('recovery-codes', { password: user.password, webauthn: answer })
    expect(renewed.status, JSON.stringify(renewedBody)).toBe(200)
    expect(renewedBody.recovery_codes).toHaveLength(10)
    const [replayed, replayedBody] = await confirm('recovery-codes', { password: user.password, webauthn: answer })
    expect(replayed.status).toBe(403)
    expect(replayedBody.error.code).toBe('invalid_challenge')
    // The codes from before no longer work.
    const [oldCode] = await confirm('disable', { password: user.password, code: firstCodes[1] })
    expect(oldCode.status).toBe(403)

    const [off, offBody] = await confirm('disable', { password: user.password, webauthn: await passkeyAnswer() })
    expect(off.status, JSON.stringify(offBody)).toBe(200)
    const [, list] = await call(app().auth, 'GET', '/api/v1/auth/passkeys', { token: user.token })
    expect(list.passkeys).toEqual([])
    const [none, noneBody] = await call(app().auth, 'POST', '/api/v1/auth/2fa/passkey-options', { token: user.token })
    expect(none.status).toBe(409)
    expect(noneBody.error.code).toBe('no_passkey')
  })

  test('turning 2FA off removes the passkeys too (password and a recovery code)', async () => {
    const user = await registerUser(app().auth)
    const { recovery_codes } = await addPasskey(user.token, softAuthenticator({ origin: origin() }))
    const [off, body] = await call(app().auth, 'POST', '/api/v1/auth/2fa/disable', { token: user.token, body: { password: user.password, code: recovery_codes[0] } })
    expect(off.status, JSON.stringify(body)).toBe(200)
    const [, list] = await call(app().auth, 'GET', '/api/v1/auth/passkeys', { token: user.token })
    expect(list.passkeys).toEqual([])
  })
})
