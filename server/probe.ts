#!/usr/bin/env node
/**
 * `grid-probe /readyz | /healthz`: the kubelet's exec probe for pods of the operator's `PortRange`
 * mode (docs/operator.md). Their metrics port is assigned per pod after the pod template was
 * written, so an `httpGet` probe (one port number for every pod of the Deployment) cannot name
 * it; this probe reads it from the pod's own `GRID_PORTS_FILE` and asks `127.0.0.1:<port>`.
 *
 * While no ports are assigned yet the server waits for them (server/cli/portsFile.ts): not
 * ready, but alive, so `/healthz` passes and the kubelet does not restart a waiting server.
 *
 * Deliberately imports nothing of the server: the kubelet runs it every few seconds, and loading
 * the config modules would cost more than the probe itself. Exit 0: healthy; 1: not.
 */
import { readFileSync } from 'node:fs';

const path = process.argv[2] ?? '/readyz';
const file = process.env.GRID_PORTS_FILE;

function metricsPort(): number | undefined {
  if (!file) return undefined;
  let text = '';
  try {
    text = readFileSync(file, 'utf8').slice(0, 4096);
  } catch {
    return undefined;
  }
  const m = /^\s*GRID_METRICS_PORT=(\d{1,5})\s*$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

async function probe(): Promise<number> {
  if (path !== '/readyz' && path !== '/healthz') {
    process.stderr.write(`grid-probe: unknown path ${path}; use /readyz or /healthz\n`);
    return 1;
  }
  const port = metricsPort();
  if (port === undefined) {
    process.stderr.write(`grid-probe: no GRID_METRICS_PORT in ${file ?? '(GRID_PORTS_FILE unset)'} yet\n`);
    return path === '/healthz' && file ? 0 : 1;
  }
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    if (res.status === 200) return 0;
    process.stderr.write(`grid-probe: ${path} answered ${res.status}\n`);
  } catch (error) {
    process.stderr.write(`grid-probe: ${path} on port ${port}: ${(error as Error).message}\n`);
  }
  return 1;
}

process.exitCode = await probe();
