/**
 * Waiting for an event in a test. The cap says when a test gives up on an event that never
 * comes; it is never the verdict of a timing question (those use a fake clock, as
 * test/supervisor/supervisor.test.ts does). So it is generous: CI runs on 2 cores that
 * may be busy, and a handshake that takes 2 s there is slow, not wrong.
 */
export const WAIT_CAP_MS = 30_000;

/** Resolves when `condition` holds (polled every few ms); rejects after `capMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what = 'the condition',
  capMs = WAIT_CAP_MS,
): Promise<void> {
  const deadline = Date.now() + capMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${capMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
