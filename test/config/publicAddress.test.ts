import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText, publicAddressFor } from '../../server/config/index.ts';

const config = (text: string) => parseConfigText(text, { source: 'test.toml' });

test('a listener announces public_address with its own binding port when public_address has none', () => {
  const c = config(
    'public_address = "voice.example.com"\n[http]\nbinding = "0.0.0.0:4433"\n[quic]\nbinding = "0.0.0.0:4434"\n',
  );
  assert.equal(publicAddressFor(c, 'http'), 'voice.example.com:4433');
  assert.equal(publicAddressFor(c, 'quic'), 'voice.example.com:4434');
});

test('a port in public_address wins over the binding port (port mapping in front of the server)', () => {
  const c = config('public_address = "voice.example.com:443"\n[http]\nbinding = "0.0.0.0:4433"\n');
  assert.equal(publicAddressFor(c, 'http'), 'voice.example.com:443');
});

test('public_address_override replaces the root address for that listener only', () => {
  const c = config(
    'public_address = "voice.example.com"\n[http]\nbinding = "0.0.0.0:4433"\npublic_address_override = "web.example.com:8443"\n[quic]\nbinding = "[::]:4433"\npublic_address_override = "2001:db8::1"\n',
  );
  assert.equal(publicAddressFor(c, 'http'), 'web.example.com:8443');
  assert.equal(publicAddressFor(c, 'quic'), '[2001:db8::1]:4433');
});
