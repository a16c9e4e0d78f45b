/**
 * The webrtc port over TCP (ICE-TCP for web clients behind networks that block UDP,
 * docs/networking.md) on a real control plane: the API server accepts the rendered objects (two
 * container ports of one number and two protocols, a mixed-protocol LoadBalancer Service), the
 * scheduler keeps the TCP host port free on a node, and the CRD's CEL rule refuses
 * `webrtc_enforce_tcp` with the TCP port turned off.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitUntil } from '../cluster/index.ts';
import { type Harness, startHarness } from './harness.ts';

describe('the webrtc port over TCP', () => {
  let h: Harness;
  before(
    async () => {
      // One node: two HostPort fleets either share it or cannot.
      h = await startHarness({ nodes: 1 });
      await h.startOperator();
    },
    { timeout: 60 * 60_000 },
  );
  after(async () => {
    await h?.stop();
  });

  const ready = (ns: string, name: string) =>
    waitUntil(`${name} Ready`, async () => h.condition(await h.read(ns, name), 'Ready')?.status === 'True', {
      timeoutMs: 90_000,
    }).catch((e: Error) => {
      throw h.explain(e);
    });

  test('HostPort: the webrtc host port is taken on TCP too, so a fleet whose TCP port is that number cannot share the node', async () => {
    const ns = await h.cluster.newNamespace('hostport');
    // UDP only: another fleet's http (TCP) port may be its webrtc number on the same node.
    await h.apply(h.odin(ns, 'quiet', { replicas: 1, networking: { webrtcTcp: false } }));
    await h.apply(
      h.odin(ns, 'lobby', {
        replicas: 1,
        networking: { ports: { http: 8844, webrtc: 8845, metrics: 9001 } },
      }),
    );
    await ready(ns, 'quiet');
    await ready(ns, 'lobby');
    // The default: UDP and TCP. A fleet whose http port is that number no longer fits.
    await h.apply(h.odin(ns, 'voice', { replicas: 1, networking: { ports: { http: 4434, webrtc: 8850 } } }));
    await ready(ns, 'voice');
    const [pod] = await h.pods(ns, 'voice');
    assert.deepEqual(
      pod!
        .spec!.containers[0]!.ports!.filter((p) => p.containerPort === 8850)
        .map((p) => [p.protocol, p.hostPort]),
      [
        ['UDP', 8850],
        ['TCP', 8850],
      ],
    );
    await h.apply(
      h.odin(ns, 'party', {
        replicas: 1,
        networking: { ports: { http: 8850, webrtc: 8851, metrics: 9002 } },
      }),
    );
    const degraded = await waitUntil(
      'party Unschedulable',
      async () => {
        const c = h.condition(await h.read(ns, 'party'), 'Degraded');
        return c?.status === 'True' && c.reason === 'Unschedulable' ? c : undefined;
      },
      { timeoutMs: 90_000 },
    ).catch((e: Error) => {
      throw h.explain(e);
    });
    assert.match(degraded.message, /free ports/);
  });

  test("LoadBalancer: each pod's Service carries the webrtc port on UDP and TCP", async () => {
    const ns = await h.cluster.newNamespace('lb');
    await h.apply(h.odin(ns, 'voice', { replicas: 1, networking: { mode: 'LoadBalancer' } }));
    const [pod] = await waitUntil('the pod', async () => {
      const pods = await h.pods(ns, 'voice');
      return pods.length > 0 ? pods : undefined;
    });
    const name = pod!.metadata!.name!;
    const service = await waitUntil(
      `Service ${name}`,
      () => h.core.readNamespacedService({ name, namespace: ns }).catch(() => undefined),
      { timeoutMs: 60_000 },
    ).catch((e: Error) => {
      throw h.explain(e);
    });
    assert.equal(service.spec?.type, 'LoadBalancer');
    assert.deepEqual(
      service.spec!.ports!.map((p) => [p.name, p.protocol, p.port]),
      [
        ['http', 'TCP', 4433],
        ['webrtc', 'UDP', 8844],
        ['webrtc-tcp', 'TCP', 8844],
      ],
    );
  });

  test('the CRD refuses webrtc_enforce_tcp with webrtcTcp false, naming the field', async () => {
    const ns = await h.cluster.newNamespace('cel');
    await assert.rejects(
      h.objects.create(
        h.odin(ns, 'tcp-only', {
          networking: { webrtcTcp: false },
          config: { http: { webrtc_enforce_tcp: true } },
        }),
      ),
      (e: Error) =>
        /spec\.networking\.webrtcTcp/.test(e.message) && /needs networking\.webrtcTcp/.test(e.message),
    );
  });
});
