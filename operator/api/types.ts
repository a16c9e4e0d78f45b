/**
 * The `OdinServer` resource (API group `odin-grid.io`, version `v1alpha1`): a fleet of `grid`
 * pods. The CRD's OpenAPI schema (crdSchema.ts → crds/odinservers.odin-grid.io.yaml) and these
 * types describe the same object; defaults.ts and validate.ts hold the rules the schema cannot
 * express (the config.toml check runs the server's own schema).
 */
import type {
  KubernetesObject,
  V1Affinity,
  V1ResourceRequirements,
  V1Toleration,
} from '@kubernetes/client-node';

export const GROUP = 'odin-grid.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'OdinServer';
export const PLURAL = 'odinservers';
export const SINGULAR = 'odinserver';
export const SHORT_NAME = 'odin';
/** Server-side apply field manager of everything the operator writes. */
export const FIELD_MANAGER = 'odin-operator';

/** A key in a Secret of the OdinServer's namespace. */
export type SecretKeyRef = { name: string; key?: string };

export type NetworkingMode = 'HostPort' | 'HostNetwork' | 'LoadBalancer' | 'PortRange';
export type PublicAddressSource = 'HostIP' | 'PodIP' | 'Template';

export type OdinServerPorts = {
  /** TCP: HTTPS/WebSocket listener `[http] binding`. */
  http: number;
  /** UDP and TCP: the one WebRTC port `[http] webrtc_binding` (ICE over UDP, and ICE-TCP on the same number). */
  webrtc: number;
  /** UDP: `[quic] binding`, when `[quic]` is configured. */
  quic: number;
  /** TCP: `[metrics] binding` (health, readiness, Prometheus). */
  metrics: number;
};

export type OdinServerNetworking = {
  mode: NetworkingMode;
  ports: OdinServerPorts;
  /**
   * Expose `ports.webrtc` over TCP as well as UDP (ICE-TCP for web clients behind networks that
   * block UDP; docs/networking.md). false: only UDP reaches it (a cloud load balancer without
   * mixed-protocol Services, or a node where that TCP port is taken).
   */
  webrtcTcp: boolean;
  /**
   * `LoadBalancer` mode: what the per-pod Services carry for the cloud's load-balancer controller
   * (a mixed-protocol Service often needs a class or annotations; docs/networking.md).
   */
  loadBalancer?: { annotations?: Record<string, string>; loadBalancerClass?: string };
  /** `PortRange` mode: the host ports the operator assigns each pod from, on its node (inclusive). */
  portRange: { min: number; max: number };
  publicAddress: {
    source: PublicAddressSource;
    /** `Template` only: a host with `$(POD_NAME)`, `$(NODE_NAME)`, `$(HOST_IP)`, `$(POD_IP)`. */
    template?: string;
  };
};

export type AutoscalingTarget =
  | { type: 'Load'; loadPercent: number }
  | { type: 'FreePeers'; freePeers: number };

export type OdinServerAutoscaling = {
  enabled: boolean;
  minReplicas: number;
  maxReplicas: number;
  target: { type: 'Load' | 'FreePeers'; loadPercent?: number; freePeers?: number };
  /** Stabilisation window: scale down only to the highest recommendation of this window. */
  scaleDownDelaySeconds: number;
};

export type OdinServerSpec = {
  replicas: number;
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** config.toml as structured fields, minus what the operator owns (see crdSchema.ts). */
  config: Record<string, unknown>;
  authorization: {
    /** Secret holding ODIN access keys; absent: the operator generates `<name>-access-key`. */
    accessKeysSecretRef?: { name: string };
  };
  license?: { secretRef: SecretKeyRef };
  /** TLS for `[http]`/`[quic]`: a `kubernetes.io/tls` Secret mounted at /etc/odin/tls. */
  tls?: { secretName: string };
  supervisor: {
    mode: 'BuiltIn' | 'External';
    external?: {
      url: string;
      /** Secret with `username` and `password`, put into the URL as HTTP Basic credentials. */
      credentialsSecretRef?: { name: string };
    };
  };
  /** Credentials of `config.telemetry.address`, from a Secret (never inline in the address). */
  telemetry?: { credentialsSecretRef?: { name: string } };
  networking: OdinServerNetworking;
  autoscaling?: OdinServerAutoscaling;
  /** How long a draining pod may keep its rooms (SIGTERM → exit); `[shutdown] grace_period`. */
  drainGracePeriodSeconds: number;
  /**
   * On a config or image rollout, a server with conversations keeps them (no new rooms) until
   * they end or this long has passed; 0: old servers get SIGTERM as the Deployment rolls.
   */
  rolloutConversationTimeoutSeconds: number;
  pod: {
    nodeSelector?: Record<string, string>;
    tolerations?: V1Toleration[];
    affinity?: V1Affinity;
    resources?: V1ResourceRequirements;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
};

export type Condition = {
  /** The built-in ones, and any a check adds (controller/status.ts ExtraCondition). */
  type: 'Ready' | 'Progressing' | 'Degraded' | 'ConfigValid' | 'SecretsReady' | (string & {});
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
};

/** One grid pod as the supervisor last heard it. */
export type ServerStatus = {
  pod: string;
  address?: string;
  ready: boolean;
  reporting: boolean;
  load: number;
  clients: number;
  rooms: number;
  peers: number;
  draining: boolean;
};

export type OdinServerStatus = {
  observedGeneration?: number;
  conditions?: Condition[];
  replicas?: number;
  readyReplicas?: number;
  selector?: string;
  servers?: ServerStatus[];
  clients?: number;
  rooms?: number;
  peers?: number;
  /** Mean load of the reporting servers, 0..1. */
  load?: number;
  draining?: number;
  /** Autoscaler's last recommendation. */
  desiredReplicas?: number;
};

export interface OdinServer extends KubernetesObject {
  spec?: Partial<OdinServerSpec> & Record<string, unknown>;
  status?: OdinServerStatus;
}

/** An OdinServer after applyDefaults(): every defaulted field is present. */
export interface DefaultedOdinServer extends OdinServer {
  metadata: NonNullable<KubernetesObject['metadata']> & { name: string; namespace: string };
  spec: OdinServerSpec;
}

/** One problem of a resource: `spec.networking.ports.http: must be 1..65535`. */
export type FieldError = { path: string; message: string };

export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.path}: ${e.message}`).join('; ');
}
