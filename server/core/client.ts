/**
 * A Client: one main connection, the grant its token gave it, and its peers (one per room it
 * joined). The transport feeds it RPC frames (`handleRpc`) and reports the close
 * (`handleClose`); voice goes to `sfu.handleVoice(client, bytes)`.
 */
import type { TimerHandle } from './clock.ts';
import type { Connection, RpcEndpoint } from './connection.ts';
import type { Media } from './media.ts';
import type { Peer } from './peer.ts';

/**
 * What a verified token allows, as the core needs it. The wiring maps the auth module's
 * VerifiedToken onto it: `userId` ← uid, `roomIds` ← rid as a list, `namespace` ← nsp, else
 * cid, else '', `customerId` ← cid.
 */
export type Grant = {
  userId: string;
  roomIds: readonly string[];
  namespace: string;
  customerId?: string;
};

/** Verifies a token (generation A `Authenticate`, generation B `JoinRoom {token}`); throws with a reason to refuse. */
export type Authenticator = (token: string) => Grant | Promise<Grant>;

export type ConnectOptions = {
  /**
   * Room notifications and room methods travel on the main connection instead of a separate
   * room stream (one room per client). Default false: generation A's `/room?<stream_id>`.
   */
  roomStreamOnMain?: boolean;
  /**
   * `no_peers_timeout` of the client's listener, ms: a client in no room for this long (from
   * its connect, or since its last peer left) is disconnected. 0 or absent: never.
   */
  noPeersTimeoutMs?: number;
};

export type ClientInit = {
  id: number;
  connection: Connection;
  roomStreamOnMain: boolean;
  noPeersTimeoutMs?: number;
};

export class Client implements RpcEndpoint {
  readonly id: number;
  readonly connection: Connection;
  readonly roomStreamOnMain: boolean;
  readonly noPeersTimeoutMs: number;
  /** Internal (sfu.ts): runs out while the client has no peers. */
  noPeersTimer: TimerHandle | undefined;
  grant: Grant | undefined;
  /** One peer per room. */
  readonly peers = new Set<Peer>();
  /** Started medias of all its peers by id (ids are unique within a client): voice routing. */
  readonly mediaById = new Map<number, Media>();
  /** Media-pool ids of all its peers. */
  readonly mediaPoolIds = new Set<number>();
  /** Voice routing scratch: de-duplicates sends of one packet. Internal. */
  voiceStamp = 0;
  closed = false;
  #endpoint: RpcEndpoint | undefined;
  #onAuthenticated: (() => void) | undefined;

  constructor(init: ClientInit) {
    this.id = init.id;
    this.connection = init.connection;
    this.roomStreamOnMain = init.roomStreamOnMain;
    this.noPeersTimeoutMs = init.noPeersTimeoutMs ?? 0;
  }

  /** Internal: the Sfu binds the RPC channel of the main connection. */
  bindEndpoint(endpoint: RpcEndpoint): void {
    this.#endpoint = endpoint;
  }

  /** Internal: the Sfu's admission of an authenticated client (it may throw `server_full`). */
  bindAuthenticated(onAuthenticated: () => void): void {
    this.#onAuthenticated = onAuthenticated;
  }

  /**
   * The client authenticated with `grant` (the `Authenticate` RPC, or the transport itself).
   * Throws an RpcError `server_full` when `[limit] max_clients` authenticated clients exist.
   */
  setGrant(grant: Grant): void {
    this.#onAuthenticated?.();
    this.grant = grant;
  }

  handleRpc(bytes: Uint8Array): void {
    this.#endpoint?.handleRpc(bytes);
  }

  handleClose(): void {
    this.#endpoint?.handleClose();
  }

  /** The client's peer in (namespace, room id), if any. */
  peerIn(namespace: string, roomId: string): Peer | undefined {
    for (const peer of this.peers)
      if (peer.room.namespace === namespace && peer.room.id === roomId) return peer;
    return undefined;
  }
}
