/**
 * Conversation-safe rollouts: a config change replaces a server that has a conversation only
 * once it is over; new rooms go to the new config, joins to the old room still land on the old
 * server. drainGracePeriodSeconds is 2 s here, so a plain rollout would cut the room at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitUntil } from '../cluster/index.ts';
import { type Harness, startHarness } from './harness.ts';

describe('conversation-safe rollouts', () => {
  let h: Harness;
  before(
    async () => {
      // HostPort: one grid per node; the held server, its replacement and a surge pod need 3.
      h = await startHarness({ nodes: 4 });
      await h.startOperator();
    },
    { timeout: 60 * 60_000 },
  );
  after(async () => {
    await h?.stop();
  });

  test('a config rollout keeps the old server until its room is empty; new rooms go to the new config', async () => {
    const ns = await h.cluster.newNamespace('rollout');
    const ca = await h.tlsSecret(ns);
    const runner = h.runner(ns, 'voice');
    await h.apply(
      h.odin(ns, 'voice', {
        replicas: 1,
        tls: { secretName: 'grid-tls' },
        drainGracePeriodSeconds: 2,
        config: { limit: { max_peers: 50 }, supervisor: { report_interval: 500 } },
      }),
    );
    const old = await waitUntil(
      'the server reports',
      async () => (await h.read(ns, 'voice')).status?.servers?.find((s) => s.reporting && s.address),
      { timeoutMs: 90_000 },
    ).catch((e: Error) => {
      throw h.explain(e);
    });
    const accessKey = await h.accessKey(ns, 'voice');
    const placed = await h.connect(ns, 'voice', accessKey, 'lobby', 'alice');
    const alice = await h.join(placed.address, placed.token, 'lobby', ca);
    await waitUntil('the room is reported', async () => (await h.read(ns, 'voice')).status?.peers === 1);

    await h.patchSpec(ns, 'voice', { config: { limit: { max_peers: 60 } } });
    const fresh = await waitUntil(
      'the new server reports, the old one is held',
      async () => {
        const servers = (await h.read(ns, 'voice')).status?.servers ?? [];
        const held = servers.find((s) => s.pod === old.pod && s.draining);
        const fresh = servers.find((s) => s.pod !== old.pod && s.reporting && s.ready);
        return held && fresh ? fresh : undefined;
      },
      { timeoutMs: 120_000 },
    ).catch(async (e: Error) => {
      const events = await h.core.listNamespacedEvent({ namespace: ns });
      const lines = events.items.map(
        (x) => `${x.reason} ${x.involvedObject.kind}/${x.involvedObject.name}: ${x.message}`,
      );
      throw h.explain(new Error(`${e.message}\n--- events\n${lines.join('\n')}`));
    });
    // The held server is extra: replicas counts the Deployment's servers only.
    await waitUntil('the Deployment rolled; one server held', async () => {
      const st = await h.read(ns, 'voice');
      const progressing = h.condition(st, 'Progressing');
      return (
        st.status?.replicas === 1 &&
        progressing?.status === 'True' &&
        progressing.reason === 'HeldForConversations'
      );
    });
    // Longer than drainGracePeriodSeconds: a SIGTERM drain would have ended the room by now.
    await new Promise((r) => setTimeout(r, 5000));
    assert.ok(alice.main.isOpen, 'the conversation on the old server goes on');
    assert.equal(runner.processes.get(old.pod)?.child.exitCode, null);
    // New rooms go to the new config; the old room stays where it is (not split).
    assert.equal((await h.connect(ns, 'voice', accessKey, 'new-room', 'carol')).address, fresh.address);
    const bobPlaced = await h.connect(ns, 'voice', accessKey, 'lobby', 'bob');
    assert.equal(bobPlaced.address, old.address);
    const bob = await h.join(bobPlaced.address, bobPlaced.token, 'lobby', ca);
    // One hold event (the Progressing condition's transition has the same reason).
    const held = (await h.events(ns, 'HeldForConversations')).filter((e) => e.message.startsWith('server '));
    assert.equal(held.length, 1, JSON.stringify(held));

    // The conversation ends: the old server goes.
    await alice.close();
    await bob.close();
    const exited = await Promise.race([
      runner.processes.get(old.pod)!.exited,
      new Promise((r) => setTimeout(() => r('still running'), 60_000)),
    ]);
    assert.equal(exited, 0);
    await waitUntil(
      'only the new server left',
      async () => {
        const st = await h.read(ns, 'voice');
        return st.status?.servers?.length === 1 && st.status.servers[0]?.pod === fresh.pod;
      },
      { timeoutMs: 60_000 },
    );
    assert.ok((await h.events(ns, 'Replaced')).some((e) => /conversations ended/.test(e.message)));
  });
});
