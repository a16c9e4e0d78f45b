/**
 * Renewed certificates under the operator: the TLS Secret is mounted whole (a `subPath` mount
 * never sees an update), and its content is no input of the config hash, so a renewal rolls no
 * pod; the servers reload the files (docs/operator.md).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Deployment } from '@kubernetes/client-node';
import { generateAccessKey } from '../../common/auth/index.ts';
import { TLS_DIR } from '../../operator/render/config.ts';
import { renderChildren } from '../../operator/render/index.ts';
import { CONFIG_HASH_ANNOTATION } from '../../operator/render/labels.ts';
import { odinServer } from './helpers.ts';

const accessKey = generateAccessKey();
const render = (spec: Record<string, unknown>) => {
  const rendered = renderChildren({
    server: odinServer(spec),
    accessKeys: { accessKey },
    supervisorSecret: { password: 'pw', masterKey: Buffer.alloc(32, 1).toString('base64') },
    deploymentReplicas: 1,
    supervisorUrl: 'http://odin-operator.odin-system:7000',
    pods: [],
  });
  assert.deepEqual(rendered.errors, []);
  return rendered;
};

test('the TLS Secret is mounted as a directory, without subPath or items, read-only', () => {
  const rendered = render({ tls: { secretName: 'voice-tls' }, config: { quic: {} } });
  const pod = (rendered.objects.find((o) => o.kind === 'Deployment') as V1Deployment).spec!.template.spec!;
  const volume = pod.volumes!.find((v) => v.secret?.secretName === 'voice-tls');
  assert.ok(volume, 'a Secret volume');
  assert.equal(volume.secret!.items, undefined, 'the whole Secret: tls.crt and tls.key swap together');
  const mount = pod.containers[0]!.volumeMounts!.find((m) => m.name === volume.name);
  assert.deepEqual([mount?.mountPath, mount?.subPath, mount?.readOnly], [TLS_DIR, undefined, true]);
  for (const section of ['http', 'quic']) {
    assert.match(
      rendered.configToml,
      new RegExp(`\\[${section}\\][^[]*certificate_file = "${TLS_DIR}/tls.crt"`),
    );
  }
});

test('the config hash names the TLS Secret, not its content: a renewal rolls nothing', () => {
  const hash = (spec: Record<string, unknown>) =>
    (render(spec).objects.find((o) => o.kind === 'Deployment') as V1Deployment).spec!.template.metadata!
      .annotations![CONFIG_HASH_ANNOTATION];
  // renderChildren takes no TLS content at all; only another Secret name changes the hash.
  assert.equal(hash({ tls: { secretName: 'voice-tls' } }), hash({ tls: { secretName: 'voice-tls' } }));
  assert.notEqual(hash({ tls: { secretName: 'voice-tls' } }), hash({ tls: { secretName: 'other-tls' } }));
});
