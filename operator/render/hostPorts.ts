/**
 * `PortRange` networking (docs/operator.md, "Several servers per node"): each pod gets its own
 * host ports, assigned by the operator once the pod is on a node (controller/portAllocation.ts)
 * and written into the pod annotation `odin-grid.io/ports` as the `GRID_*_PORT` variables grid
 * applies them as (server/cli/portsFile.ts), one per line. The kubelet projects the annotation
 * into the file `GRID_PORTS_FILE` names (a downward-API volume, refreshed when it changes).
 *
 * The annotation is the record of the assignment: the operator keeps no other state, so a
 * restarted operator or a new leader reads every node's used ports back from the pods.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { GridConfig } from '../../server/config/index.ts';
import type { DefaultedOdinServer } from '../api/types.ts';
import { PORTS_ANNOTATION } from './labels.ts';

/** A listener that gets a host port of its own. */
export type Listener = 'http' | 'webrtc' | 'quic' | 'metrics';
export type PortAssignment = Partial<Record<Listener, number>>;

const VARIABLES: Record<Listener, string> = {
  http: 'GRID_HTTP_PORT',
  webrtc: 'GRID_HTTP_WEBRTC_PORT',
  quic: 'GRID_QUIC_PORT',
  metrics: 'GRID_METRICS_PORT',
};
/** Where the annotation is projected in the grid container. */
export const PORTS_DIR = '/etc/odin/ports';
export const PORTS_FILE = `${PORTS_DIR}/ports`;

/**
 * The listeners a pod gets a port number of its own for, in assignment order. `[quic]` has none:
 * it shares `http`'s number (UDP beside TCP, as the defaults 4433/4433 do), because a native
 * client dials QUIC at the one endpoint the supervisor hands out (the `[http]` address) and its
 * fallback, WebTransport over HTTP/2, at the same number over TCP (docs/networking.md).
 * The webrtc number is taken on UDP and TCP (ICE-TCP).
 */
export function listenersOf(_server: DefaultedOdinServer): Listener[] {
  return ['http', 'webrtc', 'metrics'];
}

/** A pod's whole assignment from its own numbers: `quic` on `http`'s number when `[quic]` is configured. */
export function withSharedPorts(server: DefaultedOdinServer, ports: PortAssignment): PortAssignment {
  return server.spec.config.quic !== undefined && ports.http !== undefined
    ? { ...ports, quic: ports.http }
    : ports;
}

/** The annotation's value. */
export function formatPorts(ports: PortAssignment): string {
  return (Object.keys(VARIABLES) as Listener[])
    .filter((l) => ports[l] !== undefined)
    .map((l) => `${VARIABLES[l]}=${ports[l]}\n`)
    .join('');
}

/** The assignment in an annotation's value; undefined when it is not one the operator writes. */
export function parsePorts(text: string | undefined): PortAssignment | undefined {
  if (!text || text.length > 512) return undefined;
  const out: PortAssignment = {};
  const byVariable = new Map(Object.entries(VARIABLES).map(([l, v]) => [v, l as Listener]));
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^([A-Z_]+)=(\d{1,5})$/.exec(line.trim());
    const listener = m ? byVariable.get(m[1]!) : undefined;
    const port = Number(m?.[2]);
    if (!listener || listener in out || port < 1 || port > 65535) return undefined;
    out[listener] = port;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The pod's assigned ports, from its annotation. */
export function podPorts(pod: V1Pod): PortAssignment | undefined {
  return parsePorts(pod.metadata?.annotations?.[PORTS_ANNOTATION]);
}

/** Every port number of an assignment, each once (`quic` may share `http`'s). */
export function portNumbers(ports: PortAssignment): number[] {
  return [...new Set(Object.values(ports).filter((p): p is number => p !== undefined))];
}

/**
 * The config as the pod runs it: the rendered bindings with the pod's own ports, as grid's
 * `GRID_*_PORT` variables set them (same host, this port).
 */
export function withPodPorts(config: GridConfig, ports: PortAssignment): GridConfig {
  const rebind = (binding: string, port: number | undefined) =>
    port === undefined ? binding : `${binding.slice(0, binding.lastIndexOf(':'))}:${port}`;
  return {
    ...config,
    ...(config.http
      ? {
          http: {
            ...config.http,
            binding: rebind(config.http.binding, ports.http),
            webrtc_binding: rebind(config.http.webrtc_binding, ports.webrtc),
          },
        }
      : {}),
    ...(config.quic ? { quic: { ...config.quic, binding: rebind(config.quic.binding, ports.quic) } } : {}),
  };
}
