/**
 * applyDefaults(): the CRD's defaults (crd.ts), applied in code too (Agones style), so the
 * controller never depends on how an object was stored (an object written before a default
 * was added, a unit test's literal). Never mutates its input.
 */
import { DEFAULT_IMAGE } from './crd.ts';
import type { DefaultedOdinServer, OdinServer, OdinServerSpec } from './types.ts';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

export function applyDefaults(server: OdinServer): DefaultedOdinServer {
  const raw = obj(structuredClone(server.spec ?? {}));
  const networking = obj(raw.networking);
  const ports = obj(networking.ports);
  const publicAddress = obj(networking.publicAddress);
  const portRange = obj(networking.portRange);
  const supervisor = obj(raw.supervisor);
  const spec: OdinServerSpec = {
    ...(raw as Partial<OdinServerSpec>),
    replicas: typeof raw.replicas === 'number' ? raw.replicas : 1,
    image: typeof raw.image === 'string' && raw.image !== '' ? raw.image : DEFAULT_IMAGE,
    config: obj(raw.config),
    authorization: obj(raw.authorization) as OdinServerSpec['authorization'],
    supervisor: { ...supervisor, mode: supervisor.mode === 'External' ? 'External' : 'BuiltIn' },
    networking: {
      ...networking,
      mode: (networking.mode as OdinServerSpec['networking']['mode']) ?? 'HostPort',
      ports: {
        http: (ports.http as number) ?? 4433,
        webrtc: (ports.webrtc as number) ?? 8844,
        quic: (ports.quic as number) ?? 4433,
        metrics: (ports.metrics as number) ?? 9000,
      },
      webrtcTcp: networking.webrtcTcp !== false,
      portRange: { min: (portRange.min as number) ?? 7000, max: (portRange.max as number) ?? 7999 },
      publicAddress: {
        ...publicAddress,
        source: (publicAddress.source as OdinServerSpec['networking']['publicAddress']['source']) ?? 'HostIP',
      },
    },
    drainGracePeriodSeconds:
      typeof raw.drainGracePeriodSeconds === 'number' ? raw.drainGracePeriodSeconds : 60,
    rolloutConversationTimeoutSeconds:
      typeof raw.rolloutConversationTimeoutSeconds === 'number'
        ? raw.rolloutConversationTimeoutSeconds
        : 14400,
    pod: obj(raw.pod) as OdinServerSpec['pod'],
  };
  if (raw.autoscaling !== undefined) {
    const a = obj(raw.autoscaling);
    const target = obj(a.target);
    spec.autoscaling = {
      enabled: a.enabled !== false,
      minReplicas: typeof a.minReplicas === 'number' ? a.minReplicas : 1,
      maxReplicas: typeof a.maxReplicas === 'number' ? a.maxReplicas : 1,
      target: {
        type: target.type === 'FreePeers' ? 'FreePeers' : 'Load',
        loadPercent: typeof target.loadPercent === 'number' ? target.loadPercent : 70,
        ...(typeof target.freePeers === 'number' ? { freePeers: target.freePeers } : {}),
      },
      scaleDownDelaySeconds: typeof a.scaleDownDelaySeconds === 'number' ? a.scaleDownDelaySeconds : 300,
    };
  }
  if (spec.license) spec.license = { secretRef: { key: 'license.toml', ...spec.license.secretRef } };
  const metadata = server.metadata ?? {};
  return {
    ...server,
    metadata: { ...metadata, name: metadata.name ?? '', namespace: metadata.namespace ?? 'default' },
    spec,
  };
}
