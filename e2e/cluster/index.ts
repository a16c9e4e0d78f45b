// A real, throw-away Kubernetes control plane for e2e tests: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok (fake nodes whose pods reach Running
// without containers), all built from the official Go modules by build.sh and started on
// loopback with random free ports. See docs/e2e.md.
//
//   let cluster: Cluster;
//   before(async () => { cluster = await startCluster(); });
//   after(async () => { await cluster?.stop(); });
//   test('...', async () => { const ns = await cluster.newNamespace('smoke'); ... });
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { createPki, writeKubeconfig } from './pki.ts';
import { ProcessGroup, tail } from './processes.ts';

const run = promisify(execFile);
const here = import.meta.dirname;
export const BUILD_SCRIPT = join(here, 'build.sh');

export interface StartOptions {
  /** Number of kwok fake nodes (default 2). */
  nodes?: number;
  /** How long to wait for the control plane (default 120 s: a busy 2-core CI machine). */
  readyTimeoutMs?: number;
  /** Keep the temp dir (logs, certs, etcd data) after stop. Also: ODIN_E2E_KEEP=1. */
  keep?: boolean;
  /** Progress messages (default: to stderr). */
  log?: (msg: string) => void;
}

export interface Cluster {
  /** Temp directory with logs/, pki/, etcd/ and the kubeconfigs. */
  dir: string;
  binDir: string;
  apiUrl: string;
  /** Admin (system:masters) kubeconfig file, usable by kubectl and helm. */
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  /** Names of the kwok fake nodes. */
  nodes: string[];
  /**
   * Each node's InternalIP: a distinct loopback address (127.x.y.n, random x.y per cluster), so
   * pods get distinct `status.hostIP`s that processes on this machine can bind, as on real nodes.
   */
  nodeAddresses: Record<string, string>;
  /** Creates a namespace `<prefix>-<random>` and waits for its default ServiceAccount. */
  newNamespace(prefix?: string): Promise<string>;
  kubectl(args: string[], opts?: { input?: string }): Promise<{ stdout: string; stderr: string }>;
  helm(args: string[]): Promise<{ stdout: string; stderr: string }>;
  /** Last lines of a component's log: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok. */
  logTail(component: string, lines?: number): string;
  /** Kills every process, removes the temp dir. Idempotent; also runs on process exit/signals. */
  stop(): Promise<void>;
}

const defaultLog = (msg: string): void => {
  process.stderr.write(`[e2e-cluster] ${msg}\n`);
};

/**
 * Builds (or finds in the cache) the control-plane binaries and returns their directory.
 * ODIN_E2E_BIN_DIR overrides the build with a directory of prebuilt binaries of the same names.
 */
export async function ensureBinaries(log = defaultLog): Promise<string> {
  const override = process.env.ODIN_E2E_BIN_DIR;
  if (override) return override;
  const started = Date.now();
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    // Progress of a cold build (minutes): pass it on line by line.
    let pending = '';
    child.stderr.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) process.stderr.write(l + '\n');
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (pending) process.stderr.write(pending + '\n');
      if (code === 0) resolve(stdout.trim().split('\n').pop() ?? '');
      else
        reject(
          new Error(
            `building the e2e control plane failed (exit ${code}); run \`bash e2e/cluster/build.sh\` to see why`,
          ),
        );
    });
  });
  if (Date.now() - started > 5000)
    log(`control plane binaries ready in ${Math.round((Date.now() - started) / 1000)}s`);
  return out;
}

/** Distinct free loopback ports (all held open together, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import('node:net').Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
  alive: () => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    alive();
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await sleep(200);
  }
}

function httpsGet(
  url: string,
  tls: { ca: Buffer; cert: Buffer; key: Buffer },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function startCluster(opts: StartOptions = {}): Promise<Cluster> {
  const log = opts.log ?? defaultLog;
  const binDir = await ensureBinaries(log);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts, binDir, log);
    } catch (err) {
      // A free port picked by freePorts() can be taken by someone else before the
      // component binds it: start again with new ports.
      if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
      log(`a port was taken meanwhile; starting again (attempt ${attempt + 1})`);
    }
  }
}

async function startOnce(opts: StartOptions, binDir: string, log: (msg: string) => void): Promise<Cluster> {
  const nodeCount = opts.nodes ?? 2;
  const timeout = opts.readyTimeoutMs ?? 120_000;
  const keep = opts.keep ?? process.env.ODIN_E2E_KEEP === '1';
  const bin = (name: string) => join(binDir, name);
  const t0 = Date.now();

  const dir = await mkdtemp(join(tmpdir(), 'odin-e2e-'));
  const group = new ProcessGroup();
  if (!keep) group.ownDir(dir);
  const logDir = join(dir, 'logs');
  try {
    await Promise.all(['logs', 'pki', 'etcd', 'helm'].map((d) => mkdir(join(dir, d), { recursive: true })));
    const pki = await createPki(join(dir, 'pki'), [
      { name: 'admin', user: 'admin', groups: ['system:masters'] },
      { name: 'kube-controller-manager', user: 'system:kube-controller-manager' },
      { name: 'kube-scheduler', user: 'system:kube-scheduler' },
      { name: 'kwok', user: 'kwok-controller', groups: ['system:masters'] },
    ]);
    const [etcdPort, etcdPeerPort, apiPort] = (await freePorts(3)) as [number, number, number];
    const apiUrl = `https://127.0.0.1:${apiPort}`;
    const caPem = await readFile(pki.caCert, 'utf8');
    const kubeconfigs: Record<string, string> = {};
    for (const [name, c] of Object.entries(pki.clients)) {
      kubeconfigs[name] = join(dir, `${name}.kubeconfig`);
      await writeKubeconfig(
        kubeconfigs[name],
        apiUrl,
        caPem,
        await readFile(c.cert, 'utf8'),
        await readFile(c.key, 'utf8'),
        name,
      );
    }
    const alive = () => group.assertAlive();

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    group.start(
      'etcd',
      bin('etcd'),
      [
        '--name=default',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      { logDir },
    );
    await waitFor(
      'etcd /health',
      timeout,
      async () => {
        const res = await fetch(`${etcdUrl}/health`);
        return res.ok;
      },
      alive,
    );

    group.start(
      'kube-apiserver',
      bin('kube-apiserver'),
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        // 1.37 rejects a loopback advertise address for the endpoint reconciler; nothing
        // runs inside the cluster that would dial the kubernetes Service anyway.
        '--endpoint-reconciler-type=none',
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, 'pki', 'apiserver-generated')}`,
        `--tls-cert-file=${pki.serverCert}`,
        `--tls-private-key-file=${pki.serverKey}`,
        `--client-ca-file=${pki.caCert}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--authorization-mode=Node,RBAC',
        '--allow-privileged=true',
        '--profiling=false',
        '--v=0',
      ],
      { logDir },
    );
    const tls = {
      ca: Buffer.from(caPem),
      cert: await readFile(pki.clients.admin!.cert),
      key: await readFile(pki.clients.admin!.key),
    };
    await waitFor(
      'kube-apiserver /readyz',
      timeout,
      async () => (await httpsGet(`${apiUrl}/readyz`, tls)).status === 200,
      alive,
    );
    log(`kube-apiserver ready at ${apiUrl} after ${Date.now() - t0} ms`);

    group.start(
      'kube-controller-manager',
      bin('kube-controller-manager'),
      [
        `--kubeconfig=${kubeconfigs['kube-controller-manager']}`,
        '--controllers=*',
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        '--secure-port=0',
        `--service-account-private-key-file=${pki.serviceAccountKey}`,
        `--root-ca-file=${pki.caCert}`,
        '--use-service-account-credentials=true',
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        '--horizontal-pod-autoscaler-sync-period=5s',
        '--profiling=false',
      ],
      { logDir },
    );
    group.start(
      'kube-scheduler',
      bin('kube-scheduler'),
      [
        `--kubeconfig=${kubeconfigs['kube-scheduler']}`,
        `--authentication-kubeconfig=${kubeconfigs['kube-scheduler']}`,
        `--authorization-kubeconfig=${kubeconfigs['kube-scheduler']}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        '--secure-port=0',
        '--profiling=false',
      ],
      { logDir },
    );
    group.start(
      'kwok',
      bin('kwok'),
      [
        `--kubeconfig=${kubeconfigs.kwok}`,
        `--config=${join(binDir, 'kwok-stages.yaml')}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        '--node-lease-duration-seconds=40',
        '--cidr=10.244.0.1/16',
        '--node-ip=127.0.0.1',
      ],
      { logDir, env: { ...process.env, HOME: dir } },
    );

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigs.admin!);
    const core = kubeConfig.makeApiClient(CoreV1Api);

    const nodes = Array.from({ length: nodeCount }, (_, i) => `kwok-node-${i}`);
    // 127.x.y.0/24 of this cluster: two clusters on one machine rarely pick the same one.
    const [x, y] = randomBytes(2);
    const nodeAddresses = Object.fromEntries(
      nodes.map((name, i) => [name, `127.${100 + (x! % 150)}.${y}.${i + 1}`]),
    );
    for (const name of nodes) await core.createNode({ body: fakeNode(name, nodeAddresses[name]!) });
    await waitFor(
      `${nodeCount} kwok nodes Ready`,
      timeout,
      async () => {
        const list = await core.listNode();
        const ready = list.items.filter((n) =>
          n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return ready.length >= nodeCount;
      },
      alive,
    );
    await waitFor(
      'the default ServiceAccount (controller manager)',
      timeout,
      async () => {
        await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
        return true;
      },
      alive,
    );
    log(`cluster ready in ${Date.now() - t0} ms (${dir}${keep ? ', kept' : ''})`);

    const env = {
      ...process.env,
      KUBECONFIG: kubeconfigs.admin!,
      HELM_CACHE_HOME: join(dir, 'helm', 'cache'),
      HELM_CONFIG_HOME: join(dir, 'helm', 'config'),
      HELM_DATA_HOME: join(dir, 'helm', 'data'),
    };
    const exec = async (name: string, args: string[], input?: string) => {
      try {
        if (input === undefined) return await run(bin(name), args, { env, maxBuffer: 64 << 20 });
        return await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
          const child = execFile(bin(name), args, { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
            err ? reject(Object.assign(err, { stdout, stderr })) : resolve({ stdout, stderr }),
          );
          child.stdin?.end(input);
        });
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`${name} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
      }
    };

    let stopping: Promise<void> | null = null;
    return {
      dir,
      binDir,
      apiUrl,
      kubeconfigPath: kubeconfigs.admin!,
      kubeConfig,
      nodes,
      nodeAddresses,
      async newNamespace(prefix = 'e2e') {
        const name = `${prefix}-${randomBytes(3).toString('hex')}`;
        await core.createNamespace({ body: { metadata: { name } } });
        await waitFor(
          `ServiceAccount default in ${name}`,
          timeout,
          async () => {
            await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
            return true;
          },
          alive,
        );
        return name;
      },
      kubectl: (args, o) => exec('kubectl', args, o?.input),
      helm: (args) => exec('helm', args),
      logTail: (component, lines = 40) => tail(join(logDir, `${component}.log`), lines),
      stop() {
        stopping ??= group.stop().then(() => {
          if (keep) log(`kept ${dir}`);
        });
        return stopping;
      },
    };
  } catch (err) {
    await group.stop();
    if (keep) log(`start failed; logs kept in ${logDir}`);
    throw err;
  }
}

function fakeNode(name: string, address: string): V1Node {
  const resources = { cpu: '32', memory: '128Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/role': 'agent',
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
      },
    },
    // kwok keeps addresses given at creation; pods on the node get it as status.hostIP.
    status: {
      allocatable: resources,
      capacity: resources,
      addresses: [
        { type: 'InternalIP', address },
        { type: 'Hostname', address: name },
      ],
    },
  };
}

/**
 * Polls `fn` until it returns a truthy value (returned) or the timeout passes (throws with
 * the last error or value). Errors thrown by `fn` count as "not yet".
 */
export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(opts.intervalMs ?? 250);
  }
}
