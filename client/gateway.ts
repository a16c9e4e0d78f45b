/**
 * The gateway `Connect` call (JSON-RPC 2.0 over HTTPS), as the web SDK makes it: which server
 * hosts the token's room, and the token to present there.
 */
import { request } from 'node:https';

export type ConnectResult = { address: string; token: string };

export async function gatewayConnect(
  gatewayUrl: string,
  token: string,
  options: { ca?: string | Buffer; insecure?: boolean } = {},
): Promise<ConnectResult> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Connect', params: {} });
  const text = await new Promise<string>((resolve, reject) => {
    const call = request(
      gatewayUrl,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(options.ca === undefined ? {} : { ca: options.ca }),
        rejectUnauthorized: !options.insecure,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        response.on('error', reject);
      },
    );
    call.on('error', reject);
    call.end(body);
  });
  const answer = JSON.parse(text) as { result?: ConnectResult; error?: { message?: string } };
  if (answer.result) return answer.result;
  throw new Error(`gateway Connect failed: ${answer.error?.message ?? text}`);
}
