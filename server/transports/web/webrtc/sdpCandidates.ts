/**
 * SDP edits for the single-port server: advertise exactly the configured candidates on the mux
 * port (RFC 8839 §5.1 candidate-attribute), nothing of the machine's own interfaces.
 */

const CANDIDATE_PREFIX = 'a=candidate:';

/**
 * RFC 8445 §5.1.2.1: priority = 2^24·type-pref + 2^8·local-pref + (256 − component).
 * Host type preference 126; local preference decreasing with the candidate's position.
 */
export function hostCandidatePriority(index: number): number {
  const localPreference = 65535 - index;
  return 126 * 2 ** 24 + localPreference * 2 ** 8 + (256 - 1);
}

/**
 * RFC 6544 §4.2: a TCP candidate's local preference is 2^13·direction-pref + other-pref, with
 * direction preference 4 for a passive host candidate (§4.2, table for host candidates; 6 is
 * active, 2 simultaneous-open). Type preference 90, below UDP's 126 (RFC 6544 §4.2 lets agents
 * prefer UDP): a client that can use UDP does, TCP is the fallback.
 */
export function passiveTcpCandidatePriority(index: number): number {
  const localPreference = 2 ** 13 * 4 + (8191 - index);
  return 90 * 2 ** 24 + localPreference * 2 ** 8 + (256 - 1);
}

/** Which candidate lines to write for each advertised host. */
export interface CandidateTransports {
  udp: boolean;
  tcp: boolean;
}

/**
 * `a=candidate` lines (without the `a=`) for the advertised hosts on `port`: UDP host candidates,
 * then passive TCP ones (RFC 6544 §4.5: `tcptype passive`, the port clients connect to).
 * Foundations differ by transport (RFC 8445 §5.1.1.3).
 */
export function hostCandidateLines(
  hosts: readonly string[],
  port: number,
  transports: CandidateTransports = { udp: true, tcp: false },
): string[] {
  const lines: string[] = [];
  if (transports.udp) {
    for (const [i, host] of hosts.entries()) {
      lines.push(`candidate:${i + 1} 1 udp ${hostCandidatePriority(i)} ${host} ${port} typ host`);
    }
  }
  if (transports.tcp) {
    for (const [i, host] of hosts.entries()) {
      const foundation = hosts.length + i + 1;
      lines.push(
        `candidate:${foundation} 1 tcp ${passiveTcpCandidatePriority(i)} ${host} ${port} typ host tcptype passive`,
      );
    }
  }
  return lines;
}

/**
 * Replaces every `a=candidate` line of each media section with the advertised candidates on
 * `port`. Sections that had no candidate line get theirs before `a=end-of-candidates` or at the
 * section's end. Line endings are normalised to CRLF (RFC 8866 §5).
 */
export function replaceCandidates(
  sdp: string,
  hosts: readonly string[],
  port: number,
  transports: CandidateTransports = { udp: true, tcp: false },
): string {
  const ours = hostCandidateLines(hosts, port, transports).map((line) => `a=${line}`);
  const lines = sdp.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  const out: string[] = [];
  let inMedia = false;
  let inserted = false;
  const flushSection = () => {
    if (inMedia && !inserted) out.push(...ours);
  };
  for (const line of lines) {
    if (line.startsWith('m=')) {
      flushSection();
      inMedia = true;
      inserted = false;
      out.push(line);
      continue;
    }
    if (line.startsWith(CANDIDATE_PREFIX)) {
      if (inMedia && !inserted) {
        out.push(...ours);
        inserted = true;
      }
      continue;
    }
    if (line === 'a=end-of-candidates' && inMedia && !inserted) {
      out.push(...ours);
      inserted = true;
    }
    out.push(line);
  }
  flushSection();
  return `${out.join('\r\n')}\r\n`;
}

/** Removes every `a=candidate` line (used on remote offers: an ICE-lite server needs none). */
export function removeCandidates(sdp: string): string {
  const lines = sdp.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return `${lines.filter((line) => !line.startsWith(CANDIDATE_PREFIX)).join('\r\n')}\r\n`;
}

/** The first `a=ice-ufrag` value (session or media level), or undefined. */
export function iceUfragOf(sdp: string): string | undefined {
  const match = /^a=ice-ufrag:(\S+)\s*$/m.exec(sdp);
  return match?.[1];
}
