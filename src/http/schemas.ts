import { t } from 'elysia'

/** The one error body of the platform. */
export const ErrorResponse = t.Object({
  success: t.Literal(false),
  error: t.Object({
    code: t.String(),
    message: t.String(),
    error_id: t.Optional(t.String()),
    details: t.Optional(t.Unknown()),
  }),
})

export const HealthResponse = t.Object({
  status: t.Literal('ok'),
  service: t.String(),
  /** Single-port mode: every module behind this listener. */
  modules: t.Optional(t.Array(t.Object({ module: t.String(), service: t.String(), status: t.Literal('ok') }))),
  time: t.String(),
})

/** Route params that reach SQL as uuid: anything else is a plain 404, never a cast error. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isUuid = (value: string) => UUID_PATTERN.test(value)
