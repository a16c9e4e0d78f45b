/**
 * QPACK field sections (RFC 9204 section 4.5, static table only) with Huffman-coded strings
 * (RFC 7541 section 5.2). Findings: an exception other than H3ConnectionError / HuffmanError;
 * a decoded section that does not survive encode → decode; a Huffman string that decodes
 * but does not round-trip.
 */
import { H3ConnectionError } from '../../server/transports/quic/errors.ts';
import { HuffmanError, huffmanDecode, huffmanEncode } from '../../server/transports/quic/huffman.ts';
import { decodeFieldSection, encodeFieldSection } from '../../server/transports/quic/qpack.ts';
import { invariant } from './cursor.ts';

export function fuzz(data: Buffer): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  try {
    const fields = decodeFieldSection(bytes);
    const again = decodeFieldSection(encodeFieldSection(fields));
    invariant(JSON.stringify(again) === JSON.stringify(fields), 'field section round trip');
  } catch (error) {
    if (!(error instanceof H3ConnectionError)) throw error;
  }
  try {
    const decoded = huffmanDecode(bytes);
    invariant(Buffer.compare(huffmanDecode(huffmanEncode(decoded)), decoded) === 0, 'Huffman round trip');
  } catch (error) {
    if (!(error instanceof HuffmanError)) throw error;
  }
}
