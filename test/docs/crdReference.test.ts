import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  crdFilePath,
  END_MARKER,
  generatedOperatorDoc,
  operatorDocPath,
  renderCrdReference,
  START_MARKER,
  withCrdReference,
} from '../../docs/generate-crd-reference.ts';

const crdText = readFileSync(crdFilePath, 'utf8');

test('the CRD reference in docs/operator.md is not stale (node docs/generate-crd-reference.ts --write)', () => {
  assert.equal(
    readFileSync(operatorDocPath, 'utf8'),
    generatedOperatorDoc(),
    'run: node docs/generate-crd-reference.ts --write',
  );
});

test('the reference is deterministic', () => {
  assert.equal(renderCrdReference(crdText), renderCrdReference(crdText));
});

test('the reference lists nested spec and status fields, defaults, enums, bounds and CEL messages', () => {
  const section = renderCrdReference(crdText);
  for (const s of [
    '| `spec.networking.publicAddress.source` | string | `HostIP` | one of `HostIP`, `PodIP`, `Template` |',
    '| `spec.replicas` | integer | `1` | 0 … 1000 |',
    '`spec.config.http.webrtc_candidates` | []string',
    '`spec.pod.nodeSelector` | map[string]string',
    '`status.conditions[].lastTransitionTime` | string (date-time)',
    'list map keyed by `pod`',
    'mode External needs external.url',
    'minReplicas must be <= maxReplicas',
    'publicAddress.source Template needs publicAddress.template (reported at `spec.networking.publicAddress.template`)',
  ]) {
    assert.ok(section.includes(s), s);
  }
});

test('without markers the section goes right after "## The resource"; with them it is replaced in place', () => {
  const section = `${START_MARKER}\n## CRD reference\n\nx\n${END_MARKER}\n`;
  const doc = '# T\n\n## The resource\n\ntext\n\n## What it renders\n\nmore\n';
  const inserted = withCrdReference(doc, section);
  assert.equal(inserted, `# T\n\n## The resource\n\ntext\n\n${section}\n## What it renders\n\nmore\n`);
  const replaced = withCrdReference(inserted, section.replace('x', 'y'));
  assert.equal(replaced, inserted.replace('\nx\n', '\ny\n'));
  assert.equal(withCrdReference(replaced, section), inserted);
});

test('--check passes on the committed file', () => {
  const out = execFileSync(process.execPath, ['docs/generate-crd-reference.ts', '--check'], {
    cwd: new URL('../..', import.meta.url),
    encoding: 'utf8',
  });
  assert.match(out, /up to date/);
});
