/**
 * The ONE place that relies on werift internals (werift 0.25.2, pinned exactly).
 *
 * werift's ICE agent (`Connection.getCandidatePromises` → `StunProtocol.connectionMade`) gets
 * its UDP socket from the exported static `UdpTransport.init(type, {portRange,
 * interfaceAddresses})`, and passes the peer connection's `iceInterfaceAddresses` object through
 * unchanged (RTCPeerConnection copies its configuration shallowly). So:
 *
 * - each muxed peer connection gets a fresh marker object as `iceInterfaceAddresses`, mapped
 *   (WeakMap) to its `UdpMuxEndpoint`;
 * - `UdpTransport.init` is wrapped once: called with a marker it returns a `MuxedUdpTransport`
 *   (werift's `Transport` interface, riding on the shared socket); anything else gets werift's
 *   own socket as before (the client side, tests, TURN).
 *
 * Gathering is limited to the one advertised address (`iceUseIpv4/6: false` skip the
 * machine's interfaces; `iceAdditionalHostAddresses` adds ours), so a connection has exactly one
 * ICE protocol and one virtual transport. `test/transports/webrtc/weriftUdpHook.test.ts` fails
 * loudly if an upgrade breaks any of these assumptions.
 *
 * Only the ESM build of werift (`import 'werift'`, lib/index.mjs) is hooked; its CommonJS build
 * holds a separate copy of the class.
 */
import type { AddressInfo } from 'node:net';
import { UdpTransport } from 'werift';
import type { UdpMux, UdpMuxEndpoint } from './udpMux.ts';

/** werift's `InterfaceAddresses` shape; we only use the object's identity. */
type InterfaceAddresses = { udp4?: string; udp6?: string };
type Address = [string, number];
type InitOptions = { portRange?: [number, number]; port?: number; interfaceAddresses?: InterfaceAddresses };
type InitFn = (type: 'udp4' | 'udp6', options?: InitOptions) => Promise<unknown>;

export const HOOKED_WERIFT_VERSION = '0.25.2';

const endpointsByMarker = new WeakMap<object, { mux: UdpMux; endpoint: UdpMuxEndpoint }>();
let installed = false;

/**
 * werift's `Transport` (common/src/transport.ts) on top of a mux endpoint. werift calls
 * `send(data, [host, port])` for STUN and DTLS alike; `onData(data, [host, port])` is set by its
 * StunProtocol.
 */
export class MuxedUdpTransport {
  readonly type = 'udp';
  readonly #endpoint: UdpMuxEndpoint;
  readonly #info: AddressInfo;
  readonly addressFamily: 4 | 6;
  closed = false;
  onData: (data: Buffer, addr: Address) => void = () => {};
  #lastHost: string | undefined;
  #lastPort = 0;

  constructor(mux: UdpMux, endpoint: UdpMuxEndpoint) {
    this.#endpoint = endpoint;
    const bound = mux.address();
    this.#info = { address: bound.address, port: bound.port, family: bound.family };
    this.addressFamily = bound.family === 'IPv6' ? 6 : 4;
    endpoint.setReceiver((data, host, port) => {
      this.#lastHost = host;
      this.#lastPort = port;
      this.onData(data, [host, port]);
    });
  }

  get address(): AddressInfo {
    return this.#info;
  }

  get host(): string {
    return this.#info.address;
  }

  get port(): number {
    return this.#info.port;
  }

  send = async (data: Buffer, addr?: Address): Promise<void> => {
    if (this.closed) return;
    const host = addr?.[0] ?? this.#lastHost;
    const port = addr?.[1] ?? this.#lastPort;
    if (host === undefined) return;
    this.#endpoint.send(data, host, port);
  };

  /** Detaches from the endpoint; the session closes the endpoint itself. */
  close = async (): Promise<void> => {
    if (this.closed) return;
    this.closed = true;
    this.#endpoint.setReceiver(undefined);
  };
}

/** Replaces `UdpTransport.init` once per process. Throws if werift no longer has that seam. */
export function installWeriftUdpHook(): void {
  if (installed) return;
  const klass = UdpTransport as unknown as { init?: unknown };
  if (typeof klass.init !== 'function') {
    throw new Error(
      `werift changed: UdpTransport.init is gone (hook written for werift ${HOOKED_WERIFT_VERSION}); ` +
        'the WebRTC single-port mux cannot attach. Re-check server/transports/web/webrtc/weriftUdpHook.ts.',
    );
  }
  const original = (klass.init as InitFn).bind(UdpTransport);
  const hooked: InitFn = async (type, options) => {
    const marker = options?.interfaceAddresses;
    const target = marker === undefined ? undefined : endpointsByMarker.get(marker);
    if (target === undefined) return original(type, options);
    if (target.endpoint.closed) throw new Error('WebRTC mux endpoint closed before ICE gathering');
    return new MuxedUdpTransport(target.mux, target.endpoint);
  };
  klass.init = hooked;
  installed = true;
}

/**
 * The part of an `RTCPeerConnection` configuration that puts it on the mux. `gatherHost` is the
 * one host candidate werift gathers (its SDP line is rewritten later anyway); it must be an IP
 * of the mux socket's family.
 */
export function muxedIceConfiguration(
  mux: UdpMux,
  endpoint: UdpMuxEndpoint,
  gatherHost: string,
): {
  iceInterfaceAddresses: InterfaceAddresses;
  iceUseIpv4: false;
  iceUseIpv6: false;
  iceAdditionalHostAddresses: string[];
} {
  installWeriftUdpHook();
  const marker: InterfaceAddresses = {};
  endpointsByMarker.set(marker, { mux, endpoint });
  return {
    iceInterfaceAddresses: marker,
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: [gatherHost],
  };
}
