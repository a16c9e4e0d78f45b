import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfigText } from '../../server/config/index.ts';
import { MINIMAL, problemsOf, selfSignedCert, tempDir } from './helpers.ts';

const dir = tempDir();
const good = selfSignedCert(dir, 'good');
const other = selfSignedCert(dir, 'other');

function tls(section: 'quic' | 'http', cert: string, key: string): string {
  return `${MINIMAL}[${section}]\ncertificate_file = "${cert}"\nprivatekey_file = "${key}"\n`;
}

test('a real certificate and its key load', () => {
  const config = parseConfigText(tls('quic', good.cert, good.key), { checkFiles: true });
  assert.equal(config.quic?.certificate_file, good.cert);
  assert.equal(config.quic?.privatekey_file, good.key);
});

test('a missing certificate file is reported at load time with its line', () => {
  const missing = join(dir, 'missing.crt');
  const problems = problemsOf(tls('http', missing, good.key), {}, true);
  assert.deepEqual(
    problems.map((p) => [p.path, p.line, p.message]),
    [['http.certificate_file', 3, `cannot read "${missing}": no such file`]],
  );
});

test('an unreadable file (here: a directory) is reported', () => {
  const folder = join(dir, 'a-directory');
  mkdirSync(folder);
  const [p] = problemsOf(tls('quic', good.cert, folder), {}, true);
  assert.equal(p?.path, 'quic.privatekey_file');
  assert.match(p?.message ?? '', /^cannot read ".*a-directory": /);
});

test('files that are not PEM are reported', () => {
  const junk = join(dir, 'junk.pem');
  writeFileSync(junk, 'hello\n');
  const problems = problemsOf(tls('quic', junk, junk), {}, true);
  assert.deepEqual(
    problems.map((p) => p.path),
    ['quic.certificate_file', 'quic.privatekey_file'],
  );
  assert.match(problems[0]?.message ?? '', /is not a PEM certificate/);
  assert.match(problems[1]?.message ?? '', /is not a PEM private key/);
});

test('a key that does not belong to the certificate is reported', () => {
  const [p, ...rest] = problemsOf(tls('http', good.cert, other.key), {}, true);
  assert.equal(rest.length, 0);
  assert.equal(p?.path, 'http.privatekey_file');
  assert.match(p?.message ?? '', /is not the key of http.certificate_file/);
});

test('checkFiles: false skips the file checks', () => {
  assert.doesNotThrow(() => parseConfigText(tls('quic', '/nope.crt', '/nope.key'), { checkFiles: false }));
});

test('parseConfigText checks files only when asked; loadConfig checks them by default', async () => {
  const { loadConfig } = await import('../../server/config/index.ts');
  const text = tls('quic', '/nope.crt', '/nope.key');
  assert.doesNotThrow(() => parseConfigText(text));
  await assert.rejects(
    loadConfig({ path: 'inline.toml', text }),
    /quic.certificate_file: cannot read "\/nope.crt"/,
  );
});
