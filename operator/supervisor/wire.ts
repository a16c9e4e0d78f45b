/**
 * Reading `sfu.Report` params (untrusted: they come over the network) and writing tasks in the
 * gateway's wire shape (ODIN-PROTOCOL.md section 5; common/gateway/protocol.ts reads them).
 */
import {
  durationFromMs,
  type ReportParams,
  type RoomIdWire,
  type RoomReport,
} from '../../common/gateway/protocol.ts';

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function count(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new WireError(`${at}: expected an integer >= 0`);
  return v;
}

export function parseReportParams(v: unknown): ReportParams {
  if (!isObject(v)) throw new WireError('params: expected an object');
  if (typeof v.load !== 'number' || !Number.isFinite(v.load))
    throw new WireError('params.load: expected a number');
  if (!Array.isArray(v.rooms)) throw new WireError('params.rooms: expected an array');
  const rooms: RoomReport[] = v.rooms.map((r, i) => {
    const at = `params.rooms[${i}]`;
    if (!isObject(r)) throw new WireError(`${at}: expected an object`);
    const id = r.id;
    if (!Array.isArray(id) || id.length !== 2 || typeof id[0] !== 'string' || typeof id[1] !== 'string')
      throw new WireError(`${at}.id: expected [namespace, room id]`);
    const age = isObject(r.age) ? r.age : { secs: 0, nanos: 0 };
    return {
      id: [id[0], id[1]] as RoomIdWire,
      customer: typeof r.customer === 'string' ? r.customer : '',
      age: { secs: Number(age.secs) || 0, nanos: Number(age.nanos) || 0 },
      peers: count(r.peers, `${at}.peers`),
    };
  });
  return {
    ...(typeof v.public_endpoint === 'string' ? { public_endpoint: v.public_endpoint } : {}),
    server: 'grid',
    version: typeof v.version === 'string' ? v.version : '',
    load: Math.min(1, Math.max(0, v.load)),
    clients: count(v.clients ?? 0, 'params.clients'),
    rooms,
  };
}

/** A task as the gateway sends it in a report answer. */
export type WireTask =
  | { task: 'RoomClose'; id: RoomIdWire; ban_time: { secs: number; nanos: number } }
  | { task: 'RoomUpdate'; id: RoomIdWire; user_data: number[] }
  | { task: 'RoomBanClient'; id: RoomIdWire; user_id: string; ban_time: { secs: number; nanos: number } }
  | { task: 'RoomSendMessage'; id: RoomIdWire; user_id: string; message: number[] };

export const wireTask = {
  roomClose: (id: RoomIdWire, banMs: number): WireTask => ({
    task: 'RoomClose',
    id,
    ban_time: durationFromMs(banMs),
  }),
  roomUpdate: (id: RoomIdWire, userData: Uint8Array): WireTask => ({
    task: 'RoomUpdate',
    id,
    user_data: [...userData],
  }),
  roomBanClient: (id: RoomIdWire, userId: string, banMs: number): WireTask => ({
    task: 'RoomBanClient',
    id,
    user_id: userId,
    ban_time: durationFromMs(banMs),
  }),
  roomSendMessage: (id: RoomIdWire, userId: string, message: Uint8Array): WireTask => ({
    task: 'RoomSendMessage',
    id,
    user_id: userId,
    message: [...message],
  }),
};
