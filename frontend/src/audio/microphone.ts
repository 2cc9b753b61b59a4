/**
 * The microphone: getUserMedia -> capture worklet -> PCM16 24 kHz frames (20 to 100 ms) and an
 * input level, handed to callbacks. Nothing here knows about the relay.
 */

import { createAudioContext } from "./audioContext";
import captureWorkletUrl from "./capture.worklet.ts?worker&url";
import { WIRE_SAMPLE_RATE } from "./pcm";
import {
  CAPTURE_PROCESSOR_NAME,
  type CaptureFrame,
  type CaptureProcessorOptions,
} from "./workletProtocol";

export interface MicrophoneListener {
  /** One frame: PCM16 little-endian, 24 kHz mono, even length. Ownership passes to the listener. */
  onFrame(pcm: ArrayBuffer): void;
  /** RMS of the latest frame, 0..1. */
  onLevel(rms: number): void;
}

export interface MicrophoneOptions {
  /** Frame length in milliseconds, 20 to 100 (default 40). */
  readonly frameMs?: number;
}

const MIN_FRAME_MS = 20;
const MAX_FRAME_MS = 100;

export function frameSamplesFor(frameMs: number): number {
  const ms = Math.min(MAX_FRAME_MS, Math.max(MIN_FRAME_MS, frameMs));
  return Math.round((WIRE_SAMPLE_RATE * ms) / 1000);
}

/**
 * Some browsers (Firefox) cannot connect a device to a context at another rate; then the
 * context runs at the device's rate and the capture worklet resamples.
 */
function connectStream(stream: MediaStream): { context: AudioContext; source: MediaStreamAudioSourceNode } {
  const context = createAudioContext();
  try {
    return { context, source: context.createMediaStreamSource(stream) };
  } catch {
    void context.close();
    const fallback = new AudioContext({ latencyHint: "interactive" });
    return { context: fallback, source: fallback.createMediaStreamSource(stream) };
  }
}

export class Microphone {
  private closed = false;

  private constructor(
    private readonly stream: MediaStream,
    private readonly context: AudioContext,
    private readonly source: MediaStreamAudioSourceNode,
    private readonly node: AudioWorkletNode,
  ) {}

  /** Asks for the microphone and starts capturing. Rejects if permission is refused. */
  static async open(listener: MicrophoneListener, options: MicrophoneOptions = {}): Promise<Microphone> {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    let context: AudioContext | null = null;
    try {
      // Created after getUserMedia resolved: an active capture lifts the autoplay block.
      const connected = connectStream(stream);
      context = connected.context;
      await context.audioWorklet.addModule(captureWorkletUrl);
      const processorOptions: CaptureProcessorOptions = { frameSamples: frameSamplesFor(options.frameMs ?? 40) };
      const node = new AudioWorkletNode(context, CAPTURE_PROCESSOR_NAME, {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        outputChannelCount: [1],
        channelCount: 1,
        channelCountMode: "explicit",
        processorOptions,
      });
      node.port.onmessage = (event: MessageEvent<CaptureFrame>) => {
        listener.onLevel(event.data.rms);
        listener.onFrame(event.data.pcm);
      };
      connected.source.connect(node);
      // The worklet outputs silence; connecting it to the destination keeps it being rendered.
      node.connect(context.destination);
      await context.resume();
      return new Microphone(stream, context, connected.source, node);
    } catch (error) {
      for (const track of stream.getTracks()) track.stop();
      await context?.close().catch(() => undefined);
      throw error;
    }
  }

  get sampleRate(): number {
    return this.context.sampleRate;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.node.port.onmessage = null;
    this.source.disconnect();
    this.node.disconnect();
    for (const track of this.stream.getTracks()) track.stop();
    await this.context.close().catch(() => undefined);
  }
}
