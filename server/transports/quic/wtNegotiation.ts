/**
 * Which WebTransport over HTTP/3 a session speaks, decided per connection from the client's
 * SETTINGS and its extended CONNECT (docs/protocol.md, "WebTransport drafts"):
 *
 * - **current** (draft-ietf-webtrans-http3-15/16, webtransport-go v0.13): `:protocol
 *   webtransport-h3` (section 3.2), or `:protocol webtransport` from a client whose SETTINGS
 *   carry SETTINGS_WT_ENABLED (section 3.1) and that does not ask for draft-02. No draft header
 *   in the answer; WT_DRAIN_SESSION on shutdown; session flow control when the client announced
 *   SETTINGS_WT_INITIAL_* limits (section 5).
 * - **draft02** (Chromium 156, aioquic, our Node client by default): `:protocol webtransport`,
 *   usually with `sec-webtransport-http3-draft02: 1` and SETTINGS_ENABLE_WEBTRANSPORT (draft-02
 *   section 3.1); answered with `sec-webtransport-http3-draft: draft02`, no flow control.
 *
 * The server announces both drafts' settings at once, so the client picks; a server must not
 * process a WebTransport request before the client's SETTINGS (draft-02 section 3.1, current
 * drafts section 3.1), which H3Connection enforces by holding the request until they arrive.
 */

import { Setting } from './h3Frame.ts';
import type { ConnectRequest } from './h3Request.ts';
import type { WebTransportDraft } from './webTransport.ts';

/** The `:protocol` tokens of WebTransport: draft-02..14 and Chromium, and draft-15 onwards. */
export const PROTOCOL_LEGACY = 'webtransport';
export const PROTOCOL_CURRENT = 'webtransport-h3';
/** draft-02 section 3.2: the request header a draft-02 client sends, and the answer's header. */
export const DRAFT02_REQUEST_HEADER = 'sec-webtransport-http3-draft02';
export const DRAFT02_RESPONSE_HEADER = 'sec-webtransport-http3-draft';

/** The draft of an extended CONNECT, or undefined when its `:protocol` is not WebTransport. */
export function negotiateDraft(
  request: Pick<ConnectRequest, 'protocol' | 'headers'>,
  peerSettings: ReadonlyMap<number, number> | undefined,
): WebTransportDraft | undefined {
  if (request.protocol === PROTOCOL_CURRENT) return 'current';
  if (request.protocol !== PROTOCOL_LEGACY) return undefined;
  if (request.headers.some(([name]) => name === DRAFT02_REQUEST_HEADER)) return 'draft02';
  return (peerSettings?.get(Setting.WT_ENABLED) ?? 0) !== 0 ? 'current' : 'draft02';
}
