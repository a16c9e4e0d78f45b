// Certificates and keys of a throw-away test cluster, made with the `openssl` CLI:
// a CA, the API server's serving certificate (loopback + the in-cluster names), one client
// certificate per identity, and the service-account signing key pair.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ClientIdentity {
  /** File stem inside the PKI directory: `<name>.crt`, `<name>.key`. */
  name: string;
  /** The user name (certificate CN). */
  user: string;
  /** Groups (certificate O entries). */
  groups?: string[];
}

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  clients: Record<string, { cert: string; key: string }>;
}

const DAYS = '2';
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr || e.message}`);
  }
}

function subject(cn: string, groups: string[] = []): string {
  const esc = (s: string) => s.replace(/[/\\=]/g, (c) => `\\${c}`);
  return groups.map((g) => `/O=${esc(g)}`).join('') + `/CN=${esc(cn)}`;
}

/** Issues a leaf certificate signed by the CA (OpenSSL >= 3.0: `req -x509 -CA`). */
async function issue(
  dir: string,
  name: string,
  subj: string,
  extensions: string[],
): Promise<{ cert: string; key: string }> {
  const ext = extensions.flatMap((e) => ['-addext', e]);
  await openssl(dir, [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    DAYS,
    '-subj',
    subj,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-addext',
    'basicConstraints=critical,CA:FALSE',
    '-addext',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    ...ext,
  ]);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

export async function createPki(dir: string, clients: ClientIdentity[]): Promise<Pki> {
  await openssl(dir, [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    DAYS,
    '-subj',
    '/CN=odin-grid-e2e-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  const sans = [
    'IP:127.0.0.1',
    'IP:10.0.0.1',
    'DNS:localhost',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
  ];
  const saKey = openssl(dir, [
    'genpkey',
    '-algorithm',
    'RSA',
    '-pkeyopt',
    'rsa_keygen_bits:2048',
    '-out',
    'sa.key',
  ]);
  const [server, ...issued] = await Promise.all([
    issue(dir, 'apiserver', subject('kube-apiserver'), [
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${sans.join(',')}`,
    ]),
    ...clients.map((c) => issue(dir, c.name, subject(c.user, c.groups), ['extendedKeyUsage=clientAuth'])),
    saKey,
  ]);
  await openssl(dir, ['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
  const out: Pki['clients'] = {};
  clients.forEach((c, i) => {
    out[c.name] = issued[i] as { cert: string; key: string };
  });
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: server!.cert,
    serverKey: server!.key,
    serviceAccountKey: join(dir, 'sa.key'),
    serviceAccountPub: join(dir, 'sa.pub'),
    clients: out,
  };
}

/** A kubeconfig with the CA and the client certificate embedded (usable by kubectl, helm, client-node). */
export async function writeKubeconfig(
  path: string,
  server: string,
  caPem: string,
  certPem: string,
  keyPem: string,
  user: string,
): Promise<void> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: odin-e2e',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(caPem)}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${b64(certPem)}`,
    `    client-key-data: ${b64(keyPem)}`,
    'contexts:',
    '- name: odin-e2e',
    '  context:',
    '    cluster: odin-e2e',
    `    user: ${user}`,
    'current-context: odin-e2e',
    '',
  ].join('\n');
  await writeFile(path, text, { mode: 0o600 });
}
