/**
 * Every fuzz target: `fuzz/targets/<name>.ts`. `async`: its fuzz function returns a promise.
 * `subjects`: the source files it is meant to cover (the coverage report of
 * `npm run fuzz -- --coverage` sums their lines and branches).
 */
/**
 * The folders Jazzer.js instruments for coverage feedback: the product code that reads client
 * bytes. A subject outside them gives a target no edges to follow (the jwt target ran blind
 * for a release after server/auth moved to common/auth), so test/fuzz/replay.test.ts checks it.
 */
export const INSTRUMENTED_FOLDERS: readonly string[] = ['server', 'common'];

export type FuzzTargetInfo = { name: string; async?: boolean; subjects: readonly string[] };

const quic = (file: string) => `server/transports/quic/${file}`;

export const FUZZ_TARGETS: readonly FuzzTargetInfo[] = [
  { name: 'msgpackRpc', subjects: ['server/protocol/boundedMsgpack.ts', 'server/protocol/msgpackRpc.ts'] },
  { name: 'rpcParams', subjects: ['server/protocol/methods.ts'] },
  { name: 'voicePacket', subjects: ['server/protocol/voicePacket.ts'] },
  {
    name: 'h3Connection',
    subjects: [
      quic('h3Connection.ts'),
      quic('h3Request.ts'),
      quic('h3Frame.ts'),
      quic('qpack.ts'),
      quic('capsule.ts'),
      quic('webTransport.ts'),
      quic('sessionFlowControl.ts'),
      quic('wtNegotiation.ts'),
    ],
  },
  { name: 'h3Frame', subjects: [quic('h3Frame.ts')] },
  { name: 'qpack', subjects: [quic('qpack.ts'), quic('huffman.ts')] },
  { name: 'capsule', subjects: [quic('capsule.ts')] },
  {
    name: 'h2WebTransport',
    subjects: [
      quic('h2WebTransport.ts'),
      quic('h2Capsules.ts'),
      quic('capsule.ts'),
      quic('sessionFlowControl.ts'),
    ],
  },
  { name: 'varint', subjects: [quic('varint.ts'), quic('messageFraming.ts')] },
  {
    name: 'udpMux',
    subjects: ['server/transports/web/webrtc/udpMux.ts', 'server/transports/web/webrtc/stunHeader.ts'],
  },
  {
    name: 'iceTcp',
    subjects: [
      'server/transports/web/webrtc/iceTcp.ts',
      'server/transports/web/webrtc/iceTcpFraming.ts',
      'server/transports/web/webrtc/udpMux.ts',
    ],
  },
  { name: 'jwt', async: true, subjects: ['common/auth/verifier.ts', 'common/auth/base64.ts'] },
];
