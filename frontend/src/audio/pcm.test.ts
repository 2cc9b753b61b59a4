import { describe, expect, it } from "vitest";
import { floatToPcm16Bytes, levelForMeter, pcm16BytesToFloat, rms } from "./pcm";

function bytesOf(buffer: ArrayBuffer): number[] {
  return Array.from(new Uint8Array(buffer));
}

describe("floatToPcm16Bytes", () => {
  it("writes little-endian 16-bit samples", () => {
    const bytes = floatToPcm16Bytes(new Float32Array([0, 1, -1, 0.5]));
    // 0 -> 0x0000, 1 -> 0x7fff, -1 -> 0x8000, 0.5 -> 0x4000 (16383.5 rounds to 16384)
    expect(bytesOf(bytes)).toEqual([0x00, 0x00, 0xff, 0x7f, 0x00, 0x80, 0x00, 0x40]);
  });

  it("clips out-of-range samples instead of wrapping", () => {
    const view = new DataView(floatToPcm16Bytes(new Float32Array([1.5, -3, 100, -Infinity])));
    expect([0, 2, 4, 6].map((o) => view.getInt16(o, true))).toEqual([32767, -32768, 32767, -32768]);
  });

  it("turns NaN into silence", () => {
    expect(new DataView(floatToPcm16Bytes(new Float32Array([NaN]))).getInt16(0, true)).toBe(0);
  });

  it("always produces an even length: two bytes per sample", () => {
    for (const n of [0, 1, 127, 128, 960]) {
      const buffer = floatToPcm16Bytes(new Float32Array(n));
      expect(buffer.byteLength).toBe(2 * n);
      expect(buffer.byteLength % 2).toBe(0);
    }
  });
});

describe("pcm16BytesToFloat", () => {
  it("reads little-endian samples into [-1, 1)", () => {
    const bytes = new Uint8Array([0x00, 0x80, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x40]).buffer;
    const samples = pcm16BytesToFloat(bytes);
    expect(Array.from(samples)).toEqual([-1, 32767 / 32768, 0, 0.5]);
  });

  it("round-trips through floatToPcm16Bytes within one step", () => {
    const input = new Float32Array(100).map((_, i) => Math.sin(i / 7) * 0.9);
    const output = pcm16BytesToFloat(floatToPcm16Bytes(input));
    for (let i = 0; i < input.length; i++) expect(Math.abs(output[i]! - input[i]!)).toBeLessThan(1 / 16384);
  });

  it("ignores a trailing odd byte", () => {
    expect(pcm16BytesToFloat(new ArrayBuffer(5)).length).toBe(2);
  });
});

describe("level", () => {
  it("rms of silence is 0, of a full-scale square wave is 1, of a sine is 1/sqrt(2)", () => {
    expect(rms(new Float32Array(0))).toBe(0);
    expect(rms(new Float32Array(64))).toBe(0);
    expect(rms(new Float32Array([1, -1, 1, -1]))).toBe(1);
    const sine = new Float32Array(2400).map((_, i) => Math.sin((2 * Math.PI * i) / 24));
    expect(rms(sine)).toBeCloseTo(Math.SQRT1_2, 4);
  });

  it("maps RMS to a 0..1 meter on a -60 dB scale", () => {
    expect(levelForMeter(0)).toBe(0);
    expect(levelForMeter(0.001)).toBeCloseTo(0, 6);
    expect(levelForMeter(0.0316)).toBeCloseTo(0.5, 2);
    expect(levelForMeter(1)).toBe(1);
    expect(levelForMeter(2)).toBe(1);
  });
});
