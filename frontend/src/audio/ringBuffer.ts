/**
 * A fixed-capacity FIFO of Float32 samples: the playback worklet's buffer. Pure, and
 * allocation-free after construction: samples are copied in place, element by element (not
 * through `subarray`, which makes a new view object on every call), so the audio thread
 * creates no garbage per message or per render quantum.
 *
 * Overflow policy: a write that does not fit keeps what is already buffered and drops the
 * samples that do not fit (the newest); a write returns how many it accepted. The audio being
 * played stays continuous, and the drop is visible to the caller.
 */

import { BYTES_PER_SAMPLE } from "./pcm";

const PCM16_SCALE = 1 / 0x8000;

export class RingBuffer {
  private readonly data: Float32Array;
  private readIndex = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0) {
      throw new RangeError("capacity must be a positive integer");
    }
    this.data = new Float32Array(capacity);
  }

  /** Samples buffered and not yet read. */
  get available(): number {
    return this.size;
  }

  /** Room left before writes start dropping samples. */
  get free(): number {
    return this.capacity - this.size;
  }

  /** Appends as many of `samples[start..end)` as fit; returns how many were written. */
  write(samples: Float32Array, start = 0, end = samples.length): number {
    const count = Math.min(Math.max(0, end - start), this.free);
    const data = this.data;
    let at = (this.readIndex + this.size) % this.capacity;
    for (let i = 0; i < count; i++) {
      data[at] = samples[start + i]!;
      if (++at === this.capacity) at = 0;
    }
    this.size += count;
    return count;
  }

  /**
   * Appends PCM16 little-endian samples read straight from `pcm` (a view of a received frame),
   * converted to [-1, 1) as they are copied; returns how many were written. A trailing odd
   * byte is ignored.
   */
  writePcm16(pcm: DataView): number {
    const count = Math.min(Math.floor(pcm.byteLength / BYTES_PER_SAMPLE), this.free);
    const data = this.data;
    let at = (this.readIndex + this.size) % this.capacity;
    for (let i = 0; i < count; i++) {
      data[at] = pcm.getInt16(i * BYTES_PER_SAMPLE, true) * PCM16_SCALE;
      if (++at === this.capacity) at = 0;
    }
    this.size += count;
    return count;
  }

  /**
   * Moves up to `target.length` samples into `target` (from its start); returns how many.
   * The rest of `target` is left untouched: the caller decides what silence looks like.
   */
  read(target: Float32Array): number {
    const count = Math.min(target.length, this.size);
    const data = this.data;
    let at = this.readIndex;
    for (let i = 0; i < count; i++) {
      target[i] = data[at]!;
      if (++at === this.capacity) at = 0;
    }
    this.readIndex = at;
    this.size -= count;
    return count;
  }

  /** Forgets everything buffered (barge-in). */
  clear(): void {
    this.readIndex = 0;
    this.size = 0;
  }
}
