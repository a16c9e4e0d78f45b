/**
 * A self-signed certificate for development: ECDSA P-256, valid for less than 14 days.
 *
 * Why these choices: Chromium accepts a certificate it cannot chain to a CA only through
 * `WebTransport`'s `serverCertificateHashes`, and only for ECDSA keys with a validity of at
 * most 14 days (W3C WebTransport, "verify a certificate hash"); the hash it wants is SHA-256
 * over the DER encoding, which `certificateHash` returns.
 *
 * Node has no X.509 generator, so `@peculiar/x509` builds the certificate over WebCrypto.
 */
import 'reflect-metadata';
import { createHash, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);

export type DevCertificate = { certificatePem: string; privateKeyPem: string };

const DAY_MS = 86_400_000;
/** 13 days, so the certificate stays under the 14-day limit even with clock skew. */
export const devCertificateLifetimeMs = 13 * DAY_MS;

/** Creates a certificate for `names` (host names and IP addresses, the first is the CN). */
export async function createDevCertificate(
  names: readonly string[],
  now: Date = new Date(),
): Promise<DevCertificate> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: webcrypto
      .getRandomValues(new Uint8Array(8))
      .reduce((hex, b) => hex + b.toString(16).padStart(2, '0'), '7f'),
    name: `CN=${names[0] ?? 'localhost'}`,
    // A minute in the past, so a client whose clock is slightly behind still accepts it.
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + devCertificateLifetimeMs),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.SubjectAlternativeNameExtension(
        names.map((name) => (isIP(name) ? { type: 'ip', value: name } : { type: 'dns', value: name })),
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.BasicConstraintsExtension(false),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return {
    certificatePem: certificate.toString('pem'),
    privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END PRIVATE KEY-----\n`,
  };
}

/** SHA-256 of the certificate's DER, hex: what `serverCertificateHashes` wants. */
export function certificateHash(certificatePem: string): string {
  return createHash('sha256').update(new X509Certificate(certificatePem).raw).digest('hex');
}

/** Milliseconds until the certificate expires (negative once it has). */
export function certificateRemainingMs(certificatePem: string, now: Date = new Date()): number {
  return new X509Certificate(certificatePem).validToDate.getTime() - now.getTime();
}
