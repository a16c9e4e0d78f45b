/**
 * The embedded development default: what `grid` runs when no config.toml is present.
 *
 * Everything it generates lives in one folder (`.grid-dev/` in the working directory, git-
 * ignored) and is reused on the next start, so tokens minted for the dev key and the
 * certificate hash a browser was given stay valid across restarts. The certificate is
 * renewed when it has less than a day left.
 *
 * It listens on loopback only: a dev server with a generated key must not be reachable from
 * the network by accident.
 *
 * `[quic]` needs the native QUIC addon. On a machine where `npm install` could not build it
 * (Node and npm only), the default leaves `[quic]` out and run.ts says why and how to build it,
 * so `npm install && npm start` still serves `[http]` (web clients, and native clients over
 * WebTransport on HTTP/2) anywhere; a config file with `[quic]` refuses to start instead
 * (docs/native-quic.md).
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { accessKeyToJwk, generateAccessKey, jwkToTomlSection } from '../../common/auth/index.ts';
import { certificateHash, certificateRemainingMs, createDevCertificate } from './certificate.ts';

export const defaultDevDirectory = '.grid-dev';

export const devPorts = { http: 4433, quic: 4433, webrtc: 8844, metrics: 9000 } as const;

export type DevEnvironment = {
  directory: string;
  /** config.toml text; loaded through the same loader as a user's file. */
  configText: string;
  /** What the config text is called in error messages. */
  configSource: string;
  accessKey: string;
  certificateFile: string;
  privateKeyFile: string;
  certificateSha256: string;
  /** Why the native QUIC addon cannot be used, when the default leaves `[quic]` out. */
  quicMissing?: string;
};

const RENEW_BEFORE_MS = 86_400_000;

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function writeSecret(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
}

/** Creates or reuses the dev folder's certificate and access key. */
export async function prepareDevEnvironment(
  directory: string = defaultDevDirectory,
  now: Date = new Date(),
  /** Why the native QUIC addon cannot be used here (effectiveConfig.ts passes assembly's check). */
  nativeProblem: () => string | undefined = () => undefined,
): Promise<DevEnvironment> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const certificateFile = join(directory, 'certificate.pem');
  const privateKeyFile = join(directory, 'private-key.pem');
  const accessKeyFile = join(directory, 'access-key');

  let certificatePem = await readIfExists(certificateFile);
  if (certificatePem === undefined || certificateRemainingMs(certificatePem, now) < RENEW_BEFORE_MS) {
    const fresh = await createDevCertificate(['localhost', '127.0.0.1', '::1'], now);
    await writeSecret(privateKeyFile, fresh.privateKeyPem);
    await writeFile(certificateFile, fresh.certificatePem);
    certificatePem = fresh.certificatePem;
  }

  let accessKey = (await readIfExists(accessKeyFile))?.trim();
  if (!accessKey) {
    accessKey = generateAccessKey();
    await writeSecret(accessKeyFile, `${accessKey}\n`);
  }

  const certificatePath = relative(process.cwd(), certificateFile) || certificateFile;
  const privateKeyPath = relative(process.cwd(), privateKeyFile) || privateKeyFile;
  const quicMissing = nativeProblem();
  return {
    directory,
    configText: devConfigText({
      accessKey,
      certificateFile: certificatePath,
      privateKeyFile: privateKeyPath,
      quic: quicMissing === undefined,
    }),
    configSource: '<embedded development default>',
    accessKey,
    certificateFile: certificatePath,
    privateKeyFile: privateKeyPath,
    certificateSha256: certificateHash(certificatePem),
    ...(quicMissing === undefined ? {} : { quicMissing }),
  };
}

export function devConfigText(input: {
  accessKey: string;
  certificateFile: string;
  privateKeyFile: string;
  /** Include `[quic]` (it needs the native addon). Default true. */
  quic?: boolean;
}): string {
  const tls = `certificate_file = ${JSON.stringify(input.certificateFile)}\nprivatekey_file = ${JSON.stringify(input.privateKeyFile)}`;
  return `# The embedded development default of ODIN Grid (loopback only).
public_address = "localhost"

[authorization]
allow_unsigned = false

${jwkToTomlSection(accessKeyToJwk(input.accessKey)).trim()}

[http]
binding = "127.0.0.1:${devPorts.http}"
${tls}
webrtc_binding = "127.0.0.1:${devPorts.webrtc}"
webrtc_candidates = ["127.0.0.1"]

${
  input.quic === false
    ? '# No [quic]: the native QUIC addon is not built here (docs/native-quic.md).'
    : `[quic]\nbinding = "127.0.0.1:${devPorts.quic}"\n${tls}`
}

[metrics]
binding = "127.0.0.1:${devPorts.metrics}"
allowed = ["127.0.0.0/8", "::1/128"]
`;
}
