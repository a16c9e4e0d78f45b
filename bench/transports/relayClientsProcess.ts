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
  const next = <T>(kind: string) =>
    new Promise<T>((resolve) => {
      const on = (m: { kind: string }) => {
        if (m.kind === kind) {
          child.off('message', on);
          resolve(m as T);
        }
      };
      child.on('message', on);
    });
  return { child, next };
}
