import { describe, expect, it } from "vitest";
import { floatToPcm16Bytes, pcm16BytesToFloat } from "./pcm";
import { RingBuffer } from "./ringBuffer";

const f = (...values: number[]) => new Float32Array(values);

function readAll(ring: RingBuffer, max = 64): number[] {
  const target = new Float32Array(max);
  return Array.from(target.subarray(0, ring.read(target)));
}

describe("RingBuffer", () => {
  it("reads back what was written, in order", () => {
    const ring = new RingBuffer(8);
    expect(ring.write(f(1, 2, 3))).toBe(3);
    expect(ring.write(f(4))).toBe(1);
    expect(ring.available).toBe(4);
    expect(readAll(ring)).toEqual([1, 2, 3, 4]);
    expect(ring.available).toBe(0);
  });

  it("reads at most the target's length and leaves the rest of the target alone", () => {
    const ring = new RingBuffer(8);
    ring.write(f(1, 2, 3, 4, 5));
    const target = f(9, 9);
    expect(ring.read(target)).toBe(2);
    expect(Array.from(target)).toEqual([1, 2]);
    const bigger = f(9, 9, 9, 9, 9);
    expect(ring.read(bigger)).toBe(3);
    expect(Array.from(bigger)).toEqual([3, 4, 5, 9, 9]);
  });

  it("wraps around the end of its storage", () => {
    const ring = new RingBuffer(4);
    ring.write(f(1, 2, 3));
    expect(readAll(ring, 2)).toEqual([1, 2]);
    expect(ring.write(f(4, 5, 6))).toBe(3); // 4 at the end, 5 and 6 wrapped to the start
    expect(ring.free).toBe(0);
    expect(readAll(ring)).toEqual([3, 4, 5, 6]);
    ring.write(f(7, 8, 9));
    expect(readAll(ring)).toEqual([7, 8, 9]);
  });

  it("on overflow keeps what it has and drops the newest samples", () => {
    const ring = new RingBuffer(4);
    ring.write(f(1, 2, 3));
    expect(ring.write(f(4, 5, 6))).toBe(1);
    expect(ring.write(f(7))).toBe(0);
    expect(readAll(ring)).toEqual([1, 2, 3, 4]);
  });

  it("clear empties it at once", () => {
    const ring = new RingBuffer(4);
    ring.write(f(1, 2, 3));
    readAll(ring, 1);
    ring.clear();
    expect(ring.available).toBe(0);
    expect(ring.free).toBe(4);
    expect(readAll(ring)).toEqual([]);
    ring.write(f(5, 6, 7, 8));
    expect(readAll(ring)).toEqual([5, 6, 7, 8]);
  });

  it("holds 60 s at 24 kHz in a fixed array", () => {
    const ring = new RingBuffer(60 * 24000);
    const second = new Float32Array(24000).fill(0.5);
    for (let i = 0; i < 60; i++) expect(ring.write(second)).toBe(24000);
    expect(ring.write(second)).toBe(0);
    expect(ring.available).toBe(1_440_000);
  });

  it("writes a range of its source, in place", () => {
    const ring = new RingBuffer(4);
    expect(ring.write(f(1, 2, 3, 4, 5), 1, 4)).toBe(3);
    expect(ring.write(f(6, 7), 2)).toBe(0); // an empty range
    expect(readAll(ring)).toEqual([2, 3, 4]);
  });

  it("takes PCM16 little-endian frames as they arrive, wrapping and dropping like write", () => {
    const ring = new RingBuffer(4);
    const bytes = (...values: number[]) => floatToPcm16Bytes(f(...values));
    const decoded = (buffer: ArrayBuffer) => Array.from(pcm16BytesToFloat(buffer));
    expect(ring.writePcm16(new DataView(bytes(0.5, -0.5, -1)))).toBe(3);
    expect(readAll(ring, 2)).toEqual(decoded(bytes(0.5, -0.5)));
    expect(ring.writePcm16(new DataView(bytes(0, 0.25, 0.75, 1)))).toBe(3); // one at the end, two wrapped
    expect(readAll(ring)).toEqual(decoded(bytes(-1, 0, 0.25, 0.75)));
  });

  it("ignores a trailing odd byte of a PCM16 frame", () => {
    const ring = new RingBuffer(4);
    const bytes = new Uint8Array([0x00, 0x40, 0x7f]); // 0x4000 = 0.5, then half a sample
    expect(ring.writePcm16(new DataView(bytes.buffer))).toBe(1);
    expect(readAll(ring)).toEqual([0.5]);
  });

  it("rejects a capacity that is not a positive integer", () => {
    expect(() => new RingBuffer(0)).toThrow(RangeError);
    expect(() => new RingBuffer(1.5)).toThrow(RangeError);
  });
});
