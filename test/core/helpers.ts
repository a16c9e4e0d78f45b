/**
 * Test doubles for the core: a fake clock with manual time, a recording Connection, and a
 * small harness that connects clients, joins rooms over real RPC frames and reads back what
 * each connection received (decoded).
 */

import { limitParamsFromConfig } from '../../server/assembly.ts';
import { defaultLimitConfig } from '../../server/config/index.ts';
import type { Client, Grant } from '../../server/core/client.ts';
import type { Clock, TimerHandle } from '../../server/core/clock.ts';
import type { Connection, RpcEndpoint, SignalingRequest } from '../../server/core/connection.ts';
import type { CoreLogger } from '../../server/core/logger.ts';
import { Sfu, type SfuParams } from '../../server/core/sfu.ts';
import { SERVER_MSGPACK_LIMITS } from '../../server/protocol/boundedMsgpack.ts';
import { decodeMsgpack, encodeRequest } from '../../server/protocol/msgpackRpc.ts';

export class FakeClock implements Clock {
  #now = 1000;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + ms, callback });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /** Timers set and not yet run or cleared: a test waits for the code under test to arm one. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward, running due timers in time order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let due: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.#timers)
        if (entry[1].at <= end && (due === undefined || entry[1].at < due[1].at)) due = entry;
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = Math.max(this.#now, due[1].at);
      due[1].callback();
    }
    this.#now = end;
  }
}

type Frame = unknown[];

export class FakeConnection implements Connection {
  static #next = 1;
  readonly id = `fake-${FakeConnection.#next++}`;
  readonly remoteAddress: string;
  readonly frames: Frame[] = [];
  readonly voice: Uint8Array[] = [];
  closedWith: string | undefined;
  /** When true, sendVoice refuses (queue full). */
  voiceFull = false;
  signalCalls: SignalingRequest[] = [];

  constructor(remoteAddress = '127.0.0.1:5000') {
    this.remoteAddress = remoteAddress;
  }

  sendRpc(bytes: Uint8Array): void {
    // What a client reads from a server: deeper than what a server accepts from a client.
    const value = decodeMsgpack(bytes, SERVER_MSGPACK_LIMITS);
    if (!Array.isArray(value)) throw new Error('server sent a non-array frame');
    this.frames.push(value);
  }

  sendVoice(bytes: Uint8Array): boolean {
    if (this.voiceFull) return false;
    this.voice.push(bytes);
    return true;
  }

  close(reason: string): void {
    this.closedWith ??= reason;
  }

  signal(request: SignalingRequest): unknown {
    this.signalCalls.push(request);
    return request.method === 'SetupWebRtc' ? { sdp: 'answer' } : null;
  }

  /** Notifications received, as [method, params], optionally of one method. */
  notifications(method?: string): [string, Record<string, unknown>][] {
    return this.frames
      .filter((f) => f[0] === 2 && (method === undefined || f[1] === method))
      .map((f) => [f[1] as string, f[2] as Record<string, unknown>]);
  }

  /** The `RoomUpdated` updates received, flattened. */
  roomUpdates(): Record<string, unknown>[] {
    return this.notifications('RoomUpdated').flatMap(([, p]) => p.updates as Record<string, unknown>[]);
  }

  /** Responses received, as {msgid, error, result}. */
  responses(): { msgid: number; error: unknown; result: unknown }[] {
    return this.frames
      .filter((f) => f[0] === 1)
      .map((f) => ({ msgid: f[1] as number, error: f[2], result: f[3] }));
  }

  clear(): void {
    this.frames.length = 0;
    this.voice.length = 0;
  }
}

export type LogRecord = { level: string; fields: Record<string, unknown>; message: string };

export function recordingLogger(): CoreLogger & { records: LogRecord[] } {
  const records: LogRecord[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => {
    records.push({ level, fields, message });
  };
  return { records, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Token format of the fake authenticator: `user@room1,room2` (optionally `ns/` prefix). */
export function fakeAuthenticate(token: string): Grant {
  const match = /^(?:([^/]*)\/)?([^@]+)@(.*)$/.exec(token);
  if (match === null) throw new Error('bad token');
  return {
    namespace: match[1] ?? '',
    userId: match[2]!,
    roomIds: match[3]!.split(','),
    customerId: 'customer-1',
  };
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

export class TestClient {
  readonly main = new FakeConnection();
  readonly client: Client;
  readonly harness: Harness;
  #msgid = 0;

  constructor(harness: Harness, client: Client | undefined) {
    this.harness = harness;
    this.client = client ?? harness.sfu.connect(this.main);
  }

  /** Sends a request on the main connection; returns its response (sync handlers answer at once). */
  call(method: string, params: unknown): { error: unknown; result: unknown } {
    const msgid = this.#msgid++;
    this.client.handleRpc(encodeRequest(msgid, method, params));
    const r = this.main.responses().find((r) => r.msgid === msgid);
    return r === undefined
      ? { error: 'NO RESPONSE', result: undefined }
      : { error: r.error, result: r.result };
  }
}

export class TestPeer {
  readonly owner: TestClient;
  readonly stream = new FakeConnection();
  readonly endpoint: RpcEndpoint;
  readonly peerId: number;
  readonly mediaIds: number[];
  #msgid = 0;

  constructor(owner: TestClient, streamId: number) {
    this.owner = owner;
    const endpoint = owner.harness.sfu.attachRoomStream(streamId, this.stream);
    if (endpoint === undefined) throw new Error(`could not attach stream ${streamId}`);
    this.endpoint = endpoint;
    const joined = this.stream.roomUpdates()[0]!;
    if (joined.kind !== 'Joined') throw new Error('first update is not Joined');
    this.peerId = joined.own_peer_id as number;
    this.mediaIds = joined.media_ids as number[];
  }

  /** The Joined update this peer got. */
  get joined(): Record<string, unknown> {
    return this.stream.roomUpdates()[0]!;
  }

  call(method: string, params: unknown): { error: unknown; result: unknown } {
    const msgid = this.#msgid++;
    this.endpoint.handleRpc(encodeRequest(msgid, method, params));
    const r = this.stream.responses().find((r) => r.msgid === msgid);
    return r === undefined
      ? { error: 'NO RESPONSE', result: undefined }
      : { error: r.error, result: r.result };
  }

  /** Room updates and peer updates received after Joined, as compact strings for assertions. */
  events(): string[] {
    return this.stream.notifications().flatMap(([method, params]) => {
      if (method === 'RoomUpdated') {
        return (params.updates as Record<string, unknown>[])
          .filter((u) => u.kind !== 'Joined')
          .map((u) => {
            if (u.kind === 'PeerJoined') return `PeerJoined ${(u.peer as { id: number }).id}`;
            if (u.kind === 'PeerLeft') return `PeerLeft ${u.peer_id}`;
            if (u.kind === 'Left') return `Left ${u.reason}`;
            return `Room${u.kind}`;
          });
      }
      if (method === 'PeerUpdated') return [`${params.kind} ${params.peer_id}`];
      if (method === 'MessageReceived') return [`Message from ${params.sender_peer_id}`];
      return [method];
    });
  }

  startMedia(index = 0): number {
    const id = this.mediaIds[index]!;
    const r = this.call('StartMedia', { media_id: id, properties: { kind: 'audio' } });
    if (r.error !== null) throw new Error(`StartMedia failed: ${String(r.error)}`);
    return id;
  }

  move(...position: number[]): void {
    const r = this.call('SetPeerPosition', { position });
    if (r.error !== null) throw new Error(`SetPeerPosition failed: ${String(r.error)}`);
  }
}

/** The core's limits as a config.toml without `[limit]` sets them: the schema's defaults. */
export const defaultLimits = limitParamsFromConfig(defaultLimitConfig);

export class Harness {
  readonly clock = new FakeClock();
  readonly logger = recordingLogger();
  readonly sfu: Sfu;

  constructor(params: Partial<SfuParams> = {}) {
    this.sfu = new Sfu({
      limits: defaultLimits,
      clock: this.clock,
      logger: this.logger,
      authenticate: fakeAuthenticate,
      ...params,
    });
  }

  client(grant?: Grant): TestClient {
    const c = new TestClient(this, undefined);
    if (grant !== undefined) c.client.setGrant(grant);
    return c;
  }

  /** A new client of `user` joined to `roomId` at `position`, its room stream attached. */
  join(user: string, roomId = 'lobby', position: number[] = [0, 0], userData = bytes(user)): TestPeer {
    const c = this.client({ userId: user, roomIds: [roomId], namespace: '', customerId: 'customer-1' });
    return this.joinWith(c, roomId, position, userData);
  }

  joinWith(c: TestClient, roomId: string, position: number[] = [0, 0], userData = bytes('x')): TestPeer {
    const r = c.call('JoinRoom', { room_id: roomId, user_data: userData, position });
    if (r.error !== null) throw new Error(`JoinRoom failed: ${String(r.error)}`);
    return new TestPeer(c, (r.result as { stream_id: number }).stream_id);
  }
}

/** Lets pending promise callbacks run. */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
