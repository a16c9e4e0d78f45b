/**
 * What the browser tests conclude from a page's snapshot, shared by web-sdk.test.ts and
 * web-sdk-tcp.test.ts so both judge "B hears A" the same way.
 */
import assert from 'node:assert/strict';
import type { DecoderStats, OdinPage, PageEvent } from './odinPage.ts';

/** The first event of `kind` (matching `match`) in a page's event list. */
export function findEvent<K extends PageEvent['kind']>(
  events: PageEvent[],
  kind: K,
  match: (event: Extract<PageEvent, { kind: K }>) => boolean = () => true,
): Extract<PageEvent, { kind: K }> | undefined {
  return events.find(
    (event): event is Extract<PageEvent, { kind: K }> => event.kind === kind && match(event as never),
  );
}

/**
 * Page `listener` started the remote media `mediaId` and its decoder processes it: the
 * `AudioStats` decoder's packets_processed grows by 100 (about 2 s of a steady 20 ms Opus
 * stream), with at most 10% of the packets seen meanwhile lost or invalid.
 */
export async function assertDecodesAudio(
  listener: OdinPage,
  mediaId: number,
  timeoutMs = 20_000,
): Promise<{ first: DecoderStats; later: DecoderStats }> {
  await listener.waitFor('the remote media started', (s) => {
    const failed = findEvent(s.events, 'RemoteMediaStartFailed');
    if (failed) throw new Error(`media.start() failed in ${listener.name}: ${failed.error}`);
    return findEvent(s.events, 'RemoteMediaStarted', (e) => e.mediaId === mediaId);
  });
  // The decoder reports in its AudioStats event, about once a second.
  const first = await listener.waitFor(
    'decoded audio (AudioStats packets_processed > 0)',
    (s) => ((s.audio.last?.decoder.packets_processed ?? 0) > 0 ? s.audio.last?.decoder : undefined),
    timeoutMs,
  );
  const later = await listener.waitFor(
    'more decoded audio (packets_processed up by 100)',
    (s) => {
      const decoder = s.audio.last?.decoder;
      return decoder && decoder.packets_processed >= first.packets_processed + 100 ? decoder : undefined;
    },
    timeoutMs,
  );
  const seen = later.packets_seen - first.packets_seen;
  const broken = later.packets_lost - first.packets_lost + (later.packets_invalid - first.packets_invalid);
  assert.ok(broken <= seen * 0.1, `at most 10% lost or invalid: ${JSON.stringify({ first, later })}`);
  return { first, later };
}
