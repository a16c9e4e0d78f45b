/**
 * `odin-operator` as a child process for e2e: started with the cluster's admin kubeconfig,
 * its supervisor and health listeners on free loopback ports, logs kept for assertions.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePorts, waitUntil } from '../cluster/index.ts';

const operatorMain = join(import.meta.dirname, '..', '..', 'operator', 'main.ts');

export type OperatorProcess = {
  identity: string;
  child: ChildProcess;
  /** The internal listener (grid pods' sfu.*). */
  supervisorPort: number;
  /** The public listener (Connect and the admin calls). */
  connectPort: number;
  healthPort: number;
  log: string[];
  get(path: string): Promise<{ status: number; body: string }>;
  isLeader(): Promise<boolean>;
  /** SIGTERM, wait for the exit. */
  stop(): Promise<number | null>;
};

export async function startOperator(params: {
  kubeconfigPath: string;
  identity: string;
  leaseNamespace: string;
  supervisorPort?: number;
  leaseDurationMs?: number;
  leaseName?: string;
  /** More command-line options (e.g. shorter timeouts for a test, --watch-namespaces, `--license-issuers=...`). */
  extraArgs?: string[];
}): Promise<OperatorProcess> {
  const [freeSupervisor, healthPort, connectPort] = await freePorts(3);
  const supervisorPort = params.supervisorPort ?? freeSupervisor!;
  const child = spawn(
    process.execPath,
    [
      operatorMain,
      '--kubeconfig',
      params.kubeconfigPath,
      '--supervisor-listen',
      `127.0.0.1:${supervisorPort}`,
      '--connect-listen',
      `127.0.0.1:${connectPort}`,
      '--supervisor-url',
      `http://127.0.0.1:${supervisorPort}`,
      '--health-listen',
      `127.0.0.1:${healthPort}`,
      '--lease-namespace',
      params.leaseNamespace,
      '--identity',
      params.identity,
      '--lease-duration-ms',
      String(params.leaseDurationMs ?? 4000),
      ...(params.leaseName ? ['--lease-name', params.leaseName] : []),
      ...(params.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) log.push(line);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  process.once('exit', () => child.kill('SIGKILL'));
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${healthPort!}${path}`);
    return { status: res.status, body: await res.text() };
  };
  const op: OperatorProcess = {
    identity: params.identity,
    child,
    supervisorPort,
    connectPort: connectPort!,
    healthPort: healthPort!,
    log,
    get,
    isLeader: async () => (await get('/leader').catch(() => ({ status: 0 }))).status === 200,
    stop: async () => {
      child.kill('SIGTERM');
      return Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
    },
  };
  await waitUntil(
    `operator ${params.identity} ready`,
    async () => {
      if (child.exitCode !== null)
        throw new Error(`operator exited ${child.exitCode}: ${log.slice(-10).join('\n')}`);
      return (await get('/readyz').catch(() => ({ status: 0 }))).status === 200;
    },
    { timeoutMs: 60_000 },
  );
  return op;
}
