/**
 * Several grid servers per node (networking.mode PortRange, docs/operator.md): on ONE kwok node,
 * the pods of two OdinServers each get their own host ports from the range, each real grid
 * listens on its own (the runner projects the `odin-grid.io/ports` annotation into the pod's
 * downward-API file as the kubelet does, and grid waits for it), a real client joins every
 * server through `Connect`, a config rollout completes on the occupied node (HostPort would need
 * a free node for the surge pod), and a range too small for the pods is a condition and an Event
 * naming the numbers, which clear once pods go.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { OdinClient } from '../../client/odinClient.ts';
import { PORTS_ANNOTATION } from '../../operator/render/labels.ts';
import { waitUntil } from '../cluster/index.ts';
import type { GridRunner } from './gridRunner.ts';
import { type Harness, startHarness } from './harness.ts';

/** Ports per server here: http, webrtc, metrics (no [quic]). */
const PER_POD = 3;
const RANGE_SIZE = 18; // six servers' worth

/** Whether TCP and UDP `port` are free on `host` (other engineers' tests share this machine). */
async function free(host: string, port: number): Promise<boolean> {
  const tcp = await new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
  if (!tcp) return false;
  return new Promise<boolean>((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

/** A range of RANGE_SIZE ports free on the node's address, below the ephemeral ports. */
async function freeRange(host: string): Promise<{ min: number; max: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const min = 20_000 + Math.floor(Math.random() * 400) * 25;
    let ok = true;
    for (let p = min; p < min + RANGE_SIZE && ok; p++) ok = await free(host, p);
    if (ok) return { min, max: min + RANGE_SIZE - 1 };
  }
  throw new Error('no free port range found');
}

describe('several servers per node (PortRange)', () => {
  let h: Harness;
  let ns: string;
  let ca: string;
  let range: { min: number; max: number };
  let nodeIP: string;
  let chatRunner: GridRunner;
  const spec = (extra: Record<string, unknown> = {}) => ({
    replicas: 2,
    tls: { secretName: 'grid-tls' },
    drainGracePeriodSeconds: 2,
    rolloutConversationTimeoutSeconds: 0,
    networking: { mode: 'PortRange', portRange: range },
    config: { limit: { max_peers: 50 }, supervisor: { report_interval: 500 } },
    ...extra,
  });

  before(
    async () => {
      h = await startHarness({ nodes: 1 });
      await h.startOperator();
      nodeIP = Object.values(h.cluster.nodeAddresses)[0]!;
      range = await freeRange(nodeIP);
      ns = await h.cluster.newNamespace('density');
      ca = await h.tlsSecret(ns);
      h.runner(ns, 'voice');
      chatRunner = h.runner(ns, 'chat');
    },
    { timeout: 60 * 60_000 },
  );
  after(async () => {
    await h?.stop();
  });

  /** The servers of an OdinServer once `count` report with an address. */
  async function reporting(name: string, count: number) {
    return waitUntil(
      `${count} servers of ${name} report`,
      async () => {
        const servers = (await h.read(ns, name)).status?.servers ?? [];
        const ok = servers.filter((s) => s.reporting && s.ready && s.address && !s.draining);
        return ok.length === count && servers.length === count ? ok : undefined;
      },
      { timeoutMs: 180_000 },
    ).catch(async (e: Error) => {
      const events = await h.core.listNamespacedEvent({ namespace: ns });
      const lines = events.items.map((x) => `${x.reason} ${x.involvedObject.name}: ${x.message}`);
      throw h.explain(new Error(`${e.message}\n--- events\n${lines.slice(-30).join('\n')}`));
    });
  }

  /** Clients placed by Connect on every listed server (rooms until each has one). */
  async function joinEach(name: string, addresses: readonly string[]): Promise<Map<string, OdinClient>> {
    const accessKey = await h.accessKey(ns, name);
    const joined = new Map<string, OdinClient>();
    for (let i = 0; i < 60 && joined.size < addresses.length; i++) {
      const room = `${name}-room-${i}`;
      const placed = await h.connect(ns, name, accessKey, room, `user-${i}`);
      if (joined.has(placed.address)) continue;
      joined.set(placed.address, await h.join(placed.address, placed.token, room, ca));
    }
    assert.deepEqual([...joined.keys()].sort(), [...addresses].sort(), 'a client joined every server');
    return joined;
  }

  test('the API server refuses a range smaller than one server, or below 1024', async () => {
    for (const [portRange, message] of [
      [{ min: 7000, max: 7001 }, /portRange must hold at least 3 ports/],
      [{ min: 80, max: 7000 }, /should be greater than or equal to 1024/],
    ] as const) {
      const bad = h.odin(ns, 'bad', { networking: { mode: 'PortRange', portRange } });
      await assert.rejects(h.objects.create(bad), (e: { body?: unknown }) => message.test(String(e.body)));
    }
  });

  test('pods of two OdinServers on one node: each server on its own ports, a client joins each', async () => {
    await h.apply(h.odin(ns, 'voice', spec()));
    await h.apply(h.odin(ns, 'chat', spec()));
    const voice = await reporting('voice', 2);
    const chat = await reporting('chat', 2);
    const all = [...voice, ...chat];
    const pods = [...(await h.pods(ns, 'voice')), ...(await h.pods(ns, 'chat'))];
    assert.equal(new Set(pods.map((p) => p.spec?.nodeName)).size, 1, 'all four on the one node');
    // Each server is announced on the node's address with its own http port from the range.
    const ports = all.map((s) => {
      assert.equal(s.address!.split(':')[0], nodeIP);
      return Number(s.address!.split(':')[1]);
    });
    assert.equal(new Set(ports).size, 4, `distinct ports: ${ports}`);
    for (const p of ports) assert.ok(p >= range.min && p <= range.max, `${p} in ${range.min}-${range.max}`);
    // The pods' annotations hold every port of each; no port is used twice on the node.
    const assigned = pods.flatMap((p) =>
      [...(p.metadata?.annotations?.[PORTS_ANNOTATION] ?? '').matchAll(/=(\d+)/g)].map((m) => Number(m[1])),
    );
    assert.equal(assigned.length, 4 * PER_POD);
    assert.equal(new Set(assigned).size, assigned.length);
    const clients = await joinEach(
      'voice',
      voice.map((s) => s.address!),
    );
    for (const [address, client] of await joinEach(
      'chat',
      chat.map((s) => s.address!),
    ))
      clients.set(address, client);
    await waitUntil('every server reports its peer', async () => {
      const servers = [
        ...((await h.read(ns, 'voice')).status?.servers ?? []),
        ...((await h.read(ns, 'chat')).status?.servers ?? []),
      ];
      return servers.length === 4 && servers.every((s) => (s.peers ?? 0) >= 1);
    });
    for (const c of clients.values()) assert.ok(c.main.isOpen);
    for (const c of clients.values()) await c.close();
  });

  test('a config rollout completes on the occupied node; the other fleet is untouched', async () => {
    const chatBefore = (await h.pods(ns, 'chat')).map((p) => p.metadata!.name!).sort();
    const voiceBefore = new Set((await h.pods(ns, 'voice')).map((p) => p.metadata!.name!));
    await h.patchSpec(ns, 'voice', { config: { limit: { max_peers: 60 } } });
    await waitUntil(
      'the rollout completed',
      async () => {
        const d = await h.apps.readNamespacedDeployment({ name: 'voice', namespace: ns });
        const st = d.status;
        const pods = await h.pods(ns, 'voice');
        return (
          (st?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
          st?.updatedReplicas === 2 &&
          st.readyReplicas === 2 &&
          st.replicas === 2 &&
          pods.length === 2 &&
          pods.every((p) => !voiceBefore.has(p.metadata!.name!))
        );
      },
      { timeoutMs: 240_000 },
    ).catch((e: Error) => {
      throw h.explain(e);
    });
    const voice = await reporting('voice', 2);
    const clients = await joinEach(
      'voice',
      voice.map((s) => s.address!),
    );
    for (const c of clients.values()) await c.close();
    const progressing = h.condition(await h.read(ns, 'voice'), 'Progressing');
    assert.equal(progressing?.status, 'False', JSON.stringify(progressing));
    assert.deepEqual((await h.pods(ns, 'chat')).map((p) => p.metadata!.name!).sort(), chatBefore);
  });

  test('a range too small for the pods: PortsAssigned=False and an Event naming the numbers, cleared when pods go', async () => {
    // voice 2 + chat 5 servers need 21 ports; the range has 18: one chat pod waits.
    await h.patchSpec(ns, 'chat', { replicas: 5 });
    const waiting = await waitUntil(
      'the shortage is reported',
      async () => {
        const c = h.condition(await h.read(ns, 'chat'), 'PortsAssigned');
        return c?.status === 'False' ? c : undefined;
      },
      { timeoutMs: 120_000 },
    );
    assert.equal(waiting.reason, 'PortRangeExhausted');
    assert.match(
      waiting.message,
      new RegExp(
        `1 pod\\(s\\) \\(chat-[^)]+\\) wait for 3 ports each, but portRange ${range.min}-${range.max} \\(18 ports\\) has 0 free there \\(18 in use\\)`,
      ),
    );
    assert.equal(h.condition(await h.read(ns, 'chat'), 'Degraded')?.status, 'True');
    // The operator writes the status first, then the Event: wait for it.
    const events = await waitUntil('the PortRangeExhausted event', async () => {
      const list = await h.events(ns, 'PortRangeExhausted');
      return list.length > 0 ? list : undefined;
    });
    assert.ok(
      events.some((e) => e.type === 'Warning' && e.message.includes(`${range.min}-${range.max}`)),
      JSON.stringify(events),
    );
    // The waiting server runs, but its grid waits for its ports: not ready.
    const pod = /\((chat-[^)]+)\)/.exec(waiting.message)![1]!;
    const waiter = await waitUntil('the waiting pod runs', async () => chatRunner.processes.get(pod));
    assert.equal(waiter.child.exitCode, null);
    assert.equal(waiter.ports.http, undefined);
    assert.notEqual(waiter.ready, true);
    // A voice server goes: its ports come free and reach the waiting pod's file (the kubelet's
    // refresh of a downward-API volume), and that grid starts on them.
    await h.patchSpec(ns, 'voice', { replicas: 1 });
    await waitUntil(
      'ports for every pod again',
      async () => h.condition(await h.read(ns, 'chat'), 'PortsAssigned')?.status === 'True',
      { timeoutMs: 180_000 },
    ).catch((e: Error) => {
      throw h.explain(e);
    });
    const chat = await reporting('chat', 5);
    assert.ok(chat.some((s) => s.pod === pod && s.address === `${nodeIP}:${waiter.ports.http}`));
    assert.ok(waiter.log.some((l) => l.includes("waiting for this server's ports")));
    assert.ok((await h.events(ns, 'Assigned')).some((e) => e.type === 'Normal'));
  });
});
