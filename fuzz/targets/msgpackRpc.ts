/**
 * MessagePack-RPC frames as the server reads them from any client (both listeners): the
 * bounded decoder, the frame shape, and, for requests, the method's param schema. Findings:
 * any exception (decodeRpcFrame and validateParams never throw), and params the schema
 * accepts that then fail to encode in a reply or notification (issue 14, defect 3).
 */

import { ProtocolError } from '../../server/protocol/errors.ts';
import { isMethodName, validateParams } from '../../server/protocol/methods.ts';
import { decodeRpcFrame, encodeMsgpack } from '../../server/protocol/msgpackRpc.ts';

export function fuzz(data: Buffer): void {
  const frame = decodeRpcFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (frame instanceof ProtocolError || frame.type !== 'request') return;
  if (!isMethodName(frame.method)) return;
  const validated = validateParams(frame.method, frame.params);
  if (validated.ok) encodeMsgpack([2, 'PeerUpdated', { params: validated.params }]);
}
