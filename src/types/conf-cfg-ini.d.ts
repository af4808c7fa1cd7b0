declare module 'conf-cfg-ini' {
  interface Options {
    lineEnding?: string
    sectionOpenIdentifier?: string
    sectionCloseIdentifier?: string
    defaultValue?: unknown
    assignIdentifier?: string
    commentIdentifiers?: string[]
    trimLines?: boolean
  }
  export default class Config {
    constructor(options?: Options)
    options: Options
    decode(data: string): Record<string, unknown>
    encode(data: Record<string, unknown>): string
    detectLineEnding(data: string): string
  }
}
