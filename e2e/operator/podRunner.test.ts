/**
 * The e2e pod runner behaves as a kubelet would where the operator depends on it: one SIGTERM
 * per deleted pod (so grid drains for its grace period), and pod readiness from grid's own
 * `/readyz` rather than kwok's unconditional Ready.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitUntil } from '../cluster/index.ts';
import { type Harness, startHarness } from './harness.ts';

describe('grid pods on the e2e control plane', () => {
  let h: Harness;
  before(
    async () => {
      h = await startHarness();
      await h.startOperator();
    },
    { timeout: 60 * 60_000 },
  );
  after(async () => {
    await h?.stop();
  });

  test('a deleted pod drains: its peers keep talking while the replacement comes up, then it exits 0 once empty', async () => {
    const ns = await h.cluster.newNamespace('drain');
    const ca = await h.tlsSecret(ns);
    const runner = h.runner(ns, 'voice');
    await h.apply(
      h.odin(ns, 'voice', {
        replicas: 1,
        tls: { secretName: 'grid-tls' },
        drainGracePeriodSeconds: 120,
        config: { supervisor: { report_interval: 500 } },
      }),
    );
    const first = await waitUntil(
      'the server reports',
      async () => (await h.read(ns, 'voice')).status?.servers?.find((s) => s.reporting && s.address),
      { timeoutMs: 90_000 },
    ).catch((e: Error) => {
      throw h.explain(e);
    });
    const accessKey = await h.accessKey(ns, 'voice');
    const placed = await h.connect(ns, 'voice', accessKey, 'lobby', 'alice');
    const alice = await h.join(placed.address, placed.token, 'lobby', ca);
    const old = runner.processes.get(first.pod)!;

    await h.core.deleteNamespacedPod({ name: first.pod, namespace: ns });
    await waitUntil(
      'the replacement server reports',
      async () =>
        (await h.read(ns, 'voice')).status?.servers?.find(
          (s) => s.pod !== first.pod && s.reporting && s.ready,
        ),
      { timeoutMs: 90_000 },
    ).catch((e: Error) => {
      throw h.explain(e);
    });
    assert.equal(old.child.exitCode, null, 'the old grid is still draining');
    assert.ok(alice.main.isOpen, "the old server's peer is still connected");

    await alice.close();
    const code = await Promise.race([
      old.exited,
      new Promise((r) => setTimeout(() => r('still running'), 60_000)),
    ]);
    assert.equal(code, 0, 'an empty draining server exits 0');
    assert.ok(
      !old.log.some((l) => l.includes('second signal')),
      `one SIGTERM only:\n${old.log.slice(-10).join('\n')}`,
    );
  });

  test('a pod is Ready only while its grid answers /readyz (kwok alone marks it Ready)', async () => {
    const ns = await h.cluster.newNamespace('ready');
    const runner = h.runner(ns, 'voice');
    await h.apply(h.odin(ns, 'voice', { replicas: 1, config: { supervisor: { report_interval: 500 } } }));
    await waitUntil(
      'Ready=True with a reporting server',
      async () => {
        const s = await h.read(ns, 'voice');
        return h.condition(s, 'Ready')?.status === 'True' && s.status?.servers?.[0]?.reporting;
      },
      { timeoutMs: 90_000 },
    ).catch((e: Error) => {
      throw h.explain(e);
    });
    const [pod] = await h.pods(ns, 'voice');
    const grid = runner.processes.get(pod!.metadata!.name!)!;
    // The process dies without the pod going (a crash): the pod must not stay Ready.
    process.kill(-grid.pid, 'SIGKILL');
    const s = await waitUntil(
      'Ready=False',
      async () => {
        const s = await h.read(ns, 'voice');
        return h.condition(s, 'Ready')?.status === 'False' ? s : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(s.status?.readyReplicas, 0);
    const [after] = await h.pods(ns, 'voice');
    assert.equal(after?.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False');
  });
});
