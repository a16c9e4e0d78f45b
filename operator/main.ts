#!/usr/bin/env node
/**
 * `odin-operator`: the OdinServer controller and the built-in supervisor in one process.
 *
 *   odin-operator [--kubeconfig F] [--supervisor-listen 0.0.0.0:7000] [--connect-listen 0.0.0.0:7001]
 *                 [--supervisor-url http://odin-operator.odin-system:7000]
 *                 [--health-listen 0.0.0.0:8080] [--lease-namespace NS] [--lease-name odin-operator]
 *                 [--identity ID] [--license-issuers X1,X2] [--watch-namespaces A,B]
 *
 * Every replica runs informers, the health server and the supervisor listeners (internal: grid
 * pods' sfu.GridConfig/sfu.Report; connect: Connect and the admin calls); only the Lease
 * holder reconciles and answers supervisor calls (docs/operator.md). SIGTERM/SIGINT: stop
 * working, release the Lease, close listeners, exit 0.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { AuthenticationV1Api, KubeConfig } from '@kubernetes/client-node';
import type { OdinJwk } from '../common/auth/index.ts';
import { parseLicenseIssuers } from '../common/license/index.ts';
import { OdinServerController } from './controller/controller.ts';
import { OperatorMetrics, startHealthServer } from './controller/health.ts';
import { LeaderElector } from './controller/leaderElection.ts';
import { SUPERVISOR_TOKEN_AUDIENCE } from './render/labels.ts';
import { PodAuthenticator } from './supervisor/podIdentity.ts';
import { SupervisorServer } from './supervisor/server.ts';

const usage = `usage: odin-operator [options]
  --kubeconfig FILE          kubeconfig (default: in-cluster, else $KUBECONFIG / ~/.kube/config)
  --supervisor-listen H:P    built-in supervisor, internal listener: grid pods' sfu.GridConfig and
                             sfu.Report (default 0.0.0.0:7000)
  --connect-listen H:P       built-in supervisor, public listener: Connect and the admin calls of
                             game clients and backends (default 0.0.0.0:7001)
  --supervisor-url URL       how grid pods reach the internal listener
                             (default http://odin-operator.<lease ns>.svc:7000)
  --health-listen H:P        /healthz /readyz /metrics /leader (default 0.0.0.0:8080)
  --watch-namespaces A,B     watch OdinServers and their children only in these namespaces
                             (Roles there suffice); default: the whole cluster
  --lease-namespace NS       namespace of the leader Lease (default: the pod's, else "default")
  --lease-name NAME          (default odin-operator)
  --identity ID              leader election identity (default <hostname>-<pid>)
  --lease-duration-ms MS     (default 15000; renew deadline 2/3 of it, retry 1/5)
  --license-issuers X1,X2    licence issuer Ed25519 public keys (base64url) to trust; given to
                             grid pods with spec.license as GRID_LICENSE_ISSUERS (default: none)
  --resync-seconds S         reconcile every OdinServer at least this often (default 300)
  --settle-seconds S         a spec change waits this long for the next before it rolls out (default 2)
  --silent-server-timeout-seconds S
                             a draining server that has not reported this long is removed (default 300)
`;

function hostPort(value: string, what: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(value);
  if (!m) throw new Error(`${what}: expected host:port, got ${JSON.stringify(value)}`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      options: {
        kubeconfig: { type: 'string' },
        'supervisor-listen': { type: 'string', default: '0.0.0.0:7000' },
        'connect-listen': { type: 'string', default: '0.0.0.0:7001' },
        'supervisor-url': { type: 'string' },
        'health-listen': { type: 'string', default: '0.0.0.0:8080' },
        'watch-namespaces': { type: 'string' },
        'lease-namespace': { type: 'string' },
        'lease-name': { type: 'string', default: 'odin-operator' },
        identity: { type: 'string' },
        'lease-duration-ms': { type: 'string', default: '15000' },
        'license-issuers': { type: 'string' },
        'resync-seconds': { type: 'string', default: '300' },
        'settle-seconds': { type: 'string', default: '2' },
        'silent-server-timeout-seconds': { type: 'string', default: '300' },
        help: { type: 'boolean' },
      },
    });
  }
  try {
    args = parse();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  const o = args.values;
  if (o.help) {
    process.stdout.write(usage);
    return 0;
  }
  let licenseIssuers: OdinJwk[];
  try {
    licenseIssuers = parseLicenseIssuers(o['license-issuers'], '--license-issuers');
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  const kubeConfig = new KubeConfig();
  if (o.kubeconfig) kubeConfig.loadFromFile(o.kubeconfig);
  else kubeConfig.loadFromDefault();
  let podNamespace: string | undefined;
  try {
    podNamespace = readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
  } catch {}
  const leaseNamespace = o['lease-namespace'] ?? podNamespace ?? 'default';
  const identity = o.identity ?? `${hostname()}-${process.pid}`;
  const supervisorListen = hostPort(o['supervisor-listen']!, '--supervisor-listen');
  const connectListen = hostPort(o['connect-listen']!, '--connect-listen');
  const healthListen = hostPort(o['health-listen']!, '--health-listen');
  const supervisorUrl =
    o['supervisor-url'] ?? `http://odin-operator.${leaseNamespace}.svc:${supervisorListen.port}`;
  const leaseDurationMs = Number(o['lease-duration-ms']);
  const settleSeconds = Number(o['settle-seconds']);
  if (!Number.isFinite(settleSeconds) || settleSeconds < 0 || settleSeconds > 300) {
    process.stderr.write(
      `--settle-seconds: expected 0 ... 300, got ${JSON.stringify(o['settle-seconds'])}\n`,
    );
    return 2;
  }
  const silentSeconds = Number(o['silent-server-timeout-seconds']);
  if (!Number.isFinite(silentSeconds) || silentSeconds < 1) {
    process.stderr.write(
      `--silent-server-timeout-seconds: expected a number >= 1, got ${JSON.stringify(o['silent-server-timeout-seconds'])}\n`,
    );
    return 2;
  }
  const resyncSeconds = Number(o['resync-seconds']);
  if (!Number.isFinite(resyncSeconds) || resyncSeconds < 1) {
    process.stderr.write(
      `--resync-seconds: expected a number >= 1, got ${JSON.stringify(o['resync-seconds'])}\n`,
    );
    return 2;
  }
  const watchNamespaces = o['watch-namespaces']
    ?.split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  for (const ns of watchNamespaces ?? [])
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) || ns.length > 63)
      throw new Error(`--watch-namespaces: ${JSON.stringify(ns)} is not a namespace name`);

  const metrics = new OperatorMetrics();
  let elector: LeaderElector | undefined;
  let controller: OdinServerController | undefined;
  const tokenReviews = kubeConfig.makeApiClient(AuthenticationV1Api);
  const supervisor = new SupervisorServer({
    internal: supervisorListen,
    connect: connectListen,
    pods: new PodAuthenticator({
      audience: SUPERVISOR_TOKEN_AUDIENCE,
      review: async (token, audience) => {
        const review = await tokenReviews.createTokenReview({
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenReview',
            spec: { token, audiences: [audience] },
          },
        });
        const status = review.status ?? {};
        return {
          authenticated: status.authenticated === true,
          ...(status.audiences ? { audiences: status.audiences } : {}),
          ...(status.user?.username ? { username: status.user.username } : {}),
          ...(status.user?.extra ? { extra: status.user.extra } : {}),
          ...(status.error ? { error: status.error } : {}),
        };
      },
    }),
    isLeader: () => elector?.isLeader ?? false,
    onReport: (fleet) => controller?.onReport(fleet.namespace, fleet.name),
    log,
  });
  metrics.countSupervisedServers = () => supervisor.reportingServers();
  controller = new OdinServerController({
    kubeConfig,
    supervisor,
    supervisorUrl,
    metrics,
    identity,
    log,
    licenseIssuers,
    resyncMs: resyncSeconds * 1000,
    settleMs: settleSeconds * 1000,
    silentRemovableMs: silentSeconds * 1000,
    ...(watchNamespaces?.length ? { namespaces: watchNamespaces } : {}),
  });
  const ports = await supervisor.listen();
  const health = await startHealthServer({
    ...healthListen,
    metrics,
    ready: () => controller?.synced ?? false,
    leader: () => elector?.isLeader ?? false,
  });
  log('info', 'odin-operator listening', {
    identity,
    supervisorPort: ports.internal,
    connectPort: ports.connect,
    watchNamespaces: watchNamespaces?.length ? watchNamespaces : 'all',
    healthPort: health.port,
    supervisorUrl,
    licenseIssuers: licenseIssuers.map((k) => k.kid),
  });
  await controller.start();
  log('info', 'caches synced');

  let stopping = false;
  const done = new Promise<number>((resolve) => {
    const stop = async (why: string, code: number) => {
      if (stopping) return;
      stopping = true;
      log('info', `stopping: ${why}`);
      await elector?.stop();
      await controller?.stop();
      await supervisor.close();
      await new Promise<void>((r) => health.server.close(() => r()));
      resolve(code);
    };
    elector = new LeaderElector({
      kubeConfig,
      namespace: leaseNamespace,
      name: o['lease-name']!,
      identity,
      leaseDurationMs,
      renewDeadlineMs: Math.round((leaseDurationMs * 2) / 3),
      retryPeriodMs: Math.max(200, Math.round(leaseDurationMs / 5)),
      onStartedLeading: () => {
        metrics.leader.set(1);
        log('info', 'leading: reconciling');
        controller?.startLeading();
      },
      // As controller-runtime does: a replica that lost the lease exits, and starts afresh.
      onStoppedLeading: () => {
        metrics.leader.set(0);
        if (!stopping) void stop('lost the leadership', 1);
      },
      log: (msg) => log('info', msg),
    });
    elector.start();
    process.once('SIGTERM', () => void stop('SIGTERM', 0));
    process.once('SIGINT', () => void stop('SIGINT', 0));
  });
  return done;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log('error', 'odin-operator failed', { error: String((error as Error)?.stack ?? error) });
    process.exit(1);
  },
);
