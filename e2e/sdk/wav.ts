/**
 * A WAV file for Chromium's fake microphone (`--use-file-for-fake-audio-capture`).
 *
 * Why a file: with the fake device's built-in beep, the 0.16 SDK's encoder produced unreliable
 * audio in headless Chromium (about 24 packets/s and decoder enqueue errors); a steady tone from
 * a file gives the 50 packets/s of one 20 ms Opus stream (ODIN-PROTOCOL.md section 2).
 * Chromium loops the file, so a few seconds are enough.
 */

export type SineWavOptions = {
  /** Tone frequency in Hz. */
  frequency?: number;
  seconds?: number;
  sampleRate?: number;
  /** Peak amplitude, 0..1 of full scale. */
  amplitude?: number;
};

/** A mono, 16-bit PCM RIFF/WAVE file holding a sine tone. */
export function sineWav(options: SineWavOptions = {}): Buffer {
  const { frequency = 440, seconds = 4, sampleRate = 48_000, amplitude = 0.5 } = options;
  const samples = Math.round(seconds * sampleRate);
  const dataBytes = samples * 2;
  const wav = Buffer.alloc(44 + dataBytes);
  // RIFF header and "fmt " chunk: PCM (1), 1 channel, 16 bits per sample.
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + dataBytes, 4);
  wav.write('WAVE', 8, 'ascii');
  wav.write('fmt ', 12, 'ascii');
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20);
  wav.writeUInt16LE(1, 22);
  wav.writeUInt32LE(sampleRate, 24);
  wav.writeUInt32LE(sampleRate * 2, 28);
  wav.writeUInt16LE(2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < samples; i++) {
    const value = Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * frequency * i) / sampleRate));
    wav.writeInt16LE(value, 44 + i * 2);
  }
  return wav;
}
