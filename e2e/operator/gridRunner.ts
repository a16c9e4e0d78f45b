/**
 * The grid pod runner for e2e on the kwok control plane (issue 10 reuses it). kwok pods reach
 * Running without containers, so this runner plays the kubelet for the `grid` container of
 * every Running pod that matches a label selector: it starts a real `node server/main.ts`
 * process with the pod's own spec, and stops it (SIGTERM: the server drains) when the pod is
 * deleted.
 *
 * What it takes from the pod, as the kubelet would:
 * - `args` of the container;
 * - `env`: values with `$(VAR)` expansion, `fieldRef` (metadata.name/namespace, spec.nodeName,
 *   status.hostIP, status.podIP), `secretKeyRef` and `configMapKeyRef`;
 * - `volumeMounts` of ConfigMap, Secret and projected ServiceAccount token volumes, written under
 *   a temp root; absolute mount paths in the args, the env and the mounted files (config.toml
 *   names TLS files) point there. Laid out as the kubelet does (`name -> ..data/name`, `..data`
 *   -> a timestamped directory, test/helpers/atomicWriter.ts) and re-synced while the pod runs
 *   (every `volumeSyncMs`): a changed Secret or ConfigMap swaps `..data` atomically, as a renewed
 *   TLS Secret does in a cluster (the kubelet's sync period is about a minute; here it is short
 *   for the tests). A projected token is requested once with the TokenRequest API for the pod's
 *   ServiceAccount, with the volume's audience and lifetime, bound to the pod: what the kubelet
 *   does (the e2e runs are shorter than its lifetime, so it is not rotated).
 *
 * Signals as the kubelet sends them: one SIGTERM when the pod goes (grid takes a second signal
 * as "stop now", so repeating it would cut the drain short), nothing more; the grace period is
 * grid's own `[shutdown] grace_period`.
 *
 * Readiness as the kubelet's probe would see it: kwok marks a pod Ready the moment it runs,
 * without probes. The runner knows better: it asks the process's own `/readyz` (the operator's
 * readiness probe) and writes the pod's `Ready`/`ContainersReady` conditions through the status
 * subresource (kwok does not touch a pod's status again once it has an IP). So a Deployment
 * rollout waits for a new grid that is really up, and a draining grid is NotReady.
 *
 * Addresses: every kwok node has its own loopback InternalIP (e2e/cluster), which pods get as
 * status.hostIP, so the host-port listeners (`[http]`, its WebRTC port, `[quic]`) bind
 * `<hostIP>:<port of the config>` through the server's own `GRID_*_BINDING` variables, exactly
 * where the operator (which takes each server's endpoint from the Pod object) sends clients. The
 * metrics listener, not a host port, gets a free port on 127.0.0.1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
  type V1Pod,
  type V1Volume,
} from '@kubernetes/client-node';
import { parse } from 'smol-toml';
import { writeAtomically } from '../../test/helpers/atomicWriter.ts';
import { freePorts } from '../cluster/index.ts';

const repoRoot = join(import.meta.dirname, '..', '..');
const gridMain = join(repoRoot, 'server', 'main.ts');

export type GridProcess = {
  pod: string;
  namespace: string;
  pid: number;
  child: ChildProcess;
  /** Loopback ports of the listeners (PortRange pods: from their ports file, once it holds them). */
  ports: { http?: number; webrtc?: number; quic?: number; metrics?: number };
  /** Address of the metrics listener: 127.0.0.1, or the node's for a pod on the node network. */
  metricsHost: string;
  /** Resolved environment given to the process (GRID_* and the pod's own variables). */
  env: Record<string, string>;
  dir: string;
  log: string[];
  exited: Promise<number | null>;
  /** SIGTERM sent (once: a second one would stop grid at once). */
  terminating: boolean;
  /** What the runner last wrote as the pod's Ready condition (undefined: not yet). */
  ready?: boolean;
  /** The pod's ConfigMap/Secret volumes as written, re-synced while it runs. */
  volumes: MountedVolume[];
};

/** One ConfigMap or Secret volume of a pod, written under the runner's root. */
/** Held on every pod with a running grid process, removed when the process ends. */
const PROCESS_FINALIZER = 'e2e.odin-grid.io/grid-process';

type MountedVolume = {
  volume: V1Volume;
  /** The local directory the mount path points to. */
  local: string;
  /** [mount path, local path] of every mount of the pod, longest first: rewrites file contents. */
  pairs: [string, string][];
  /** What was written last (JSON of the files), to write only changes. */
  written: string;
  /** A projected ServiceAccount token volume's files, requested once at the pod's start. */
  projected?: Record<string, string>;
  /** A downward-API volume: its files come from the pod object (annotations, labels, names). */
  downward?: { pod: V1Pod };
};

export type GridRunnerOptions = {
  kubeConfig: KubeConfig;
  namespace: string;
  labelSelector: string;
  /** Container name (default `grid`). */
  container?: string;
  pollMs?: number;
  /** Write the pod's Ready condition from the process's `/readyz` (default true). */
  reflectReadiness?: boolean;
  /** How often mounted Secrets/ConfigMaps are re-read for running pods, ms (default 1000). */
  volumeSyncMs?: number;
};

export class GridRunner {
  readonly processes = new Map<string, GridProcess>();
  readonly #o: GridRunnerOptions;
  readonly #core: CoreV1Api;
  readonly #root: string;
  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<void> | undefined;
  #stopped = false;
  #volumesSyncedAt = 0;

  constructor(options: GridRunnerOptions) {
    this.#o = options;
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#root = mkdtempSync(join(tmpdir(), 'odin-grid-pods-'));
  }

  start(): void {
    const tick = () => {
      if (this.#stopped) return;
      void this.sync().finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(tick, this.#o.pollMs ?? 300);
      });
    };
    tick();
  }

  /** One round: start processes for new Running pods, SIGTERM those whose pods are gone. */
  async sync(): Promise<void> {
    if (this.#busy) return;
    this.#busy = this.#sync().finally(() => {
      this.#busy = undefined;
    });
    await this.#busy;
  }

  async #sync(): Promise<void> {
    try {
      const list = await this.#core.listNamespacedPod({
        namespace: this.#o.namespace,
        labelSelector: this.#o.labelSelector,
      });
      const live = new Set<string>();
      const pods = new Map<string, V1Pod>();
      for (const pod of list.items) {
        const name = pod.metadata?.name ?? '';
        if (pod.metadata?.deletionTimestamp || pod.status?.phase !== 'Running') continue;
        live.add(name);
        pods.set(name, pod);
        if (this.#stopped) return;
        if (!this.processes.has(name)) this.processes.set(name, await this.#startFor(pod));
        const p = this.processes.get(name)!;
        for (const v of p.volumes) if (v.downward) v.downward.pod = pod;
      }
      for (const [name, p] of this.processes) {
        const running = p.child.exitCode === null && p.child.signalCode === null;
        if (!live.has(name) && running && !p.terminating) {
          p.terminating = true;
          p.child.kill('SIGTERM');
        }
      }
      if (this.#o.reflectReadiness ?? true)
        await Promise.all(
          [...pods].map(([name, pod]) => this.#reflectReadiness(pod, this.processes.get(name)!)),
        );
      if (Date.now() - this.#volumesSyncedAt >= (this.#o.volumeSyncMs ?? 1000)) {
        this.#volumesSyncedAt = Date.now();
        for (const [name, p] of this.processes) {
          if (!live.has(name) || p.child.exitCode !== null) continue;
          for (const volume of p.volumes) await this.#writeVolume(p.namespace, volume);
          await readAssignedPorts(p);
        }
      }
    } catch {
      // The next round retries.
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    // A round in flight may be starting a process (a TokenRequest takes a while): let it finish,
    // so that process is stopped too and nothing writes under the root once it is removed.
    await this.#busy;
    for (const p of this.processes.values()) {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {}
    }
    await Promise.all([...this.processes.values()].map((p) => Promise.race([p.exited, sleep(2000)])));
    await Promise.all([...this.processes.values()].map((p) => this.#releasePod(p.namespace, p.pod)));
    rmSync(this.#root, { recursive: true, force: true });
  }

  /** The pod's Ready condition from the process's `/readyz`, written only when it changes. */
  async #reflectReadiness(pod: V1Pod, p: GridProcess): Promise<void> {
    const running = p.child.exitCode === null && p.child.signalCode === null;
    let ready = false;
    if (running && p.ports.metrics !== undefined) {
      try {
        const res = await fetch(`http://${p.metricsHost}:${p.ports.metrics}/readyz`, {
          signal: AbortSignal.timeout(2000),
        });
        await res.arrayBuffer();
        ready = res.status === 200;
      } catch {
        ready = false;
      }
    }
    const shown = pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    if (p.ready === ready && shown === ready) return;
    const status = ready ? 'True' : 'False';
    const now = new Date();
    const condition = (type: string) => ({
      type,
      status,
      lastTransitionTime: now,
      ...(ready ? {} : { reason: 'GridNotReady', message: 'grid /readyz does not answer 200' }),
    });
    await this.#core.patchNamespacedPodStatus(
      {
        name: pod.metadata!.name!,
        namespace: pod.metadata!.namespace!,
        body: { status: { conditions: [condition('Ready'), condition('ContainersReady')] } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    p.ready = ready;
  }

  async #startFor(pod: V1Pod): Promise<GridProcess> {
    const name = pod.metadata!.name!;
    const namespace = pod.metadata!.namespace!;
    const container = pod.spec?.containers.find((c) => c.name === (this.#o.container ?? 'grid'));
    if (!container) throw new Error(`pod ${name} has no container ${this.#o.container ?? 'grid'}`);
    const dir = join(this.#root, name);
    mkdirSync(dir, { recursive: true });
    const volumes = await this.#materialiseVolumes(pod, container, dir);
    const mounts = volumes[0]?.pairs ?? [];
    const rewrite = (text: string) => mounts.reduce((t, [from, to]) => t.split(from).join(to), text);
    const env = Object.fromEntries(
      Object.entries(await this.#resolveEnv(pod, container)).map(([k, v]) => [k, rewrite(v)]),
    );
    // Listeners: host ports on the node's own loopback IP, metrics on a free port (see above).
    const configArg = (container.args ?? []).indexOf('--config');
    const configFile = configArg >= 0 ? rewrite(container.args![configArg + 1]!) : undefined;
    const config = configFile ? (parse(await readText(configFile)) as Record<string, unknown>) : {};
    const [metrics] = await freePorts(1);
    const hostIP = pod.status?.hostIP ?? '127.0.0.1';
    const portOf = (binding: unknown) => Number(/:(\d+)$/.exec(String(binding ?? ''))?.[1]);
    const section = (name: string) => (config[name] ?? {}) as Record<string, unknown>;
    const ports: GridProcess['ports'] = {};
    const overrides: Record<string, string> = {};
    if (config.http !== undefined) {
      ports.http = portOf(section('http').binding);
      ports.webrtc = portOf(section('http').webrtc_binding);
      overrides.GRID_HTTP_BINDING = `${hostIP}:${ports.http}`;
      overrides.GRID_HTTP_WEBRTC_BINDING = `${hostIP}:${ports.webrtc}`;
    }
    if (config.quic !== undefined) {
      ports.quic = portOf(section('quic').binding);
      overrides.GRID_QUIC_BINDING = `${hostIP}:${ports.quic}`;
    }
    // A pod on the node network (HostNetwork, PortRange) has its metrics port there too.
    const nodeNetwork = pod.spec?.hostNetwork === true;
    if (config.metrics !== undefined) {
      ports.metrics = nodeNetwork ? portOf(section('metrics').binding) : metrics!;
      overrides.GRID_METRICS_BINDING = nodeNetwork ? `${hostIP}:${ports.metrics}` : `127.0.0.1:${metrics}`;
    }
    const childEnv: Record<string, string> = {
      ...Object.fromEntries(
        Object.entries(process.env).filter(
          (e): e is [string, string] => !e[0].startsWith('GRID_') && e[1] !== undefined,
        ),
      ),
      ...env,
      ...overrides,
      GRID_LOG_TERMINAL_FORMAT: 'json',
      NO_COLOR: '1',
    };
    const args = (container.args ?? []).map(rewrite);
    const child = spawn(process.execPath, [gridMain, ...args], {
      cwd: dir,
      env: childEnv,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log: string[] = [];
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) log.push(line);
      if (log.length > 2000) log.splice(0, log.length - 2000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Like a kubelet, keep the pod object until its process has ended: kwok's delete stage
    // removes a pod at once, which would free its host ports for a replacement on the same
    // node and invalidate its bound ServiceAccount token while grid still drains.
    await this.#holdPod(namespace, name);
    void exited.then(() => this.#releasePod(namespace, name));
    const started: GridProcess = {
      pod: name,
      namespace,
      pid: child.pid!,
      child,
      ports,
      metricsHost: nodeNetwork ? hostIP : '127.0.0.1',
      env: { ...env, ...overrides },
      dir,
      log,
      exited,
      terminating: false,
      volumes,
    };
    // PortRange: the config's ports are not this server's; its own come with its ports file.
    if (env.GRID_PORTS_FILE) started.ports = {};
    await readAssignedPorts(started);
    return started;
  }

  async #holdPod(namespace: string, name: string): Promise<void> {
    await this.#core.patchNamespacedPod(
      { name, namespace, body: { metadata: { finalizers: [PROCESS_FINALIZER] } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
  }

  /** The process ended: the pod may go (best effort; a pod already gone is fine). */
  async #releasePod(namespace: string, name: string): Promise<void> {
    try {
      const pod = await this.#core.readNamespacedPod({ name, namespace });
      const finalizers = (pod.metadata?.finalizers ?? []).filter((f) => f !== PROCESS_FINALIZER);
      await this.#core.patchNamespacedPod(
        { name, namespace, body: { metadata: { finalizers } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch {}
  }

  async #resolveEnv(pod: V1Pod, container: V1Container): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const expand = (v: string) => v.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n: string) => out[n] ?? m);
    const namespace = pod.metadata!.namespace!;
    for (const e of container.env ?? []) {
      if (e.value !== undefined) out[e.name] = expand(e.value);
      else if (e.valueFrom?.fieldRef) {
        const field = e.valueFrom.fieldRef.fieldPath;
        const values: Record<string, string | undefined> = {
          'metadata.name': pod.metadata?.name,
          'metadata.namespace': namespace,
          'spec.nodeName': pod.spec?.nodeName,
          'status.hostIP': pod.status?.hostIP,
          'status.podIP': pod.status?.podIP,
        };
        out[e.name] = values[field] ?? '';
      } else if (e.valueFrom?.secretKeyRef) {
        const ref = e.valueFrom.secretKeyRef;
        const secret = await this.#core.readNamespacedSecret({ name: ref.name!, namespace });
        out[e.name] = Buffer.from(secret.data?.[ref.key] ?? '', 'base64').toString('utf8');
      } else if (e.valueFrom?.configMapKeyRef) {
        const ref = e.valueFrom.configMapKeyRef;
        const cm = await this.#core.readNamespacedConfigMap({ name: ref.name!, namespace });
        out[e.name] = cm.data?.[ref.key] ?? '';
      }
    }
    return out;
  }

  /** Writes ConfigMap and Secret volumes under `dir`, as the kubelet lays them out. */
  async #materialiseVolumes(pod: V1Pod, container: V1Container, dir: string): Promise<MountedVolume[]> {
    const namespace = pod.metadata!.namespace!;
    const pairs: [string, string][] = [];
    const volumes: MountedVolume[] = [];
    for (const mount of container.volumeMounts ?? []) {
      const volume = pod.spec?.volumes?.find((v) => v.name === mount.name);
      if (!volume || !(volume.configMap || volume.secret || volume.projected || volume.downwardAPI)) continue;
      const projected: Record<string, string> = {};
      if (volume.projected) {
        for (const source of volume.projected.sources ?? []) {
          const t = source.serviceAccountToken;
          if (!t) continue;
          const request = await this.#core.createNamespacedServiceAccountToken({
            name: pod.spec?.serviceAccountName ?? 'default',
            namespace,
            body: {
              spec: {
                ...(t.audience ? { audiences: [t.audience] } : {}),
                expirationSeconds: t.expirationSeconds ?? 3600,
                boundObjectRef: {
                  apiVersion: 'v1',
                  kind: 'Pod',
                  name: pod.metadata!.name!,
                  uid: pod.metadata!.uid!,
                },
              },
            },
          });
          const token = request.status?.token;
          if (!token) throw new Error(`TokenRequest for pod ${pod.metadata!.name} returned no token`);
          projected[t.path] = token;
        }
      }
      const local = join(dir, 'volumes', mount.mountPath.replace(/^\/+/, ''));
      pairs.push([mount.mountPath, local]);
      volumes.push({
        volume,
        local,
        pairs,
        written: '',
        ...(volume.projected ? { projected } : {}),
        ...(volume.downwardAPI ? { downward: { pod } } : {}),
      });
    }
    // Longest mount path first, so /etc/odin/config never rewrites part of a longer path wrongly.
    pairs.sort((a, b) => b[0].length - a[0].length);
    for (const volume of volumes) await this.#writeVolume(namespace, volume);
    return volumes;
  }

  /** Reads the volume's source and swaps its files in when they changed (kubelet's atomic writer). */
  async #writeVolume(namespace: string, mounted: MountedVolume): Promise<void> {
    const { volume } = mounted;
    let data: Record<string, string>;
    let items: { key: string; path: string }[] | undefined;
    if (mounted.projected) {
      data = mounted.projected;
    } else if (mounted.downward) {
      // As the kubelet: each item's field of the pod as it is now (an annotation not set yet is
      // an empty file), refreshed when the pod changes (its sync period; volumeSyncMs here).
      const { pod } = mounted.downward;
      data = Object.fromEntries(
        (volume.downwardAPI!.items ?? []).map((i) => [i.path, fieldOf(pod, i.fieldRef?.fieldPath ?? '')]),
      );
    } else if (volume.configMap) {
      const cm = await this.#core.readNamespacedConfigMap({ name: volume.configMap.name!, namespace });
      data = cm.data ?? {};
      items = volume.configMap.items;
    } else {
      const secret = await this.#core.readNamespacedSecret({ name: volume.secret!.secretName!, namespace });
      data = Object.fromEntries(
        Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
      );
      items = volume.secret!.items;
    }
    const entries = items
      ? items.map((i) => [i.path, data[i.key] ?? ''] as [string, string])
      : Object.entries(data);
    const files = Object.fromEntries(
      entries.map(([path, content]) => [
        path,
        mounted.pairs.reduce((t, [from, to]) => t.split(from).join(to), content),
      ]),
    );
    const text = JSON.stringify(files);
    if (text === mounted.written) return;
    await writeAtomically(mounted.local, files);
    mounted.written = text;
  }
}

/** A downward-API field path of the pod: names, `metadata.labels['k']`, `metadata.annotations['k']`. */
function fieldOf(pod: V1Pod, path: string): string {
  const keyed = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(path);
  if (keyed) return pod.metadata?.[keyed[1] as 'labels' | 'annotations']?.[keyed[2]!] ?? '';
  const plain: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name,
    'metadata.namespace': pod.metadata?.namespace,
    'metadata.uid': pod.metadata?.uid,
  };
  return plain[path] ?? '';
}

/**
 * A PortRange pod's ports as its grid reads them: the `GRID_*_PORT` lines of its `GRID_PORTS_FILE`
 * (the downward-API file the runner writes), so tests find each server's own listeners.
 */
async function readAssignedPorts(p: GridProcess): Promise<void> {
  const file = p.env.GRID_PORTS_FILE;
  if (!file) return;
  const text = await readText(file).catch(() => '');
  const vars = Object.fromEntries(
    [...text.matchAll(/^(GRID_[A-Z_]+_PORT)=(\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]),
  );
  const set = (key: keyof GridProcess['ports'], name: string) => {
    if (vars[name] !== undefined) p.ports[key] = vars[name];
  };
  set('http', 'GRID_HTTP_PORT');
  set('webrtc', 'GRID_HTTP_WEBRTC_PORT');
  set('quic', 'GRID_QUIC_PORT');
  set('metrics', 'GRID_METRICS_PORT');
}

async function readText(path: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(path, 'utf8');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
