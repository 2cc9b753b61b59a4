/**
 * A fixed-capacity FIFO of Float32 samples: the playback worklet's buffer. Pure, allocation-free
 * after construction (no per-sample growth).
 *
 * Overflow policy: a write that does not fit keeps what is already buffered and drops the
 * samples that do not fit (the newest); `write` returns how many it accepted. The audio being
 * played stays continuous, and the drop is visible to the caller.
 */
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

  /** Appends as many samples as fit; returns how many were written. */
  write(samples: Float32Array): number {
    const count = Math.min(samples.length, this.free);
    const writeIndex = (this.readIndex + this.size) % this.capacity;
    const firstPart = Math.min(count, this.capacity - writeIndex);
    this.data.set(samples.subarray(0, firstPart), writeIndex);
    if (count > firstPart) this.data.set(samples.subarray(firstPart, count), 0);
    this.size += count;
    return count;
  }

  /**
   * Moves up to `target.length` samples into `target` (from its start); returns how many.
   * The rest of `target` is left untouched: the caller decides what silence looks like.
   */
  read(target: Float32Array): number {
    const count = Math.min(target.length, this.size);
    const firstPart = Math.min(count, this.capacity - this.readIndex);
    target.set(this.data.subarray(this.readIndex, this.readIndex + firstPart), 0);
    if (count > firstPart) target.set(this.data.subarray(0, count - firstPart), firstPart);
    this.readIndex = (this.readIndex + count) % this.capacity;
    this.size -= count;
    return count;
  }

  /** Forgets everything buffered (barge-in). */
  clear(): void {
    this.readIndex = 0;
    this.size = 0;
  }
}
