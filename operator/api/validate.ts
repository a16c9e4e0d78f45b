/**
 * validateSpec(): every problem of a defaulted OdinServer's spec at once, each with its field
 * path (Agones style). It repeats the CRD's CEL rules (so an object is checked the same way
 * when the API server did not, e.g. in unit tests or with an older CRD) and adds what CEL cannot
 * do: port clashes. The server's own config check comes with rendering (render/index.ts
 * `validate`), since spec.config is checked by rendering it.
 */
import { PORT_RANGE_MIN_SIZE } from './crd.ts';
import type { DefaultedOdinServer, FieldError } from './types.ts';

/** Problems of the spec outside spec.config. */
export function validateSpec(server: DefaultedOdinServer): FieldError[] {
  const { spec } = server;
  const errors: FieldError[] = [];
  const err = (path: string, message: string) => errors.push({ path, message });
  if (!Number.isInteger(spec.replicas) || spec.replicas < 0) err('spec.replicas', 'must be an integer >= 0');
  const { ports, mode, publicAddress } = spec.networking;
  for (const [name, value] of Object.entries(ports)) {
    if (!Number.isInteger(value) || value < 1 || value > 65535)
      err(`spec.networking.ports.${name}`, 'must be 1..65535');
  }
  if (ports.http === ports.metrics)
    err('spec.networking.ports.metrics', `clashes with ports.http (TCP ${ports.http})`);
  if (spec.config.quic !== undefined && ports.quic === ports.webrtc)
    err('spec.networking.ports.quic', `clashes with ports.webrtc (UDP ${ports.webrtc})`);
  // The server takes the webrtc port on TCP too (ICE-TCP shares its number), exposed or not.
  for (const tcp of ['http', 'metrics'] as const)
    if (ports[tcp] === ports.webrtc)
      err('spec.networking.ports.webrtc', `clashes with ports.${tcp} (TCP ${ports.webrtc}: ICE-TCP uses it)`);
  const http = spec.config.http as { webrtc_enforce_tcp?: unknown } | undefined;
  if (!spec.networking.webrtcTcp && http?.webrtc_enforce_tcp === true)
    err(
      'spec.networking.webrtcTcp',
      'must be true with config.http.webrtc_enforce_tcp (web clients then get only TCP candidates)',
    );
  const { min, max } = spec.networking.portRange;
  for (const [name, value] of Object.entries({ min, max }))
    if (!Number.isInteger(value) || value < 1024 || value > 65535)
      err(`spec.networking.portRange.${name}`, 'must be 1024..65535');
  if (max - min + 1 < PORT_RANGE_MIN_SIZE)
    err(
      'spec.networking.portRange',
      `${min}-${max} holds ${Math.max(0, max - min + 1)} port(s); one server needs up to ${PORT_RANGE_MIN_SIZE}`,
    );
  if (publicAddress.source === 'Template' && !publicAddress.template)
    err('spec.networking.publicAddress.template', 'is required with source Template');
  if (mode === 'LoadBalancer' && spec.supervisor.mode !== 'BuiltIn')
    err('spec.networking.mode', 'LoadBalancer needs the built-in supervisor (it tells each pod its address)');
  if (spec.supervisor.mode === 'External' && !spec.supervisor.external?.url)
    err('spec.supervisor.external.url', 'is required with mode External');
  errors.push(...telemetryCredentialErrors(server));
  const a = spec.autoscaling;
  if (a?.enabled) {
    if (a.minReplicas > a.maxReplicas) err('spec.autoscaling.minReplicas', 'must be <= maxReplicas');
    if (a.target.type === 'FreePeers') {
      if (!a.target.freePeers) err('spec.autoscaling.target.freePeers', 'is required with type FreePeers');
      const limit = spec.config.limit as { max_peers?: number } | undefined;
      if (!limit?.max_peers)
        err(
          'spec.config.limit.max_peers',
          'is required with autoscaling type FreePeers (peer slots per server)',
        );
    }
  }
  return errors;
}

/** Telemetry credentials come from a Secret: an address with `user:pass@` would put them in the ConfigMap. */
function telemetryCredentialErrors(server: DefaultedOdinServer): FieldError[] {
  const telemetry = server.spec.config.telemetry as { address?: unknown } | undefined;
  const ref = server.spec.telemetry?.credentialsSecretRef;
  const errors: FieldError[] = [];
  if (typeof telemetry?.address === 'string') {
    let inline = false;
    try {
      const url = new URL(telemetry.address);
      inline = url.username !== '' || url.password !== '';
    } catch {
      // The server's own config check names a bad URL.
    }
    if (inline)
      errors.push({
        path: 'spec.config.telemetry.address',
        message:
          'must not carry credentials (they would be stored in the ConfigMap): put username and password ' +
          'in a Secret and name it in spec.telemetry.credentialsSecretRef',
      });
  } else if (ref)
    errors.push({
      path: 'spec.telemetry.credentialsSecretRef',
      message: 'needs spec.config.telemetry.address to send them to',
    });
  return errors;
}
