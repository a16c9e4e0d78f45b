/**
 * The messages of the supervisor protocol (ODIN-PROTOCOL.md section 5), as `4Players/odin-gateway`
 * defines them: `sfu.GridConfig` and `sfu.Report` params, and the tasks a report's answer holds.
 * Answers are untrusted input: `parseReportResult` turns them into typed values once, naming
 * the field at fault.
 */

/** Room identity on the wire: `[namespace, room id]`. */
export type RoomIdWire = [namespace: string, roomId: string];

/** A Rust `std::time::Duration` as serde writes it. */
export type DurationWire = { secs: number; nanos: number };

export type RoomReport = { id: RoomIdWire; customer: string; age: DurationWire; peers: number };

export type ReportParams = {
  public_endpoint?: string;
  server: 'grid';
  version: string;
  load: number;
  clients: number;
  rooms: RoomReport[];
};

export type GridConfigParams = {
  public_endpoint?: string;
  server: 'grid';
  version: string;
  /** The server's own config.toml. */
  config: string;
};

export type SupervisorTask =
  | { task: 'RoomClose'; id: RoomIdWire; banMs: number }
  | { task: 'RoomUpdate'; id: RoomIdWire; userData: Uint8Array }
  | { task: 'RoomBanClient'; id: RoomIdWire; userId: string; banMs: number }
  | { task: 'RoomSendMessage'; id: RoomIdWire; userId: string; message: Uint8Array };

export function durationFromMs(ms: number): DurationWire {
  const whole = Math.max(0, ms);
  const secs = Math.floor(whole / 1000);
  return { secs, nanos: Math.round((whole - secs * 1000) * 1e6) };
}

/** A task answer that could not be read, with where and why. */
export class TaskParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskParseError';
  }
}

type Json = Record<string, unknown>;

function object(v: unknown, at: string): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new TaskParseError(`${at}: expected an object`);
  return v as Json;
}

function string(v: unknown, at: string): string {
  if (typeof v !== 'string') throw new TaskParseError(`${at}: expected a string`);
  return v;
}

function roomId(v: unknown, at: string): RoomIdWire {
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || typeof v[1] !== 'string') {
    throw new TaskParseError(`${at}: expected [namespace, room id]`);
  }
  return [v[0], v[1]];
}

function durationMs(v: unknown, at: string): number {
  const d = object(v, at);
  const { secs, nanos } = d;
  if (typeof secs !== 'number' || !Number.isInteger(secs) || secs < 0) {
    throw new TaskParseError(`${at}.secs: expected a non-negative integer`);
  }
  if (typeof nanos !== 'number' || !Number.isInteger(nanos) || nanos < 0 || nanos >= 1e9) {
    throw new TaskParseError(`${at}.nanos: expected an integer 0..999999999`);
  }
  return secs * 1000 + nanos / 1e6;
}

function byteArray(v: unknown, at: string): Uint8Array {
  if (!Array.isArray(v) || !v.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
    throw new TaskParseError(`${at}: expected an array of bytes (0..255)`);
  }
  return Uint8Array.from(v as number[]);
}

/** One task of a report answer; throws TaskParseError. */
export function parseTask(v: unknown, at: string): SupervisorTask {
  const t = object(v, at);
  const id = roomId(t.id, `${at}.id`);
  switch (t.task) {
    case 'RoomClose':
      return {
        task: 'RoomClose',
        id,
        banMs: t.ban_time === undefined ? 0 : durationMs(t.ban_time, `${at}.ban_time`),
      };
    case 'RoomUpdate':
      return { task: 'RoomUpdate', id, userData: byteArray(t.user_data, `${at}.user_data`) };
    case 'RoomBanClient':
      return {
        task: 'RoomBanClient',
        id,
        userId: string(t.user_id, `${at}.user_id`),
        banMs: t.ban_time === undefined ? 0 : durationMs(t.ban_time, `${at}.ban_time`),
      };
    case 'RoomSendMessage':
      return {
        task: 'RoomSendMessage',
        id,
        userId: string(t.user_id, `${at}.user_id`),
        message: byteArray(t.message, `${at}.message`),
      };
    default:
      throw new TaskParseError(`${at}.task: unknown task ${JSON.stringify(t.task)}`);
  }
}

/**
 * The `sfu.Report` answer `{tasks}`: the tasks that parse, and a message for each that does not
 * (a bad task is skipped, not a failed report: the supervisor heard us).
 */
export function parseReportResult(result: unknown): { tasks: SupervisorTask[]; problems: string[] } {
  if (result === null || typeof result !== 'object' || Array.isArray(result)) {
    throw new TaskParseError('sfu.Report result: expected an object {tasks}');
  }
  const raw = (result as Json).tasks ?? [];
  if (!Array.isArray(raw)) throw new TaskParseError('sfu.Report result.tasks: expected an array');
  const tasks: SupervisorTask[] = [];
  const problems: string[] = [];
  raw.forEach((v, i) => {
    try {
      tasks.push(parseTask(v, `tasks[${i}]`));
    } catch (error) {
      if (!(error instanceof TaskParseError)) throw error;
      problems.push(error.message);
    }
  });
  return { tasks, problems };
}
