/**
 * Status that tells the truth: a lost access-key Secret (never silently rotated), a missing TLS
 * Secret, a missing keys Secret, pods that cannot be scheduled, each with a reason a user can
 * act on, and Events on creation and on every transition. Also measures the operator's memory
 * with 20 OdinServers (the chart's requests come from it).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { signToken } from '../../common/auth/index.ts';
import type { OdinServer } from '../../operator/api/types.ts';
import { waitUntil } from '../cluster/index.ts';
import { type Harness, startHarness } from './harness.ts';

describe('status that tells the truth', () => {
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

  const waitCondition = (ns: string, name: string, type: string, status: string, timeoutMs = 60_000) =>
    waitUntil(
      `${type}=${status}`,
      async () => {
        const s = await h.read(ns, name);
        const c = h.condition(s, type);
        return c?.status === status ? { server: s, condition: c } : undefined;
      },
      { timeoutMs },
    ).catch((e: Error) => {
      throw h.explain(e);
    });

  test('a deleted access-key Secret is never regenerated: tokens signed with the key keep working', async () => {
    const ns = await h.cluster.newNamespace('keys');
    const ca = await h.tlsSecret(ns);
    h.runner(ns, 'voice');
    await h.apply(
      h.odin(ns, 'voice', {
        replicas: 1,
        tls: { secretName: 'grid-tls' },
        config: { supervisor: { report_interval: 500 } },
      }),
    );
    await waitUntil(
      'the server reports',
      async () => (await h.read(ns, 'voice')).status?.servers?.find((s) => s.reporting),
      { timeoutMs: 90_000 },
    ).catch((e: Error) => {
      throw h.explain(e);
    });
    const created = await h.events(ns, 'Created');
    assert.ok(
      created.some((e) => e.message === 'created Deployment/voice'),
      `a Created event per child: ${JSON.stringify(created)}`,
    );
    const accessKey = await h.accessKey(ns, 'voice');
    const podsBefore = (await h.pods(ns, 'voice')).map((p) => p.metadata?.name);
    const cmBefore = await h.core.readNamespacedConfigMap({ name: 'voice-config', namespace: ns });

    await h.core.deleteNamespacedSecret({ name: 'voice-access-key', namespace: ns });
    const { condition } = await waitCondition(ns, 'voice', 'SecretsReady', 'False');
    assert.equal(condition.reason, 'AccessKeySecretMissing');
    assert.match(condition.message, /the servers keep the key they have/);
    await waitUntil('a Warning event', async () =>
      (await h.events(ns, 'AccessKeySecretMissing')).some((e) => e.type === 'Warning'),
    );
    await assert.rejects(
      h.core.readNamespacedSecret({ name: 'voice-access-key', namespace: ns }),
      (e: unknown) => (e as { code?: number }).code === 404,
      'no new key was generated',
    );
    const cmAfter = await h.core.readNamespacedConfigMap({ name: 'voice-config', namespace: ns });
    assert.equal(cmAfter.metadata?.resourceVersion, cmBefore.metadata?.resourceVersion, 'config unchanged');
    assert.deepEqual(
      (await h.pods(ns, 'voice')).map((p) => p.metadata?.name),
      podsBefore,
      'no pod rolled',
    );
    // The game backend still has the key: Connect and the server both accept its tokens.
    const placed = await h.connect(ns, 'voice', accessKey, 'lobby', 'alice');
    const alice = await h.join(placed.address, placed.token, 'lobby', ca);
    const direct = await h.join(
      placed.address,
      await signToken(accessKey, { rid: 'lobby', uid: 'bob' }),
      'lobby',
      ca,
    );
    assert.ok(alice.main.isOpen && direct.main.isOpen);

    // Restoring the Secret with the key makes the fleet whole again.
    await h.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'voice-access-key' }, stringData: { accessKey } },
    });
    await waitCondition(ns, 'voice', 'SecretsReady', 'True');
  });

  test('a missing TLS Secret, a missing keys Secret and unschedulable pods each say what is wrong', async () => {
    const ns = await h.cluster.newNamespace('truth');
    await h.apply(h.odin(ns, 'notls', { replicas: 1, tls: { secretName: 'absent-tls' } }));
    await h.apply(
      h.odin(ns, 'nokeys', { replicas: 1, authorization: { accessKeysSecretRef: { name: 'absent-keys' } } }),
    );
    await h.apply(
      h.odin(ns, 'nowhere', { replicas: 1, pod: { nodeSelector: { 'example.com/pool': 'none' } } }),
    );

    const tls = await waitCondition(ns, 'notls', 'SecretsReady', 'False');
    assert.equal(tls.condition.reason, 'TLSSecretMissing');
    assert.match(tls.condition.message, /absent-tls \(spec\.tls\.secretName\) does not exist/);
    assert.equal(h.condition(tls.server, 'Degraded')?.status, 'True');

    const keys = await waitCondition(ns, 'nokeys', 'ConfigValid', 'False');
    assert.match(keys.condition.message, /Secret .*\/absent-keys does not exist; create it/);
    assert.equal(h.condition(keys.server, 'SecretsReady')?.reason, 'AccessKeysSecretMissing');

    const nowhere = await waitCondition(ns, 'nowhere', 'Degraded', 'True', 90_000);
    assert.equal(nowhere.condition.reason, 'Unschedulable');
    assert.match(nowhere.condition.message, /cannot be scheduled: nowhere-.*node/);
    assert.equal(h.condition(nowhere.server, 'Progressing')?.status, 'True');
    const events = await h.events(ns, 'Unschedulable');
    assert.ok(
      events.some((e) => e.type === 'Warning'),
      'a Warning event on the transition',
    );
  });

  test('operator memory with 20 OdinServers (printed; the chart requests follow it)', async () => {
    const ns = await h.cluster.newNamespace('many');
    const names = Array.from({ length: 20 }, (_, i) => `fleet-${i}`);
    // LoadBalancer mode: no host ports, so 40 pods fit on 3 nodes (HostPort allows one per node).
    for (const name of names)
      await h.apply(h.odin(ns, name, { replicas: 2, networking: { mode: 'LoadBalancer' } }));
    await waitUntil(
      'every OdinServer Ready',
      async () => {
        const list = (await h.custom.listNamespacedCustomObject({
          group: 'odin-grid.io',
          version: 'v1alpha1',
          namespace: ns,
          plural: 'odinservers',
        })) as { items: OdinServer[] };
        return list.items.filter((s) => h.condition(s, 'Ready')?.status === 'True').length === names.length;
      },
      { timeoutMs: 300_000 },
    );
    const status = readFileSync(`/proc/${h.operator.child.pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    const rss = Math.round(kb('VmRSS') / 1024);
    const peak = Math.round(kb('VmHWM') / 1024);
    process.stderr.write(
      `[operator e2e] operator RSS with 20 OdinServers (40 pods): ${rss} MB, peak ${peak} MB\n`,
    );
    assert.ok(peak > 0 && peak < 512, `below the chart's 512Mi limit (peak ${peak} MB)`);
  });
});
