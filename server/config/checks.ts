// Checks the schema cannot express: certificate/key pairs, Ed25519 JWKs whose `d` must match
// `x`, unique key ids, removed values (what to do instead), and (when asked) that referenced files exist and parse. Reporting these
// at load time means a bad deploy fails at start, not at the first client connection.
//
// The checks read the document defensively: they run even when schema validation failed, so
// that all problems come out in one go, and then the shapes are not guaranteed.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { decodeBase64url } from '../../common/auth/base64.ts';
import { publicKeyFromSeed } from '../../common/auth/ed25519.ts';
import type { PathProblem } from './validate.ts';

type Table = Record<string, unknown>;

function table(v: unknown): Table | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Table) : undefined;
}

/** Cross-field checks that need no I/O. */
export function checkDocument(doc: Table): PathProblem[] {
  const problems: PathProblem[] = [];
  // The schema leaves public_address optional because a supervisor may supply it
  // (supervisorSuppliedKeys); a standalone server has nobody else to ask.
  if (doc.public_address === undefined && doc.supervisor === undefined) {
    problems.push({
      path: ['public_address'],
      message: 'missing required key',
      hint: 'set it here or with the environment variable GRID_PUBLIC_ADDRESS (under a [supervisor] it may come from sfu.GridConfig)',
    });
  }
  for (const section of ['quic', 'http'] as const) {
    const s = table(doc[section]);
    if (!s) continue;
    const hasCert = s.certificate_file !== undefined;
    const hasKey = s.privatekey_file !== undefined;
    if (hasCert !== hasKey) {
      const missing = hasCert ? 'privatekey_file' : 'certificate_file';
      problems.push({
        path: [section, missing],
        message: `missing: certificate_file and privatekey_file go together`,
        hint: `set ${section}.${missing} too, or remove both for ${section === 'http' ? 'plain HTTP' : 'a self-signed certificate'}`,
      });
    }
  }
  // The @matrixai/quic engine was removed (issue 17): a config written for it is told what to do
  // instead of only "must be one of".
  if (table(doc.quic)?.engine === 'matrixai') {
    problems.push({
      path: ['quic', 'engine'],
      message:
        '"matrixai" is no longer available: the @matrixai/quic engine was removed, the native engine is the only one',
      hint: 'remove the setting (or set it to "native"); the native engine needs the addon, built by `bash native/quic/setup.sh && npm run build:native` (docs/native-quic.md)',
      supersedesSchema: true,
    });
  }
  problems.push(...checkKeys(table(doc.authorization)?.keys));
  problems.push(...checkSupervisorAuth(table(doc.supervisor) ?? table(doc.provisioning)));
  return problems;
}

/** One way to authenticate to the supervisor: a bearer token file or credentials in the URL. */
function checkSupervisorAuth(supervisor: Table | undefined): PathProblem[] {
  if (typeof supervisor?.token_file !== 'string' || typeof supervisor.url !== 'string') return [];
  let hasCredentials = false;
  try {
    const url = new URL(supervisor.url);
    hasCredentials = url.username !== '' || url.password !== '';
  } catch {
    return []; // the schema reports the URL
  }
  if (!hasCredentials) return [];
  return [
    {
      path: ['supervisor', 'token_file'],
      message: 'set together with credentials in supervisor.url: give one of them',
      hint: 'remove user:password@ from the url, or remove token_file',
    },
  ];
}

function checkKeys(keys: unknown): PathProblem[] {
  if (!Array.isArray(keys)) return [];
  const problems: PathProblem[] = [];
  const kids = new Map<string, number>();
  keys.forEach((raw, i) => {
    const key = table(raw);
    if (!key) return;
    if (typeof key.kid === 'string') {
      const first = kids.get(key.kid);
      if (first !== undefined) {
        problems.push({
          path: ['authorization', 'keys', i, 'kid'],
          message: `duplicate kid ${JSON.stringify(key.kid)}`,
          hint: `also used by keys[${first}]`,
        });
      } else kids.set(key.kid, i);
    }
    const x = typeof key.x === 'string' ? decodeKeyBytes(key.x) : undefined;
    if (typeof key.x === 'string' && !x) {
      problems.push({
        path: ['authorization', 'keys', i, 'x'],
        message: 'not an Ed25519 public key: expected 32 bytes of base64url',
      });
    }
    if (typeof key.d !== 'string') return;
    const d = decodeKeyBytes(key.d);
    if (!d) {
      problems.push({
        path: ['authorization', 'keys', i, 'd'],
        message: 'not an Ed25519 seed: expected 32 bytes of base64url',
      });
      return;
    }
    if (x && !x.equals(publicKeyFromSeed(d))) {
      problems.push({
        path: ['authorization', 'keys', i, 'd'],
        message: 'does not match x: this seed belongs to another public key',
        hint: 'copy x and d from the same `odin-tokens` output',
      });
    }
  });
  return problems;
}

/** Canonical base64url (no padding, RFC 7515 §2) of exactly 32 bytes, else undefined. */
function decodeKeyBytes(s: string): Buffer | undefined {
  const bytes = decodeBase64url(s);
  return bytes?.length === 32 ? Buffer.from(bytes) : undefined;
}

/** Certificates and keys named by the config exist, parse as PEM, and belong together. */
export function checkFiles(doc: Table): PathProblem[] {
  const problems: PathProblem[] = [];
  for (const section of ['quic', 'http'] as const) {
    const s = table(doc[section]);
    if (!s) continue;
    let cert: X509Certificate | undefined;
    if (typeof s.certificate_file === 'string') {
      const path = [section, 'certificate_file'];
      const pem = readText(s.certificate_file, path, problems);
      if (pem !== undefined) {
        try {
          cert = new X509Certificate(pem);
        } catch (e) {
          problems.push({
            path,
            message: `${JSON.stringify(s.certificate_file)} is not a PEM certificate (${errorText(e)})`,
          });
        }
      }
    }
    if (typeof s.privatekey_file === 'string') {
      const path = [section, 'privatekey_file'];
      const pem = readText(s.privatekey_file, path, problems);
      if (pem !== undefined) {
        try {
          const key = createPrivateKey(pem);
          if (cert && !cert.checkPrivateKey(key)) {
            problems.push({
              path,
              message: `${JSON.stringify(s.privatekey_file)} is not the key of ${section}.certificate_file`,
            });
          }
        } catch (e) {
          problems.push({
            path,
            message: `${JSON.stringify(s.privatekey_file)} is not a PEM private key (${errorText(e)})`,
          });
        }
      }
    }
  }
  return problems;
}

function readText(file: string, path: (string | number)[], problems: PathProblem[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : errorText(e);
    problems.push({ path, message: `cannot read ${JSON.stringify(file)}: ${why}` });
    return undefined;
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Required keys this config leaves to its supervisor's `sfu.GridConfig` answer: what `grid check`
 * lists for a supervised config, and what the answer must then supply. `[authorization] keys`
 * is not required (an empty list is valid), but without local keys only the key the supervisor
 * adds lets clients in, so it is listed too.
 */
export function supervisorSuppliedKeys(config: {
  public_address?: string | undefined;
  supervisor?: unknown;
  authorization: { keys: readonly unknown[] };
}): string[] {
  if (config.supervisor === undefined) return [];
  const keys: string[] = [];
  if (config.public_address === undefined) keys.push('public_address');
  if (config.authorization.keys.length === 0) keys.push('authorization.keys');
  return keys;
}
