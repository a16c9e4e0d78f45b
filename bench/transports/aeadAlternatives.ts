/**
 * What one AES-128-GCM DTLS record costs through each API Node offers, for "one AEAD context per
 * epoch" (docs/performance.md, web path). Node cannot re-IV a `Cipheriv`, so every record needs
 * a new cipher object; WebCrypto has no reusable context either and answers with a promise per
 * call. The ECB row is the keystream part of a hand-written GCM over one reused cipher object
 * (GHASH not included): a lower bound for that route, not a working alternative.
 *
 *   node bench/transports/aeadAlternatives.ts [payload=130] [records=200000]
 */
import { createCipheriv, createSecretKey, randomBytes, webcrypto } from 'node:crypto';

const payload = randomBytes(Number(process.argv[2] ?? 130));
const records = Number(process.argv[3] ?? 200_000);
const key = randomBytes(16);
const keyObject = createSecretKey(key);
const iv = randomBytes(12);
const aad = randomBytes(13);

function perRecordCipher(k: typeof key | typeof keyObject): () => void {
  return () => {
    const cipher = createCipheriv('aes-128-gcm', k, iv, { authTagLength: 16 });
    cipher.setAAD(aad, { plaintextLength: payload.length });
    cipher.update(payload);
    cipher.final();
    cipher.getAuthTag();
  };
}
const ecb = createCipheriv('aes-128-ecb', keyObject, null);
ecb.setAutoPadding(false);
const counterBlocks = Buffer.alloc(16 * Math.ceil((payload.length + 16) / 16));

function cpuPerRecord(name: string, one: () => void, n = records): void {
  for (let i = 0; i < 20_000; i++) one();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) one();
  const cpu = process.cpuUsage(cpu0);
  console.log(`${name.padEnd(52)} ${((cpu.user + cpu.system) / n).toFixed(2)} µs CPU per record`);
}

cpuPerRecord('createCipheriv per record, KeyObject (the patch)', perRecordCipher(keyObject));
cpuPerRecord('createCipheriv per record, Buffer key (werift)', perRecordCipher(key), records / 4);
cpuPerRecord('one reused AES-ECB object: keystream only, no GHASH', () => ecb.update(counterBlocks));
const webKey = await webcrypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt']);
for (const batch of [1, 64]) {
  const n = 50_000;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i += batch) {
    const pending: Promise<ArrayBuffer>[] = [];
    for (let j = 0; j < batch; j++) {
      pending.push(
        webcrypto.subtle.encrypt(
          { name: 'AES-GCM', iv, additionalData: aad, tagLength: 128 },
          webKey,
          payload,
        ),
      );
    }
    await Promise.all(pending);
  }
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `${`WebCrypto encrypt, ${batch} per await`.padEnd(52)} ${((cpu.user + cpu.system) / n).toFixed(2)} µs CPU per record (all threads)`,
  );
}
