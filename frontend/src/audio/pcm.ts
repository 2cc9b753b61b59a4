/**
 * PCM16 <-> Float32 conversion and signal level. Pure: used by the worklets and the tests.
 * The wire format is signed 16-bit little-endian, whatever the platform's byte order.
 */

/** The relay's audio format: mono, 24 kHz, 2 bytes per sample. */
export const WIRE_SAMPLE_RATE = 24000;
export const BYTES_PER_SAMPLE = 2;

function toInt16(sample: number): number {
  // NaN becomes silence; out-of-range values clip instead of wrapping around.
  const s = sample > 1 ? 1 : sample < -1 ? -1 : sample || 0;
  return s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff);
}

/** Encodes samples as PCM16 little-endian into `target` at `byteOffset` (2 bytes per sample). */
export function encodePcm16Into(samples: Float32Array, target: DataView, byteOffset = 0): void {
  for (let i = 0; i < samples.length; i++) {
    target.setInt16(byteOffset + i * BYTES_PER_SAMPLE, toInt16(samples[i]!), true);
  }
}

/** Encodes samples as a new PCM16 little-endian buffer; its length is always even. */
export function floatToPcm16Bytes(samples: Float32Array): ArrayBuffer {
  const buffer = new ArrayBuffer(samples.length * BYTES_PER_SAMPLE);
  encodePcm16Into(samples, new DataView(buffer));
  return buffer;
}

/**
 * Decodes PCM16 little-endian bytes to samples in [-1, 1). A trailing odd byte is ignored
 * (the protocol forbids it; decoding must not fail on it).
 */
export function pcm16BytesToFloat(bytes: ArrayBuffer): Float32Array {
  const view = new DataView(bytes);
  const count = Math.floor(bytes.byteLength / BYTES_PER_SAMPLE);
  const samples = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    samples[i] = view.getInt16(i * BYTES_PER_SAMPLE, true) / 0x8000;
  }
  return samples;
}

/**
 * Decodes `count` PCM16 little-endian samples of `bytes`, from sample `firstSample` on, into
 * `target` (from its start): the allocation-free form of `pcm16BytesToFloat`.
 */
export function decodePcm16Into(bytes: DataView, firstSample: number, count: number, target: Float32Array): void {
  for (let i = 0; i < count; i++) {
    target[i] = bytes.getInt16((firstSample + i) * BYTES_PER_SAMPLE, true) / 0x8000;
  }
}

/** Root mean square of the samples (0 for none): the input level meter's measure. */
export function rms(samples: Float32Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  return Math.sqrt(sum / samples.length);
}

/** Maps an RMS level to 0..1 on a dB scale (-60 dBFS and below -> 0, 0 dBFS -> 1) for display. */
export function levelForMeter(rmsLevel: number, floorDb = -60): number {
  if (rmsLevel <= 0) return 0;
  const db = 20 * Math.log10(rmsLevel);
  return Math.min(1, Math.max(0, (db - floorDb) / -floorDb));
}
