/** A Reconciler over fake caches, writer and events, with a real supervisor (no pods). */
import { OperatorMetrics } from '../../operator/controller/health.ts';
import { Reconciler, type ReconcilerParams } from '../../operator/controller/reconciler.ts';
import { SupervisorServer } from '../../operator/supervisor/server.ts';
import { FakeEvents, FakeWriter, fakeCaches } from './fakeCaches.ts';
import { noPods } from './podTokens.ts';

export function reconcilerSetup(params: Partial<ReconcilerParams> = {}) {
  const caches = fakeCaches();
  const writer = new FakeWriter(caches);
  const events = new FakeEvents();
  const supervisor = new SupervisorServer({ pods: noPods, isLeader: () => true });
  const reconciler = new Reconciler({
    caches,
    writer,
    events,
    fleets: supervisor,
    metrics: new OperatorMetrics(),
    supervisorUrl: 'http://odin-operator.odin-system:7000',
    now: () => Date.parse('2026-01-01T00:00:00Z'),
    ...params,
  });
  return { caches, writer, events, supervisor, reconciler };
}
