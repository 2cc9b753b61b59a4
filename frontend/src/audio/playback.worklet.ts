/**
 * Playback AudioWorklet: PCM16 24 kHz frames in (from the main thread), audio out. Samples wait
 * in a fixed-size RingBuffer; `clear` empties it at once (barge-in). Running totals of samples
 * played, buffered and dropped go back to the main thread a few times per second and whenever
 * the buffer runs dry, so tests can tell what was actually heard.
 */

import { pcm16BytesToFloat, WIRE_SAMPLE_RATE } from "./pcm";
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

class PlaybackProcessor extends AudioWorkletProcessor {
  private readonly ring: RingBuffer;
  private readonly resampler: StreamingResampler | null;
  private playedSamples = 0;
  private droppedSamples = 0;
  private quantaSinceReport = 0;

  constructor(options: AudioWorkletNodeOptions) {
    super(options);
    const opts = options.processorOptions as Partial<PlaybackProcessorOptions> | undefined;
    const seconds = opts?.capacitySeconds ?? DEFAULT_CAPACITY_SECONDS;
    this.ring = new RingBuffer(Math.round(seconds * sampleRate));
    this.resampler = sampleRate === WIRE_SAMPLE_RATE ? null : new StreamingResampler(WIRE_SAMPLE_RATE, sampleRate);
    this.port.onmessage = (event: MessageEvent<PlaybackCommand>) => this.handle(event.data);
  }

  private handle(command: PlaybackCommand): void {
    switch (command.type) {
      case "pcm": {
        let samples = pcm16BytesToFloat(command.pcm);
        if (this.resampler) {
          const out = new Float32Array(this.resampler.maxOutputLength(samples.length));
          samples = out.subarray(0, this.resampler.process(samples, out));
        }
        this.droppedSamples += samples.length - this.ring.write(samples);
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
      this.playedSamples += count;
      this.quantaSinceReport++;
      if (this.quantaSinceReport >= REPORT_EVERY_QUANTA || this.ring.available === 0) this.report();
    }
    return true;
  }

  private report(): void {
    this.quantaSinceReport = 0;
    const report: PlaybackReport = {
      type: "played",
      playedSamples: this.playedSamples,
      bufferedSamples: this.ring.available,
      droppedSamples: this.droppedSamples,
    };
    this.port.postMessage(report);
  }
}

registerProcessor(PLAYBACK_PROCESSOR_NAME, PlaybackProcessor);
