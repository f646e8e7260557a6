// ua-parser-js 1.x (MIT) ships no type declarations; this is the slice the view and auth modules use.
declare module 'ua-parser-js' {
  export interface UAParserResult {
    browser: { name?: string; version?: string }
    os: { name?: string; version?: string }
    device: { type?: string; vendor?: string; model?: string }
  }
  export class UAParser {
    constructor(userAgent?: string)
    getResult(): UAParserResult
  }
}
