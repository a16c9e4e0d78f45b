/**
 * Shared glue for the WebRTC tests: a mux on 127.0.0.1, server sessions, werift clients.
 */
import { after, before } from 'node:test';
import { WebRtcVoice } from '../../../client/webrtc/webRtcVoice.ts';
import { UdpMux } from '../../../server/transports/web/webrtc/udpMux.ts';
import {
  createWebRtcSession,
  type WebRtcSession,
  type WebRtcSessionParams,
} from '../../../server/transports/web/webrtc/webRtcSession.ts';
import { waitFor } from '../../helpers/waitFor.ts';

export const LOOPBACK = '127.0.0.1';

export async function bindMux(options: Partial<Parameters<typeof UdpMux.bind>[0]> = {}): Promise<UdpMux> {
  return UdpMux.bind({ host: LOOPBACK, port: 0, ...options });
}

/** One mux for the tests of this file (bound before them, closed after): call it at top level. */
export function muxForFile(): () => UdpMux {
  let mux: UdpMux | undefined;
  before(async () => {
    mux = await bindMux();
  });
  after(async () => {
    await mux?.close();
  });
  return () => {
    if (mux === undefined) throw new Error('muxForFile: the mux is bound in before()');
    return mux;
  };
}

export interface ServerSide {
  session: WebRtcSession;
  received: Uint8Array[];
  closed: Promise<string>;
}

export function serverSession(
  mux: UdpMux,
  overrides: Partial<Omit<WebRtcSessionParams, 'mux' | 'onClosed'>> = {},
): ServerSide {
  const received: Uint8Array[] = [];
  let resolveClosed!: (reason: string) => void;
  const closed = new Promise<string>((resolve) => {
    resolveClosed = resolve;
  });
  const session = createWebRtcSession({
    mux,
    candidates: [LOOPBACK],
    port: mux.address().port,
    onVoice: (bytes) => received.push(Uint8Array.from(bytes)),
    onClosed: resolveClosed,
    ...overrides,
  });
  return { session, received, closed };
}

export interface ClientSide {
  client: WebRtcVoice;
  received: Uint8Array[];
}

export function voiceClient(): ClientSide {
  const received: Uint8Array[] = [];
  const client = new WebRtcVoice({
    localAddress: LOOPBACK,
    onVoice: (bytes) => received.push(Uint8Array.from(bytes)),
  });
  return { client, received };
}

/** Offer → server answer → client; resolves when both ends have the channel open. */
export async function connect(
  client: WebRtcVoice,
  session: WebRtcSession,
  timeoutMs = 8_000,
): Promise<string> {
  const offer = await client.createOffer();
  const answer = await session.answer(offer);
  await client.acceptAnswer(answer);
  await client.waitOpen(timeoutMs);
  await waitFor(() => session.state === 'connected', 'server session connected');
  return answer;
}

/** Open UDP sockets of this process (Node's handle type for dgram is UDPWrap). */
export function udpSocketCount(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'UDPWrap').length;
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);
