/**
 * Capture AudioWorklet: microphone samples in, PCM16 24 kHz frames out (posted to the main
 * thread, which sends them to the relay as binary frames). Render quanta of 128 samples are
 * batched into frames of `frameSamples` (40 ms by default); if the context does not run at
 * 24 kHz the samples are resampled here first. Each frame carries its RMS for the level meter.
 */

import { encodePcm16Into, rms, WIRE_SAMPLE_RATE, BYTES_PER_SAMPLE } from "./pcm";
import { StreamingResampler } from "./resample";
import {
  CAPTURE_PROCESSOR_NAME,
  type CaptureFrame,
  type CaptureProcessorOptions,
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

const DEFAULT_FRAME_SAMPLES = 960;

class CaptureProcessor extends AudioWorkletProcessor {
  private readonly frame: Float32Array;
  private filled = 0;
  private readonly resampler: StreamingResampler | null;
  private readonly resampled: Float32Array;

  constructor(options: AudioWorkletNodeOptions) {
    super(options);
    const opts = options.processorOptions as Partial<CaptureProcessorOptions> | undefined;
    this.frame = new Float32Array(opts?.frameSamples ?? DEFAULT_FRAME_SAMPLES);
    this.resampler = sampleRate === WIRE_SAMPLE_RATE ? null : new StreamingResampler(sampleRate, WIRE_SAMPLE_RATE);
    this.resampled = new Float32Array(this.resampler ? this.resampler.maxOutputLength(128) : 0);
  }

  process(inputs: Float32Array[][]): boolean {
    // The node is created with channelCount 1 (explicit), so channel 0 is the mono mix.
    const mono = inputs[0]?.[0];
    if (!mono) return true; // not connected yet, or the track ended: keep the node alive
    if (this.resampler) this.append(this.resampled, this.resampler.process(mono, this.resampled));
    else this.append(mono, mono.length);
    return true;
  }

  /** Copies `block[0..length)` into the frame, element by element: no view per quantum. */
  private append(block: Float32Array, length: number): void {
    const frame = this.frame;
    for (let i = 0; i < length; i++) {
      frame[this.filled++] = block[i]!;
      if (this.filled === frame.length) this.emitFrame();
    }
  }

  private emitFrame(): void {
    const pcm = new ArrayBuffer(this.frame.length * BYTES_PER_SAMPLE);
    encodePcm16Into(this.frame, new DataView(pcm));
    const message: CaptureFrame = { type: "frame", pcm, rms: rms(this.frame) };
    this.port.postMessage(message, [pcm]);
    this.filled = 0;
  }
}

registerProcessor(CAPTURE_PROCESSOR_NAME, CaptureProcessor);
