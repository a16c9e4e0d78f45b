/**
 * The operator's own endpoints: `/healthz` (alive), `/readyz` (caches synced; 503 before),
 * `/metrics` (Prometheus, prom-client). `/leader` answers 200 on the leader only, for a
 * Service that fronts the built-in supervisor (docs/operator.md).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'odin_operator_reconciles_total',
    help: 'Reconciles of OdinServers by result (ok, error, invalid).',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly writes = new Counter({
    name: 'odin_operator_writes_total',
    help: 'Writes to the API server by kind (a no-op reconcile writes nothing).',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'odin_operator_queue_depth',
    help: 'Keys waiting.',
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'odin_operator_leader',
    help: '1 on the leader.',
    registers: [this.registry],
  });
  /** Set by main: how many grid servers currently report (read at scrape time). */
  countSupervisedServers: () => number = () => 0;
  readonly supervisorServers: Gauge = new Gauge({
    name: 'odin_operator_supervised_servers',
    help: 'Grid servers reporting to the built-in supervisor (heard from within 7.5 s).',
    registers: [this.registry],
    collect: (): void => {
      this.supervisorServers.set(this.countSupervisedServers());
    },
  });
  /** Set by the controller: Secrets held in its caches (read at scrape time). */
  countCachedSecrets: () => number = () => 0;
  readonly cachedSecrets: Gauge = new Gauge({
    name: 'odin_operator_cached_secrets',
    help: "Secrets in the operator's caches: its own and those OdinServers name, no others.",
    registers: [this.registry],
    collect: (): void => {
      this.cachedSecrets.set(this.countCachedSecrets());
    },
  });
}

export async function startHealthServer(params: {
  host: string;
  port: number;
  metrics: OperatorMetrics;
  ready: () => boolean;
  leader: () => boolean;
}): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return res.writeHead(200).end('ok');
    if (path === '/readyz')
      return params.ready() ? res.writeHead(200).end('ready') : res.writeHead(503).end('not ready');
    if (path === '/leader')
      return params.leader() ? res.writeHead(200).end('leader') : res.writeHead(503).end('follower');
    if (path === '/metrics') {
      params.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': params.metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(params.port, params.host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
