/**
 * The wire format of the SNS Query API (what `@aws-sdk/client-sns` speaks):
 * form-encoded requests (`Action=Publish&Version=2010-03-31&…`, maps as
 * `Name.entry.N.key/value`) and XML responses in the SNS namespace.
 */

export const SNS_XML_NAMESPACE = 'http://sns.amazonaws.com/doc/2010-03-31/';

/** An error SNS reports to the caller: HTTP status, SNS error code, message. */
export class SnsApiError extends Error {
  override readonly name = 'SnsApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly type: 'Sender' | 'Receiver' = status >= 500 ? 'Receiver' : 'Sender',
  ) {
    super(message);
  }
}

export const invalidParameter = (detail: string): SnsApiError => new SnsApiError(400, 'InvalidParameter', `Invalid parameter: ${detail}`);
export const topicNotFound = (): SnsApiError => new SnsApiError(404, 'NotFound', 'Topic does not exist');

/** Request parameters of one Query API call. */
export class QueryParams {
  constructor(private readonly params: URLSearchParams) {}

  static parse(body: string, query = ''): QueryParams {
    const all = new URLSearchParams(query);
    for (const [k, v] of new URLSearchParams(body)) all.append(k, v);
    return new QueryParams(all);
  }

  get(name: string): string | undefined {
    return this.params.get(name) ?? undefined;
  }

  required(name: string): string {
    const v = this.get(name);
    if (v === undefined || v === '') throw invalidParameter(`${name} is required`);
    return v;
  }

  /** A map serialised as `Name.entry.N.key` / `Name.entry.N.value` (the keys vary per map). */
  map(name: string, keyField = 'key', valueField = 'value'): Map<string, string> {
    const out = new Map<string, string>();
    for (let i = 1; ; i++) {
      const k = this.get(`${name}.entry.${i}.${keyField}`);
      if (k === undefined) return out;
      out.set(k, this.get(`${name}.entry.${i}.${valueField}`) ?? '');
    }
  }

  /** Entries of a map whose values are structures (`Name.entry.N.Value.Field`). */
  structMap(name: string): Map<string, Map<string, string>> {
    const out = new Map<string, Map<string, string>>();
    for (let i = 1; ; i++) {
      const prefix = `${name}.entry.${i}.`;
      const k = this.get(`${prefix}Name`);
      if (k === undefined) return out;
      const fields = new Map<string, string>();
      for (const [key, value] of this.params) {
        if (key.startsWith(`${prefix}Value.`)) fields.set(key.slice(prefix.length + 'Value.'.length), value);
      }
      out.set(k, fields);
    }
  }
}

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** An XML fragment: elements from an object (arrays repeat `member`, nested objects nest). */
export type XmlValue = string | number | boolean | undefined | XmlValue[] | { readonly [k: string]: XmlValue };

export function toXml(value: XmlValue): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map((v) => `<member>${toXml(v)}</member>`).join('');
  if (typeof value === 'object') {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `<${k}>${toXml(v)}</${k}>`)
      .join('');
  }
  return xmlEscape(String(value));
}

/** A map as SNS writes it: `<entry><key>…</key><value>…</value></entry>`. */
export function xmlMap(entries: Iterable<readonly [string, string]>): string {
  return [...entries].map(([k, v]) => `<entry><key>${xmlEscape(k)}</key><value>${xmlEscape(v)}</value></entry>`).join('');
}

export function successXml(action: string, requestId: string, resultXml: string | undefined): string {
  const result = resultXml === undefined ? '' : `<${action}Result>${resultXml}</${action}Result>`;
  return `<?xml version="1.0"?>\n<${action}Response xmlns="${SNS_XML_NAMESPACE}">${result}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>\n`;
}

export function errorXml(err: SnsApiError, requestId: string): string {
  return `<?xml version="1.0"?>\n<ErrorResponse xmlns="${SNS_XML_NAMESPACE}"><Error><Type>${err.type}</Type><Code>${xmlEscape(err.code)}</Code><Message>${xmlEscape(err.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>\n`;
}
