/**
 * A failure an operator fixes from its message alone: a setting the system refuses (a database
 * URL that does not connect, a HOST that is not this machine's), or a data directory that
 * cannot be used. src/main.ts prints the message as one line, without a stack; the message
 * names the variable or file to look at, and never a password.
 */
export class OperatorError extends Error {
  override name = 'OperatorError'
}
