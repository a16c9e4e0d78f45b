import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstDrift, quantityValue } from '../../operator/controller/drift.ts';

const deployment = () => ({
  metadata: { name: 'voice', labels: { a: '1' }, annotations: { h: 'x' } },
  spec: {
    replicas: 2,
    template: {
      metadata: { annotations: { 'odin-grid.io/config-hash': 'abc' } },
      spec: {
        containers: [
          {
            name: 'grid',
            image: 'grid:1',
            args: ['--config', '/etc/odin/config/config.toml'],
            env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
            resources: { requests: { cpu: '500m', memory: '1Gi' } },
          },
        ],
      },
    },
  },
});

test('what the API server and others add is not drift', () => {
  const stored = deployment() as ReturnType<typeof deployment> & Record<string, unknown>;
  stored.metadata.labels = { a: '1', extra: 'y' } as never;
  const c = stored.spec.template.spec.containers[0]! as Record<string, unknown>;
  c.terminationMessagePath = '/dev/termination-log';
  (c.env as { valueFrom: { fieldRef: Record<string, string> } }[])[0]!.valueFrom.fieldRef.apiVersion = 'v1';
  (stored.spec.template.metadata.annotations as Record<string, string>)['kubectl.kubernetes.io/restartedAt'] =
    'now';
  c.resources = { requests: { cpu: '0.5', memory: '1073741824' } };
  stored.spec.template.spec.containers.push({ name: 'sidecar', image: 'x' } as never);
  assert.equal(firstDrift(deployment(), stored), undefined);
});

test('a changed field the operator sets is drift, named by its path', () => {
  const image = deployment();
  image.spec.template.spec.containers[0]!.image = 'foreign:1';
  assert.equal(firstDrift(deployment(), image), 'spec.template.spec.containers[grid].image');
  const replicas = deployment();
  replicas.spec.replicas = 5;
  assert.equal(firstDrift(deployment(), replicas), 'spec.replicas');
  const args = deployment();
  args.spec.template.spec.containers[0]!.args = ['--config', '/tmp/other.toml'];
  assert.equal(firstDrift(deployment(), args), 'spec.template.spec.containers[grid].args');
  const removed = deployment() as Record<string, unknown>;
  delete (removed.metadata as Record<string, unknown>).annotations;
  assert.equal(firstDrift(deployment(), removed), 'metadata.annotations');
  const renamed = deployment();
  renamed.spec.template.spec.containers[0]!.name = 'other';
  assert.equal(firstDrift(deployment(), renamed), 'spec.template.spec.containers[grid]');
});

test('quantities compare by value', () => {
  assert.equal(quantityValue('500m'), 0.5);
  assert.equal(quantityValue('1Gi'), 2 ** 30);
  assert.equal(quantityValue('1e3'), 1000);
  assert.equal(quantityValue('2k'), 2000);
  assert.equal(quantityValue('lots'), undefined);
  const stored = deployment();
  stored.spec.template.spec.containers[0]!.resources.requests.cpu = '600m';
  assert.equal(
    firstDrift(deployment(), stored),
    'spec.template.spec.containers[grid].resources.requests.cpu',
  );
});
