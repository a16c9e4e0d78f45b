/**
 * The well-formedness rules of an HTTP/3 request's field section (RFC 9114 sections 4.2, 4.3.1
 * and 4.4; RFC 9220 section 3 for extended CONNECT). A request that breaks one is *malformed*:
 * section 4.1.2 makes that a stream error H3_MESSAGE_ERROR, never a status code, so every rule
 * here throws H3StreamError and the connection resets that one request stream.
 */
import { H3Error, H3StreamError } from './errors.ts';
import type { HeaderField } from './qpack.ts';

export type ConnectRequest = {
  method: string;
  protocol: string | undefined;
  scheme: string | undefined;
  authority: string | undefined;
  path: string | undefined;
  headers: readonly HeaderField[];
};

const REQUEST_PSEUDO_HEADERS: ReadonlySet<string> = new Set([
  ':method',
  ':scheme',
  ':authority',
  ':path',
  ':protocol',
]);

/** Section 4.2: connection-specific fields of HTTP/1.1 make a message malformed in HTTP/3. */
const CONNECTION_SPECIFIC_FIELDS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

function malformed(message: string): H3StreamError {
  return new H3StreamError(H3Error.MESSAGE_ERROR, message);
}

/**
 * Parses and validates a request's fields; throws H3StreamError(H3_MESSAGE_ERROR) for a
 * malformed request (RFC 9114 section 4.1.2), whatever its method.
 */
export function parseRequest(fields: readonly HeaderField[]): ConnectRequest {
  const pseudo = new Map<string, string>();
  let regular = false;
  let host = false;
  for (const [name, value] of fields) {
    // Section 4.2: field names are lowercase in HTTP/3.
    if (name !== name.toLowerCase()) throw malformed(`uppercase field name ${name}`);
    if (name.startsWith(':')) {
      // Section 4.3: pseudo-headers before regular fields, only the defined ones, each once.
      if (regular) throw malformed(`pseudo-header ${name} after a regular field`);
      if (!REQUEST_PSEUDO_HEADERS.has(name)) throw malformed(`unknown or response pseudo-header ${name}`);
      if (pseudo.has(name)) throw malformed(`duplicate ${name}`);
      pseudo.set(name, value);
      continue;
    }
    regular = true;
    if (CONNECTION_SPECIFIC_FIELDS.has(name)) throw malformed(`connection-specific field ${name}`);
    // Section 4.2: TE may appear only with the value "trailers".
    if (name === 'te' && value !== 'trailers') throw malformed(`te: ${value} (only "trailers" is allowed)`);
    if (name === 'host') host = true;
  }
  const method = pseudo.get(':method');
  if (method === undefined || method === '') throw malformed('request without :method');
  const request: ConnectRequest = {
    method,
    protocol: pseudo.get(':protocol'),
    scheme: pseudo.get(':scheme'),
    authority: pseudo.get(':authority'),
    path: pseudo.get(':path'),
    headers: fields,
  };
  if (request.protocol !== undefined && method !== 'CONNECT') {
    throw malformed(':protocol on a request that is not CONNECT (RFC 9220 section 3)');
  }
  if (method === 'CONNECT' && request.protocol === undefined) {
    // Section 4.4: a classic CONNECT carries :authority only; :scheme and :path are omitted.
    if (request.scheme !== undefined || request.path !== undefined) {
      throw malformed('CONNECT with :scheme or :path but no :protocol (RFC 9114 section 4.4)');
    }
    if (request.authority === undefined || request.authority === '') {
      throw malformed('CONNECT without :authority (RFC 9114 section 4.4)');
    }
    return request;
  }
  // Section 4.3.1 (and RFC 9220 section 3 for an extended CONNECT): exactly one :scheme and
  // :path, the path not empty for http(s); those schemes need :authority or Host.
  if (request.scheme === undefined || request.scheme === '') throw malformed(`${method} without :scheme`);
  if (request.path === undefined) throw malformed(`${method} without :path`);
  const httpScheme = request.scheme === 'https' || request.scheme === 'http';
  if (request.path === '' && httpScheme) throw malformed(`${method} with an empty :path`);
  if (request.protocol !== undefined && request.authority === undefined) {
    throw malformed('extended CONNECT without :authority (RFC 9220 section 3)');
  }
  if (httpScheme && request.authority === undefined && !host) {
    throw malformed(`${method} ${request.scheme} request without :authority or Host`);
  }
  return request;
}
