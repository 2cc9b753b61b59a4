/**
 * Sample-rate conversion for mono audio. Pure and streaming: a `StreamingResampler` keeps the
 * little state needed between render quanta, so a stream cut into blocks resamples exactly as
 * it would in one piece. Linear interpolation, with a box-filter average in front when
 * downsampling so that content above the new Nyquist frequency is damped rather than folded
 * straight back. Good enough for speech going to a speech model; not a hi-fi resampler.
 */

export class StreamingResampler {
  /** Input samples per output sample. */
  private readonly step: number;
  private readonly boxWidth: number;
  private readonly boxHistory: Float32Array;
  private boxIndex = 0;
  private boxSum = 0;
  private primed = false;
  /** Reused for the low-passed block, so a block allocates nothing once warmed up (or `reserve`d). */
  private scratch = new Float32Array(0);
  /** Position of the next output sample, in input samples; -1 is `previous`, 0 the block's first. */
  private position = 0;
  private previous = 0;

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
  ) {
    if (!(fromRate > 0 && toRate > 0)) throw new RangeError("sample rates must be positive");
    this.step = fromRate / toRate;
    this.boxWidth = Math.max(1, Math.round(this.step));
    this.boxHistory = new Float32Array(this.boxWidth);
  }

  /** Output samples that `inputLength` more input samples can produce at most. */
  maxOutputLength(inputLength: number): number {
    return Math.ceil((inputLength + 1) / this.step) + 1;
  }

  /** Makes room for blocks of up to `blockLength` samples now, so `process` never allocates. */
  reserve(blockLength: number): void {
    if (this.boxWidth > 1 && this.scratch.length < blockLength) this.scratch = new Float32Array(blockLength);
  }

  /**
   * Resamples the block `input[0..inputLength)` into `output` starting at `outputOffset`;
   * returns how many samples were written. `output` must have room for
   * `maxOutputLength(inputLength)` samples.
   */
  process(input: Float32Array, output: Float32Array, outputOffset = 0, inputLength = input.length): number {
    const n = inputLength;
    if (n === 0) return 0;
    const filtered = this.boxWidth > 1 ? this.lowPass(input, n) : input;
    let written = 0;
    let pos = this.position;
    while (pos <= n - 1) {
      const i = Math.floor(pos);
      const frac = pos - i;
      const a = i < 0 ? this.previous : filtered[i]!;
      const value = frac === 0 ? a : a + (filtered[i + 1]! - a) * frac;
      output[outputOffset + written] = value;
      written++;
      pos += this.step;
    }
    this.position = pos - n;
    this.previous = filtered[n - 1]!;
    return written;
  }

  /** Moving average over `boxWidth` input samples, into `scratch` (the input is not ours). */
  private lowPass(input: Float32Array, n: number): Float32Array {
    if (!this.primed) {
      // Start as if the signal had always had its first value: no fade-in from zero.
      this.boxHistory.fill(input[0]!);
      this.boxSum = input[0]! * this.boxWidth;
      this.primed = true;
    }
    this.reserve(n);
    const out = this.scratch;
    for (let k = 0; k < n; k++) {
      const x = input[k]!;
      this.boxSum += x - this.boxHistory[this.boxIndex]!;
      this.boxHistory[this.boxIndex] = x;
      this.boxIndex = (this.boxIndex + 1) % this.boxWidth;
      out[k] = this.boxSum / this.boxWidth;
    }
    return out;
  }
}

/** Resamples a whole signal at once (a convenience over `StreamingResampler`). */
export function resample(input: Float32Array, fromRate: number, toRate: number): Float32Array {
  if (fromRate === toRate) return input.slice();
  const resampler = new StreamingResampler(fromRate, toRate);
  const output = new Float32Array(resampler.maxOutputLength(input.length));
  const written = resampler.process(input, output);
  return output.slice(0, written);
}
