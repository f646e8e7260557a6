const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const two = (value: string) => value.padStart(2, '0')
const isNumber = (value: string) => /^\d+$/.test(value)

/**
 * A job's cron schedule in words, for people who do not read cron ("every 5 minutes", "daily at
 * 03:00 UTC"). Shapes it does not know stay as the expression; the page shows that beside it anyway.
 */
export function cronInWords(expression: string, timezone = 'UTC'): string {
  const fields = expression.trim().split(/\s+/)
  if (fields.length !== 5) return expression
  const [minute, hour, day, month, weekday] = fields as [string, string, string, string, string]
  const everyMinutes = /^\*\/(\d+)$/.exec(minute)
  if (everyMinutes && hour === '*' && day === '*' && month === '*' && weekday === '*') {
    return everyMinutes[1] === '1' ? 'every minute' : `every ${Number(everyMinutes[1])} minutes`
  }
  if (!isNumber(minute) || month !== '*') return expression
  if (hour === '*' && day === '*' && weekday === '*') return `hourly at ${two(minute)} minutes past`
  if (!isNumber(hour)) return expression
  const at = `at ${two(hour)}:${two(minute)} ${timezone}`
  if (day === '*' && weekday === '*') return `daily ${at}`
  if (day === '*' && isNumber(weekday) && DAYS[Number(weekday) % 7]) return `every ${DAYS[Number(weekday) % 7]} ${at}`
  if (isNumber(day) && weekday === '*') return `monthly on day ${Number(day)} ${at}`
  return expression
}
