/**
 * One browser page running the real web SDK (through page/harness.js), seen from Node: typed
 * calls into the page and the page's console and errors kept for failure messages.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';

export type JoinResult = {
  ownPeerId: number;
  roomId: string;
  serverAddress: string;
  remotePeers: { peerId: number; userId: string }[];
};

export type PageEvent =
  | { kind: 'PeerJoined'; at: number; peerId: number; userId: string; remote: boolean; userData: number[] }
  | { kind: 'PeerLeft'; at: number; peerId: number }
  | { kind: 'MessageReceived'; at: number; senderId: number; message: number[] }
  | { kind: 'MediaStarted'; at: number; peerId: number; mediaId: number; remote: boolean }
  | { kind: 'RemoteMediaStarted'; at: number; mediaId: number }
  | { kind: 'RemoteMediaStartFailed'; at: number; mediaId: number; error: string }
  | { kind: 'MediaStopped'; at: number; peerId: number; mediaId: number }
  | { kind: 'MediaActivity'; at: number; peerId: number; mediaId: number; active: boolean; remote: boolean }
  | { kind: 'Left'; at: number };

export type DecoderStats = {
  packets_seen: number;
  packets_processed: number;
  packets_lost: number;
  packets_invalid: number;
  packets_too_late: number;
  packets_too_early: number;
  cache_length: number;
};

export type Snapshot = {
  clientState: string;
  roomState: string | undefined;
  remotePeerIds: number[];
  events: PageEvent[];
  audio: {
    statsEvents: number;
    last: { decoder: DecoderStats; encoder: Record<string, unknown> } | undefined;
    maxPacketsProcessed: number;
    maxPacketsSeen: number;
    /** Decoder counters of the last minute, one entry per AudioStats event (about 1/s). */
    history: ({ at: number } & DecoderStats)[];
  };
};

export type WebRtcStats =
  | { available: false }
  | {
      available: true;
      dtlsState?: string;
      pairState?: string;
      remoteAddress?: string;
      remotePort?: number;
      remoteProtocol?: string;
      /** The browser's end of the selected pair: 'tcp' with tcpType 'active' over ICE-TCP. */
      localProtocol?: string;
      localTcpType?: string;
      bytesSent: number;
      bytesReceived: number;
      audioChannel?: { state: string; messagesSent: number; messagesReceived: number };
    };

/** What harness.js puts on `globalThis` in the page. */
type Harness = {
  join(params: { token: string; gatewayUrl: string; userData: number[] }): Promise<JoinResult>;
  startMicrophone(): Promise<{ mediaId: number; track: string }>;
  sendMessage(bytes: number[], targetPeerIds?: number[]): Promise<void>;
  leave(): void;
  snapshot(): Snapshot;
  webRtcStats(): Promise<WebRtcStats>;
};
type PageGlobal = { odinHarness: Harness };

export class OdinPage {
  readonly name: string;
  readonly page: Page;
  readonly #context: BrowserContext;
  readonly #console: string[] = [];

  private constructor(name: string, context: BrowserContext, page: Page) {
    this.name = name;
    this.#context = context;
    this.page = page;
    page.on('console', (message) => this.#console.push(`[${message.type()}] ${message.text()}`));
    page.on('pageerror', (error) => this.#console.push(`[pageerror] ${error.message}`));
    page.on('websocket', (socket) => {
      this.#console.push(`[websocket] open ${socket.url()}`);
      socket.on('close', () => this.#console.push(`[websocket] closed ${socket.url()}`));
    });
  }

  /** A page in a context of its own (its own SDK client, as two separate users have). */
  static async open(browser: Browser, name: string, url: string): Promise<OdinPage> {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const odinPage = new OdinPage(name, context, page);
    await page.goto(url);
    await page.waitForFunction(() => 'odinHarness' in globalThis);
    return odinPage;
  }

  /**
   * `initRoom` (gateway Connect, Authenticate, SetupWebRtc) and `join` (JoinRoom, the room
   * stream, `Joined`). The SDK's join has no timeout of its own, so this one has.
   */
  join(token: string, gatewayUrl: string, userData: Uint8Array = new Uint8Array()): Promise<JoinResult> {
    return this.#bounded(
      'join',
      this.page.evaluate((params) => (globalThis as unknown as PageGlobal).odinHarness.join(params), {
        token,
        gatewayUrl,
        userData: [...userData],
      }),
    );
  }

  startMicrophone(): Promise<{ mediaId: number; track: string }> {
    return this.#bounded(
      'startMicrophone',
      this.page.evaluate(() => (globalThis as unknown as PageGlobal).odinHarness.startMicrophone()),
    );
  }

  sendMessage(message: Uint8Array, targetPeerIds?: number[]): Promise<void> {
    return this.#bounded(
      'sendMessage',
      this.page.evaluate(
        ([bytes, targets]) => (globalThis as unknown as PageGlobal).odinHarness.sendMessage(bytes, targets),
        [[...message], targetPeerIds] as [number[], number[] | undefined],
      ),
    );
  }

  leave(): Promise<void> {
    return this.page.evaluate(() => (globalThis as unknown as PageGlobal).odinHarness.leave());
  }

  snapshot(): Promise<Snapshot> {
    return this.page.evaluate(() => (globalThis as unknown as PageGlobal).odinHarness.snapshot());
  }

  webRtcStats(): Promise<WebRtcStats> {
    return this.page.evaluate(() => (globalThis as unknown as PageGlobal).odinHarness.webRtcStats());
  }

  /** Polls the page's snapshot until `check` returns a value (not undefined), or fails. */
  async waitFor<T>(
    what: string,
    check: (snapshot: Snapshot) => T | undefined,
    timeoutMs = 15_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: Snapshot | undefined;
    while (Date.now() < deadline) {
      last = await this.snapshot();
      const value = check(last);
      if (value !== undefined) return value;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(
      `${this.name}: timed out after ${timeoutMs} ms waiting for ${what}; last snapshot:\n` +
        `${JSON.stringify(last, null, 1)}\n${this.describe()}`,
    );
  }

  /** `page.evaluate` has no timeout: a call into the SDK that never settles fails here instead. */
  async #bounded<T>(what: string, call: Promise<T>, timeoutMs = 20_000): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`${this.name}: ${what} did not finish in ${timeoutMs} ms\n${this.describe()}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([call, expired]);
    } catch (error) {
      if (error instanceof Error && !error.message.includes(' console:\n')) {
        error.message += `\n${this.describe()}`;
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The page's console, errors and WebSocket log, for failure messages. */
  describe(): string {
    return `${this.name} console:\n${this.#console.slice(-40).join('\n') || '(empty)'}`;
  }

  close(): Promise<void> {
    return this.#context.close();
  }
}
