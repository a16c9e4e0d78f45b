/**
 * The child process of webrtcRelayClients.ts (`pairs` werift client pairs) and a way to await
 * its next IPC message of a kind; shared by the relay benches.
 */
import { type ChildProcess, fork } from 'node:child_process';

export interface RelayClients {
  child: ChildProcess;
  /** The next message of this kind from the child. */
  next<T>(kind: string): Promise<T>;
}

export function forkRelayClients(pairs: number): RelayClients {
  // The clients run with Node's default heap whatever the server under test was given, so that
  // runs comparing --max-semi-space-size values differ only in the server.
  const child = fork(new URL('./webrtcRelayClients.ts', import.meta.url), [String(pairs)], {
    execArgv: process.execArgv.filter((flag) => !flag.startsWith('--max-semi-space-size')),
  });
  // A client process that dies (a crash, or its 'not open' exit) fails the bench instead of
  // leaving it waiting for a message that cannot come.
  const next = <T>(kind: string) =>
    new Promise<T>((resolve, reject) => {
      const on = (m: { kind: string }) => {
        if (m.kind === kind) {
          child.off('message', on);
          child.off('exit', exited);
          resolve(m as T);
        }
      };
      const exited = (code: number | null, signal: string | null) => {
        child.off('message', on);
        reject(new Error(`relay client process exited (${signal ?? code}) before sending '${kind}'`));
      };
      child.on('message', on);
      child.once('exit', exited);
    });
  return { child, next };
}
