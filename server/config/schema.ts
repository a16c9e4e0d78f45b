// The config.toml schema: the single source of truth for the TypeScript types, the defaults,
// the validation (ajv, see validate.ts) and the reference docs (docs.ts → docs/configuration.md).
//
// Keys follow the public ODIN server docs and example configs (ODIN-PROTOCOL.md §5, §6).
// Where the public docs give no default we follow the settings the ODIN gateway recommends
// to its servers (ODIN-PROTOCOL.md §5), and each description says why a value was chosen.
// Keys marked `x-extension` are ODIN Grid additions that the original server does not have.
//
// Conventions:
// - A key with a `default` is always present in the loaded config (ajv fills it in).
// - `Type.Optional` without a default: absence means something ("off", "unlimited", "inherit").
// - An optional section (`[quic]`, `[http]`, `[metrics]`, `[supervisor]`, `[telemetry]`)
//   stays `undefined` when absent: that feature is disabled.
// - Durations are integer milliseconds (`x-unit: "ms"`), as in the ODIN docs.

import Type, { type TSchema } from 'typebox';

/** Custom ajv formats; validate.ts implements them and words their error messages. */
export const Format = {
  /** `host:port` a listener binds to: IPv4, `[IPv6]` or hostname, port 0..65535. */
  binding: 'grid-binding',
  /** `host` or `host:port` clients are told to connect to. */
  address: 'grid-address',
  /** An IP address or a hostname (no port). */
  host: 'grid-host',
  /** An IPv4/IPv6 address or CIDR block. */
  cidr: 'grid-cidr',
  /** An absolute http:// or https:// URL (credentials allowed). */
  httpUrl: 'grid-http-url',
  /** A `target=level` or `level` log filter directive. */
  logFilter: 'grid-log-filter',
} as const;

function ms(defaultValue: number, description: string) {
  return Type.Integer({ minimum: 0, default: defaultValue, description, 'x-unit': 'ms' });
}

function optionalMs(description: string) {
  return Type.Optional(Type.Integer({ minimum: 0, description, 'x-unit': 'ms' }));
}

function binding(defaultValue: string, description: string) {
  return Type.String({ format: Format.binding, default: defaultValue, description });
}

function certificatePair(what: string) {
  return {
    certificate_file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          `PEM certificate (chain) for ${what}. Relative paths are resolved against the working ` +
          'directory. Checked at load time: the file must exist and parse as an X.509 certificate. ' +
          'Must be given together with `privatekey_file`. The ODIN docs mark it required; ODIN Grid ' +
          'also runs without it, as said above.',
      }),
    ),
    privatekey_file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          `PEM private key for ${what}. Checked at load time: it must parse and match ` +
          '`certificate_file`. Must be given together with `certificate_file`.',
      }),
    ),
  };
}

function publicAddressOverride(listener: string) {
  return Type.Optional(
    Type.String({
      format: Format.address,
      description:
        `Address (\`host\` or \`host:port\`) announced to clients for the ${listener} listener ` +
        'instead of the root `public_address`. Absent: the root `public_address`.',
    }),
  );
}

/** A token bucket: `rate` tokens per second refill a bucket of `capacity`. */
function tokenBucket(what: string, defaults?: { rate: number; capacity: number }) {
  return {
    rate: Type.Integer({
      minimum: 1,
      description: `Sustained rate: ${what} per second.`,
      ...(defaults ? { default: defaults.rate } : {}),
    }),
    capacity: Type.Integer({
      minimum: 1,
      description: `Burst size: ${what} at once, above the rate.`,
      ...(defaults ? { default: defaults.capacity } : {}),
    }),
  };
}

/** `[telemetry] data` names, as the ODIN docs spell them: the `[license]` fields to send. */
export const telemetryLicenseFields = [
  'LicenseValidUntil',
  'LicenseLicensee',
  'LicenseSerialNumber',
  'LicenseIssuer',
] as const;
export type TelemetryLicenseField = (typeof telemetryLicenseFields)[number];

export const JwkSchema = Type.Object(
  {
    kid: Type.String({
      minLength: 1,
      description:
        'Key id: standard base64 of 9 bytes derived from the public key (the value `odin-tokens` ' +
        'prints, e.g. `Afkwfu4BVHDh`). Tokens name it in their header.',
    }),
    kty: Type.Literal('OKP', { description: 'Key type; ODIN keys are always `OKP`.' }),
    crv: Type.Literal('Ed25519', { description: 'Curve; ODIN keys are always `Ed25519`.' }),
    x: Type.String({ description: 'Public key: 32 bytes, base64url without padding.' }),
    d: Type.Optional(
      Type.String({
        description:
          'Private seed: 32 bytes, base64url without padding. Optional: lets the server sign tokens ' +
          'itself. Must match `x`. Secret: redacted in logs.',
      }),
    ),
  },
  { additionalProperties: false, description: 'An Ed25519 JSON Web Key (RFC 8037).' },
);

export const SupervisorSchema = Type.Object(
  {
    url: Type.String({
      format: Format.httpUrl,
      description:
        'JSON-RPC endpoint of the supervisor (the ODIN gateway or the operator), e.g. ' +
        '`http://user:password@gateway:7000/internal`. Credentials in the URL are sent as HTTP Basic ' +
        'auth and redacted in logs.',
    }),
    token_file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'File holding a bearer token sent as `Authorization: Bearer` on every supervisor call, ' +
          'instead of credentials in `url` (not both). Read again for each call, so a rotated token ' +
          '(a projected Kubernetes ServiceAccount token, which the operator gives each pod) is picked ' +
          'up. Absent: the credentials in `url`, if any.',
      }),
    ),
    report_interval: ms(
      5000,
      'How often `sfu.Report` is sent. 5000: the gateway recommends it and disables a server it has ' +
        'not heard from for 7.5 s, so one lost report is survivable.',
    ),
    no_warmup: Type.Boolean({
      default: false,
      description:
        'true: wait one `report_interval` after start before the first report (the ODIN docs: "When ' +
        'true, the server waits for one report cycle before starting to send reports"). false: the ' +
        'first report goes out at once, so the supervisor places rooms here from the start.',
    }),
    version: Type.Optional(
      Type.Union([Type.Integer(), Type.String({ minLength: 1 })], {
        description:
          'A freely pickable number sent with every `sfu.GridConfig` and `sfu.Report` as their `version` ' +
          '(the ODIN docs: "currently unused, but reserved for future usage"), e.g. `version = 123456`. ' +
          'A string is accepted too and sent as written; a number is sent in decimal, since the gateway ' +
          'reads `version` as a string. Absent: the ODIN Grid release (e.g. `0.1.0`).',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Run under a supervisor (gateway): fetch the merged config with `sfu.GridConfig` at start, then ' +
      'report load and rooms every `report_interval` and execute the tasks it returns. Newer ODIN ' +
      'releases call this section `[provisioning]`; both names are accepted, not both at once. ' +
      'Absent: standalone.',
  },
);

export const AuthorizationSchema = Type.Object(
  {
    allow_unsigned: Type.Boolean({
      default: false,
      description: 'Accept tokens with `alg: "none"` (no signature). Development only.',
    }),
    leeway: ms(
      5000,
      'Clock skew tolerated on `nbf`/`exp`. 5000: tokens are minted on another machine (the ' +
        'gateway, a game backend) and `nbf` is "now", so a server clock a little behind would ' +
        'otherwise reject fresh tokens.',
    ),
    keys: Type.Array(JwkSchema, {
      default: [],
      description:
        'Keys whose tokens are accepted. Write them as `[[authorization.keys]]` tables or as an ' +
        'inline array `keys = [{ kid = "...", ... }]`. `kid`s must be unique.',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'How client tokens are verified. Absent: no keys, so only a supervisor-provided key works.',
  },
);

export const QuicSchema = Type.Object(
  {
    binding: binding(
      '0.0.0.0:4433',
      'UDP address of the QUIC (HTTP/3, WebTransport) listener. 4433: the port of the ODIN examples; ' +
        'QUIC is UDP so it shares the number with the TCP `[http]` listener. The ODIN docs mark it ' +
        'required; ODIN Grid defaults it.',
    ),
    ...certificatePair(
      'the QUIC listener (absent: a self-signed certificate is generated at start; development only)',
    ),
    public_address_override: publicAddressOverride('QUIC'),
    migration: Type.Boolean({
      default: true,
      description:
        'Allow QUIC connection migration (a client changing network keeps its connection). true: gateway recommendation.',
    }),
    keep_alive_interval: ms(5000, 'Interval of QUIC keep-alive (PING) frames. 5000: gateway recommendation.'),
    idle_timeout: ms(30000, 'A QUIC connection silent this long is closed. 30000: gateway recommendation.'),
    pre_send_timeout: ms(
      500,
      'How long outgoing data may wait for congestion/flow control before it is dropped (voice is stale ' +
        'by then). 500: gateway recommendation.',
    ),
    connect_timeout: ms(
      5000,
      'Pre-authentication deadline: the HTTP/3 setup, the WebTransport session and a valid token ' +
        '(`Authenticate`, or `JoinRoom` with a token) must all be done this long after the first packet, ' +
        'else the connection is closed. 5000: a generous budget on lossy mobile links, short enough ' +
        'to shed half-open and unauthenticated connections.',
    ),
    no_peers_timeout: ms(
      30000,
      'A client that is in no room for this long is disconnected. 30000: leaves time to switch rooms ' +
        'without reconnecting, same as `idle_timeout`.',
    ),
    engine: Type.Enum(['native'], {
      default: 'native',
      description:
        'The QUIC data plane (an ODIN Grid extension; the ODIN server has no such key). `native`, the only ' +
        'one: the addon of `native/quic` (Rust, quiche 0.30) owns the UDP socket and the QUIC connections ' +
        'and forwards voice between native peers itself; `npm install` builds it when Rust, cmake and ' +
        'libclang are present, and the container image carries it. Without a loadable addon the server ' +
        'refuses to start and names the command that builds it (`bash native/quic/setup.sh && npm run ' +
        'build:native`); only the embedded development default starts anyway, without `[quic]`, and ' +
        'warns. `matrixai` (quiche 0.18 through `@matrixai/quic`) was removed: a config that names it ' +
        'gets an error saying so (docs/native-quic.md).',
    }),
  },
  {
    additionalProperties: false,
    description:
      'The QUIC listener for native SDK clients (HTTP/3 + WebTransport). Absent: no QUIC listener. ' +
      'Its `connect_timeout`, `idle_timeout` and `no_peers_timeout` (or their defaults) also time the ' +
      'native clients that reach WebTransport over HTTP/2 on the `[http]` TLS port when UDP is blocked.',
  },
);

export const HttpSchema = Type.Object(
  {
    binding: binding(
      '0.0.0.0:4433',
      'TCP address of the HTTPS/WebSocket listener for web clients. 4433: the port of the ODIN examples ' +
        '(TCP, so it does not clash with the UDP QUIC listener on the same number). The ODIN docs mark ' +
        'it required; ODIN Grid defaults it.',
    ),
    ...certificatePair(
      'the HTTPS listener (absent: plain HTTP/WebSocket, for use behind a TLS-terminating proxy or ingress)',
    ),
    public_address_override: publicAddressOverride('HTTP'),
    webrtc_candidates: Type.Array(Type.String({ format: Format.host }), {
      default: [],
      description:
        'IP addresses or hostnames offered as WebRTC ICE host candidates (host names are resolved ' +
        'to an address once at start). Empty: the host of the public address.',
    }),
    webrtc_binding: binding(
      '0.0.0.0:8844',
      'UDP address of the single port that multiplexes every WebRTC client. 8844: the ODIN default.',
    ),
    webrtc_enforce_tcp: Type.Boolean({
      default: false,
      description:
        'Offer only ICE-TCP candidates (for networks that block UDP). Either way the server listens for ' +
        'ICE-TCP (RFC 6544, passive) on the `webrtc_binding` address and port number over TCP, shared by ' +
        'every WebRTC client; false offers UDP and TCP candidates (clients prefer UDP), true offers TCP ' +
        'only, and then refuses to start if that TCP port cannot be opened. Limits: docs/security.md.',
    }),
    webrtc_nack_buffer_log2: Type.Integer({
      minimum: 0,
      maximum: 15,
      default: 8,
      description:
        'log2 of the per-connection buffer of sent RTP packets kept for NACK retransmission. Accepted ' +
        'for compatibility with existing configs; it has no effect in ODIN Grid, whose web voice rides ' +
        'an unreliable data channel (no RTP, nothing to retransmit).',
    }),
    timeout: ms(
      10000,
      'A WebSocket/HTTP client silent this long is disconnected. 10000: gateway recommendation.',
    ),
    ping_interval: ms(5000, 'Interval of WebSocket pings to clients. 5000: gateway recommendation.'),
    no_peers_timeout: ms(
      30000,
      'A client that is in no room for this long is disconnected. 30000: leaves time to switch rooms.',
    ),
    handshake_timeout: Type.Integer({
      minimum: 1,
      default: 5000,
      'x-unit': 'ms',
      'x-extension': true,
      description:
        'A TCP connection must finish its TLS handshake within this long, else it is closed (Node ' +
        'holds one for 120 s by default). 5000: a handshake takes a few round trips even on slow ' +
        'mobile links; a socket that sends no ClientHello is an idle attacker.',
    }),
    request_timeout: Type.Integer({
      minimum: 1,
      default: 10000,
      'x-unit': 'ms',
      'x-extension': true,
      description:
        'An HTTP request (its headers, and for `POST /` its body; a WebSocket upgrade is a request ' +
        'too) must arrive complete within this long of the connection opening or of the previous ' +
        'request, else the connection is closed: the slowloris defence (Node allows 60 s for headers). ' +
        '10000: the same budget as `timeout`.',
    }),
    max_connections: Type.Integer({
      minimum: 1,
      default: 10000,
      'x-extension': true,
      description:
        'Most open TCP connections on this listener (HTTP, TLS handshakes and WebSockets together; ' +
        'a client holds two: `/main` and `/room`). Connections over it are closed at once. 10000: ' +
        'above what one server process carries (see docs/performance.md), low enough to bound ' +
        'the memory sockets can take.',
    }),
  },
  {
    additionalProperties: false,
    description: 'The HTTP(S)/WebSocket + WebRTC listener for web clients. Absent: no web listener.',
  },
);

export const MetricsSchema = Type.Object(
  {
    binding: binding(
      '0.0.0.0:9000',
      'TCP address of the Prometheus endpoint. 9000: gateway recommendation. The ODIN docs mark it ' +
        'required; ODIN Grid defaults it.',
    ),
    idle_timeout: optionalMs(
      'Metrics not updated for this long (e.g. of a closed room) are dropped from the output. Absent: kept forever.',
    ),
    global_labels: Type.Record(Type.String(), Type.String(), {
      propertyNames: { pattern: '^[a-zA-Z_][a-zA-Z0-9_]*$' },
      default: {},
      description: 'Labels added to every metric, e.g. `{ region = "eu" }`. Names follow Prometheus rules.',
    }),
    allowed: Type.Array(Type.String({ format: Format.cidr }), {
      default: [],
      description: 'IPv4/IPv6 addresses or CIDR blocks allowed to scrape. Empty: everyone.',
    }),
    system_update_interval: ms(
      5000,
      'How often system metrics (CPU, memory) are sampled. 5000: matches `report_interval`, whose load ' +
        'figure they feed.',
    ),
  },
  {
    additionalProperties: false,
    description: 'The Prometheus metrics endpoint. Absent: no metrics listener.',
  },
);

export const LimitSchema = Type.Object(
  {
    max_clients: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'Most connected clients that have authenticated (connections still waiting for their ' +
          'token count against `max_unauthenticated` instead). Absent: unlimited.',
      }),
    ),
    max_rooms: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Most open rooms. Absent: unlimited.' }),
    ),
    max_peers: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Most peers over all rooms. Absent: unlimited.' }),
    ),
    max_unauthenticated: Type.Integer({
      minimum: 1,
      default: 256,
      'x-extension': true,
      description:
        'Most main connections (web `/main` sockets, QUIC sessions) that have not authenticated ' +
        'yet, server-wide. They do not count towards `max_clients`; when a new one would exceed ' +
        'this, the oldest waiting one is closed (a real client authenticates within a round trip, ' +
        'an idle socket is the one to go). 256: a burst of connects far above normal, small in memory.',
    }),
    max_unauthenticated_per_address: Type.Integer({
      minimum: 1,
      default: 16,
      'x-extension': true,
      description:
        'Most unauthenticated main connections from one source address (an IPv6 /64 counts as one ' +
        'address); one more is closed at once. 16: room for a household or office behind one NAT. ' +
        "Behind a reverse proxy every client has the proxy's address: raise it to " +
        '`max_unauthenticated` there.',
    }),
    authentication_timeout: Type.Integer({
      minimum: 1,
      default: 5000,
      'x-unit': 'ms',
      'x-extension': true,
      description:
        'A main connection must authenticate (`Authenticate`, or a generation B `JoinRoom` with its ' +
        'token) within this long of opening, else it is closed. 5000: the SDKs authenticate as ' +
        'their first request; the 0.16 web SDK itself gives up on a request after 5 s.',
    }),
    network: Type.Object(
      {
        incoming_media_packets: Type.Optional(
          Type.Object(tokenBucket('voice packets one media may send'), {
            additionalProperties: false,
            description:
              'Token bucket per media (each outgoing voice stream of a peer); packets beyond it are ' +
              'dropped and counted. Absent: unlimited (the ODIN example prints `[limit.network]` empty).',
          }),
        ),
      },
      { additionalProperties: false, default: {}, description: 'Network-level limits.' },
    ),
    peer: Type.Object(
      {
        incoming_messages: Type.Object(
          {
            ...tokenBucket('RPC messages a peer may send', { rate: 10, capacity: 50 }),
            overflow: Type.Integer({
              minimum: 0,
              default: 20,
              description:
                'Calls that find the bucket empty wait, in order, in a queue of at most `overflow` calls ' +
                'and run as tokens refill; a call that finds the queue full disconnects the client ' +
                '("rate limit exceeded"). 0: the first call over the bucket disconnects.',
            }),
          },
          {
            additionalProperties: false,
            default: {},
            description:
              'Token bucket for RPC calls, per RPC connection (a main socket or a room stream). ' +
              '{rate 10, capacity 50, overflow 20}: gateway recommendation.',
          },
        ),
        medias: Type.Integer({
          minimum: 0,
          default: 8,
          description:
            'Most medias (outgoing streams) one peer may start. 8: far above what a voice client ' +
            'needs, low enough to stop abuse.',
        }),
        concurrent_streams: Type.Integer({
          minimum: 0,
          maximum: 8,
          default: 0,
          description: 'Most audio streams a peer receives at once, nearest speakers first. 0: unlimited.',
        }),
      },
      { additionalProperties: false, default: {}, description: 'Per-peer limits.' },
    ),
  },
  { additionalProperties: false, default: {}, description: 'Capacity and rate limits.' },
);

export const TelemetrySchema = Type.Object(
  {
    address: Type.String({
      format: Format.httpUrl,
      description:
        'URL telemetry records (JSON, see docs/operations.md) are POSTed to. Credentials in the URL are ' +
        'sent as HTTP Basic auth and redacted in logs.',
    }),
    interval: ms(60000, 'How often a record is sent. 60000: usage data is coarse; once a minute is plenty.'),
    max_consecutive_failures: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          'Failed sends in a row after which the server logs an error, drains and stops with exit code 1 ' +
          '(docs/operations.md). Absent: failures are logged and counted, and the server keeps running ' +
          '(the ODIN docs: "When set, ...").',
      }),
    ),
    data: Type.Array(Type.Enum([...telemetryLicenseFields]), {
      uniqueItems: true,
      default: [...telemetryLicenseFields],
      description:
        'Which `[license]` fields each record carries in its `license` object: `LicenseValidUntil` → ' +
        '`valid_until`, `LicenseLicensee` → `licensee`, `LicenseSerialNumber` → `serial_number`, ' +
        '`LicenseIssuer` → `issuer`. Exactly the listed ones are sent. Absent: all four. `[]`: none ' +
        '(the record says only whether the server is licensed). Without a licence `license` is null.',
    }),
  },
  { additionalProperties: false, description: 'Licence/usage telemetry. Absent: disabled.' },
);

export const InternalSchema = Type.Object(
  {
    log_hanging_api_calls: optionalMs(
      'Warn about every RPC call still unanswered after this many milliseconds (debugging aid), e.g. ' +
        '`log_hanging_api_calls = 1_000`. Absent: no such warnings.',
    ),
    log_rejected_api_calls: Type.Boolean({
      default: false,
      description: 'Log RPC calls that were rejected (bad params, not allowed, rate-limited).',
    }),
    bundle_events: Type.Optional(
      Type.Union([Type.Integer({ minimum: 0, 'x-unit': 'ms' }), Type.Boolean()], {
        description:
          'Collect room events for this many milliseconds and send them bundled (the public ODIN example ' +
          'writes `bundle_events = 20 # ms`; `true`/`false` are accepted too). Accepted for compatibility ' +
          'with existing configs; it has no effect in ODIN Grid, which sends every event in a ' +
          'notification of its own as soon as it happens.',
      }),
    ),
  },
  { additionalProperties: false, default: {}, description: 'Debugging and protocol switches.' },
);

export const LogTerminalSchema = Type.Object(
  {
    verbosity: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 3,
        description: 'Verbosity of terminal output (see root `verbosity`). Absent: the root `verbosity`.',
      }),
    ),
    format: Type.Enum(['text', 'json', 'none'], {
      default: 'text',
      description: '`text` for humans, `json` (one object per line) for log collectors, `none` for silence.',
    }),
    filters: Type.Array(Type.String({ format: Format.logFilter }), {
      default: [],
      description:
        'Per-module levels, `target=level` or a bare `level` (levels: off, error, warn, info, debug, ' +
        'trace), e.g. `["werift=warn"]`. A bare `target` keeps only that module\'s errors, as the ' +
        'public ODIN example configs write it (`filters = ["webrtc", "webrtc_ice"]`).',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Terminal (stdout) logging.' },
);

export const LogSchema = Type.Object(
  { terminal: LogTerminalSchema },
  { additionalProperties: false, default: {}, description: 'Logging.' },
);

export const ShutdownSchema = Type.Object(
  {
    grace_period: ms(
      30000,
      'On SIGTERM the server stops accepting joins and waits up to this long for rooms to empty, then ' +
        'closes the remaining clients with ServerClosing. 30000: the Kubernetes default ' +
        '`terminationGracePeriodSeconds` (30 s); give the pod a few seconds more than this so the ' +
        'server closes its clients before it is killed.',
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Draining on shutdown.',
    'x-extension': true,
  },
);

export const configSchema = Type.Object(
  {
    verbosity: Type.Integer({
      minimum: 0,
      maximum: 3,
      default: 0,
      description: 'Log verbosity: 0 = info, 1 = debug, 2 = trace, 3 = trace including dependencies.',
    }),
    public_address: Type.Optional(
      Type.String({
        format: Format.address,
        description:
          'Address (`host` or `host:port`) clients and the supervisor use to reach this server; tokens ' +
          'carry it in `adr`. Set it per pod with `GRID_PUBLIC_ADDRESS`. Required, except under a ' +
          "`[supervisor]`: then the `sfu.GridConfig` answer may supply it (the ODIN docs' minimal " +
          'supervised config is `[supervisor] url` alone), and the server refuses to start if neither does.',
      }),
    ),
    supervisor: Type.Optional(SupervisorSchema),
    authorization: AuthorizationSchema,
    quic: Type.Optional(QuicSchema),
    http: Type.Optional(HttpSchema),
    metrics: Type.Optional(MetricsSchema),
    limit: LimitSchema,
    telemetry: Type.Optional(TelemetrySchema),
    internal: InternalSchema,
    log: LogSchema,
    shutdown: ShutdownSchema,
  },
  { additionalProperties: false },
);

/** Other names accepted for a top-level section: newer ODIN releases renamed `[supervisor]`. */
export const sectionAliases: Readonly<Record<string, string>> = { provisioning: 'supervisor' };

export type GridConfig = Type.Static<typeof configSchema>;
export type SupervisorConfig = Type.Static<typeof SupervisorSchema>;
export type AuthorizationConfig = Type.Static<typeof AuthorizationSchema>;
export type Jwk = Type.Static<typeof JwkSchema>;
export type QuicConfig = Type.Static<typeof QuicSchema>;
export type HttpConfig = Type.Static<typeof HttpSchema>;
export type MetricsConfig = Type.Static<typeof MetricsSchema>;
export type LimitConfig = Type.Static<typeof LimitSchema>;
export type TelemetryConfig = Type.Static<typeof TelemetrySchema>;
export type InternalConfig = Type.Static<typeof InternalSchema>;
export type LogConfig = Type.Static<typeof LogSchema>;
export type LogTerminalConfig = Type.Static<typeof LogTerminalSchema>;
export type ShutdownConfig = Type.Static<typeof ShutdownSchema>;

/** The JSON Schema view of a TypeBox node, for code that walks the schema (docs, env, hints). */
export interface SchemaNode {
  type?: string;
  description?: string;
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  items?: SchemaNode;
  patternProperties?: Record<string, SchemaNode>;
  anyOf?: SchemaNode[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  'x-unit'?: string;
  'x-extension'?: boolean;
}

export function asNode(schema: TSchema): SchemaNode {
  return schema as unknown as SchemaNode;
}
