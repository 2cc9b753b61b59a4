/**
 * Playback AudioWorklet: PCM16 24 kHz frames in (from the main thread), audio out. Samples wait
 * in a fixed-size RingBuffer; `clear` empties it at once (barge-in).
 *
 * Nothing is allocated on the audio thread once the processor is built: a frame arrives as a
 * view of its transferred buffer and is converted straight into the preallocated ring (through
 * two preallocated scratch blocks when the context does not run at 24 kHz), and rendering copies
 * out of the ring in place. With `reportTotals` (test hooks), running totals of samples played,
 * buffered and dropped go back to the main thread a few times per second and whenever the
 * buffer runs dry, so tests can tell what was actually heard; production sends none.
 */

import { decodePcm16Into, BYTES_PER_SAMPLE, WIRE_SAMPLE_RATE } from "./pcm";
import { StreamingResampler } from "./resample";
import { RingBuffer } from "./ringBuffer";
import {
  PLAYBACK_PROCESSOR_NAME,
  type PlaybackCommand,
  type PlaybackProcessorOptions,
  type PlaybackReport,
} from "./workletProtocol";

// AudioWorkletGlobalScope: not part of TypeScript's DOM lib.
declare const sampleRate: number;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor(options?: AudioWorkletNodeOptions);
}
declare function registerProcessor(
  name: string,
  processorCtor: new (options: AudioWorkletNodeOptions) => AudioWorkletProcessor,
): void;

const DEFAULT_CAPACITY_SECONDS = 60;
/** Report at least every this many render quanta while playing (8 x 128 samples ~ 43 ms). */
const REPORT_EVERY_QUANTA = 8;
/** Wire samples resampled at a time when the context is not at 24 kHz (about 21 ms). */
const RESAMPLE_BLOCK = 512;

/** Resampling a frame block by block, into scratch arrays made once. */
class BlockResampler {
  private readonly resampler: StreamingResampler;
  private readonly decoded = new Float32Array(RESAMPLE_BLOCK);
  private readonly resampled: Float32Array;

  constructor(toRate: number) {
    this.resampler = new StreamingResampler(WIRE_SAMPLE_RATE, toRate);
    this.resampler.reserve(RESAMPLE_BLOCK);
    this.resampled = new Float32Array(this.resampler.maxOutputLength(RESAMPLE_BLOCK));
  }

  /** Writes `pcm` resampled into `ring`; returns the samples (at the output rate) that did not fit. */
  writeInto(ring: RingBuffer, pcm: DataView): number {
    const total = Math.floor(pcm.byteLength / BYTES_PER_SAMPLE);
    let dropped = 0;
    for (let first = 0; first < total; first += RESAMPLE_BLOCK) {
      const count = Math.min(RESAMPLE_BLOCK, total - first);
      decodePcm16Into(pcm, first, count, this.decoded);
      const produced = this.resampler.process(this.decoded, this.resampled, 0, count);
      dropped += produced - ring.write(this.resampled, 0, produced);
    }
    return dropped;
  }
}

class PlaybackProcessor extends AudioWorkletProcessor {
  private readonly ring: RingBuffer;
  private readonly resampler: BlockResampler | null;
  private readonly reportTotals: boolean;
  /** Reused for every report: `postMessage` copies it. */
  private readonly totals: { -readonly [K in keyof PlaybackReport]: PlaybackReport[K] } = {
    type: "played",
    playedSamples: 0,
    bufferedSamples: 0,
    droppedSamples: 0,
  };
  private quantaSinceReport = 0;

  constructor(options: AudioWorkletNodeOptions) {
    super(options);
    const opts = options.processorOptions as Partial<PlaybackProcessorOptions> | undefined;
    const seconds = opts?.capacitySeconds ?? DEFAULT_CAPACITY_SECONDS;
    this.reportTotals = opts?.reportTotals ?? false;
    this.ring = new RingBuffer(Math.round(seconds * sampleRate));
    this.resampler = sampleRate === WIRE_SAMPLE_RATE ? null : new BlockResampler(sampleRate);
    this.port.onmessage = (event: MessageEvent<PlaybackCommand>) => this.handle(event.data);
  }

  private handle(command: PlaybackCommand): void {
    switch (command.type) {
      case "pcm": {
        const pcm = command.samples;
        this.totals.droppedSamples += this.resampler
          ? this.resampler.writeInto(this.ring, pcm)
          : Math.floor(pcm.byteLength / BYTES_PER_SAMPLE) - this.ring.writePcm16(pcm);
        return;
      }
      case "clear":
        this.ring.clear();
        this.report();
        return;
    }
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const channels = outputs[0];
    const first = channels?.[0];
    if (!channels || !first) return true;
    const count = this.ring.read(first);
    first.fill(0, count);
    for (let c = 1; c < channels.length; c++) channels[c]!.set(first);
    if (count > 0) {
      this.totals.playedSamples += count;
      this.quantaSinceReport++;
      if (this.quantaSinceReport >= REPORT_EVERY_QUANTA || this.ring.available === 0) this.report();
    }
    return true;
  }

  private report(): void {
    this.quantaSinceReport = 0;
    if (!this.reportTotals) return;
    this.totals.bufferedSamples = this.ring.available;
    this.port.postMessage(this.totals);
  }
}

registerProcessor(PLAYBACK_PROCESSOR_NAME, PlaybackProcessor);
