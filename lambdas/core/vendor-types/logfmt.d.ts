/** The logfmt package's parser alone (its main module adds streams and HTTP middleware the core does not need). */
declare module 'logfmt/lib/logfmt_parser' {
  /** key=value pairs of one line: values are strings, `true`/`false` booleans, a bare key true, `key=` null. */
  export function parse(line: string): Record<string, string | boolean | null>;
}
