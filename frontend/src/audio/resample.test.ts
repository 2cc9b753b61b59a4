import { describe, expect, it } from "vitest";
import { resample, StreamingResampler } from "./resample";

function sine(length: number, freq: number, rate: number, amplitude = 0.8): Float32Array {
  return new Float32Array(length).map((_, i) => amplitude * Math.sin((2 * Math.PI * freq * i) / rate));
}

function peak(samples: Float32Array): number {
  return samples.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
}

describe("resample 48 kHz -> 24 kHz", () => {
  it("halves the length", () => {
    expect(resample(new Float32Array(48000), 48000, 24000).length).toBe(24000);
    expect(resample(new Float32Array(128), 48000, 24000).length).toBe(64);
    expect(resample(new Float32Array(0), 48000, 24000).length).toBe(0);
  });

  it("keeps a constant signal constant", () => {
    const out = resample(new Float32Array(480).fill(0.25), 48000, 24000);
    for (const x of out) expect(x).toBeCloseTo(0.25, 6);
  });

  it("averages neighbouring samples (anti-aliasing) rather than dropping every other one", () => {
    const input = new Float32Array([0, 0, 1, 0, 0, 0, -1, -1]);
    // box filter of width 2 (primed with the first sample), then every other sample
    expect(Array.from(resample(input, 48000, 24000))).toEqual([0, 0.5, 0, -0.5]);
  });

  it("keeps a 1 kHz tone at its amplitude and frequency", () => {
    const out = resample(sine(4800, 1000, 48000), 48000, 24000);
    expect(peak(out.subarray(10))).toBeGreaterThan(0.79);
    expect(peak(out)).toBeLessThanOrEqual(0.8);
    // 1 kHz at 24 kHz: 24 samples per period; upward zero crossings every 24 samples
    const crossings: number[] = [];
    for (let i = 1; i < out.length; i++) if (out[i - 1]! < 0 && out[i]! >= 0) crossings.push(i);
    const periods = crossings.slice(1).map((c, k) => c - crossings[k]!);
    for (const p of periods) expect(Math.abs(p - 24)).toBeLessThanOrEqual(1);
  });

  it("damps a tone above the new Nyquist frequency", () => {
    const out = resample(sine(4800, 23000, 48000), 48000, 24000);
    expect(peak(out.subarray(10))).toBeLessThan(0.1);
  });
});

describe("StreamingResampler", () => {
  it("gives the same output in 128-sample render quanta as in one piece", () => {
    for (const [from, to] of [
      [48000, 24000],
      [44100, 24000],
      [16000, 24000],
    ] as const) {
      const input = sine(128 * 50, 440, from);
      const whole = resample(input, from, to);
      const streaming = new StreamingResampler(from, to);
      const parts: number[] = [];
      const block = new Float32Array(streaming.maxOutputLength(128));
      for (let i = 0; i < input.length; i += 128) {
        const n = streaming.process(input.subarray(i, i + 128), block);
        parts.push(...block.subarray(0, n));
      }
      expect(parts.length).toBe(whole.length);
      for (let i = 0; i < whole.length; i++) expect(parts[i]).toBeCloseTo(whole[i]!, 5);
    }
  });

  it("produces the expected number of samples over a long stream (no drift)", () => {
    const streaming = new StreamingResampler(44100, 24000);
    const block = new Float32Array(streaming.maxOutputLength(128));
    const blocks = 3445; // about 10 s
    let total = 0;
    for (let i = 0; i < blocks; i++) total += streaming.process(new Float32Array(128), block);
    expect(Math.abs(total - (blocks * 128 * 24000) / 44100)).toBeLessThanOrEqual(1);
  });

  it("upsamples 16 kHz to 24 kHz by 3/2 with interpolated values", () => {
    const out = resample(new Float32Array([0, 1, 0, -1]), 16000, 24000);
    expect(Array.from(out).map((x) => Number(x.toFixed(4)))).toEqual([0, 0.6667, 0.6667, 0, -0.6667]);
  });

  it("rejects nonsense rates", () => {
    expect(() => new StreamingResampler(0, 24000)).toThrow(RangeError);
  });
});

describe("StreamingResampler on the first samples of a reused block", () => {
  it("resamples input[0..inputLength) exactly as it would that block on its own", () => {
    for (const [from, to] of [
      [24000, 48000],
      [24000, 44100],
      [48000, 24000],
    ] as const) {
      const signal = sine(700, 440, from);
      const whole = new StreamingResampler(from, to);
      const expected = new Float32Array(whole.maxOutputLength(700));
      const expectedCount = whole.process(signal, expected);

      const blocks = new StreamingResampler(from, to);
      const block = new Float32Array(256).fill(99); // stale samples past inputLength must not count
      const got = new Float32Array(expected.length + 8);
      let written = 0;
      for (let first = 0; first < 700; first += 256) {
        const count = Math.min(256, 700 - first);
        block.set(signal.subarray(first, first + count));
        written += blocks.process(block, got, written, count);
      }
      expect(written).toBe(expectedCount);
      expect(Array.from(got.subarray(0, written))).toEqual(Array.from(expected.subarray(0, expectedCount)));
    }
  });
});
