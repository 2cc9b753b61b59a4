/**
 * Plays the assistant's audio: binary frames from the relay go to the playback worklet, which
 * buffers them in a ring buffer and plays them at 24 kHz. `clear()` is the barge-in: whatever
 * is buffered is dropped at once. Frames are transferred to the worklet, never copied.
 */

import { createAudioContext } from "./audioContext";
import playbackWorkletUrl from "./playback.worklet.ts?worker&url";
import {
  PLAYBACK_PROCESSOR_NAME,
  type PlaybackCommand,
  type PlaybackProcessorOptions,
  type PlaybackReport,
} from "./workletProtocol";

export interface AudioPlayerOptions {
  readonly capacitySeconds?: number;
}

export class AudioPlayer {
  private readonly context: AudioContext;
  private node: AudioWorkletNode | null = null;
  /** Frames that arrived before the worklet was loaded; sent to it once it is. */
  private pending: ArrayBuffer[] = [];
  private closed = false;
  /** Settles when the worklet is running (rejects if it could not be loaded). */
  readonly ready: Promise<void>;

  /**
   * Call from a user gesture (a click): the autoplay policy lets a context created there start.
   * `onReport` receives the worklet's running totals; with null (production) it sends none.
   */
  constructor(
    private readonly onReport: ((report: PlaybackReport) => void) | null,
    options: AudioPlayerOptions = {},
  ) {
    this.context = createAudioContext();
    void this.context.resume().catch(() => undefined);
    this.ready = this.start({ capacitySeconds: options.capacitySeconds ?? 60, reportTotals: onReport !== null });
  }

  get sampleRate(): number {
    return this.context.sampleRate;
  }

  /** Queues one PCM16 24 kHz frame for playback. Takes ownership of `pcm` (it is transferred). */
  enqueue(pcm: ArrayBuffer): void {
    if (this.closed) return;
    if (this.node) this.post(pcm);
    else this.pending.push(pcm);
  }

  /** Drops everything not yet played. */
  clear(): void {
    this.pending = [];
    this.node?.port.postMessage({ type: "clear" } satisfies PlaybackCommand);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    if (this.node) {
      this.node.port.onmessage = null;
      this.node.disconnect();
    }
    await this.context.close().catch(() => undefined);
  }

  private async start(processorOptions: PlaybackProcessorOptions): Promise<void> {
    await this.context.audioWorklet.addModule(playbackWorkletUrl);
    if (this.closed) return;
    const node = new AudioWorkletNode(this.context, PLAYBACK_PROCESSOR_NAME, {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions,
    });
    const onReport = this.onReport;
    if (onReport) node.port.onmessage = (event: MessageEvent<PlaybackReport>) => onReport(event.data);
    node.connect(this.context.destination);
    this.node = node;
    for (const pcm of this.pending) this.post(pcm);
    this.pending = [];
  }

  private post(pcm: ArrayBuffer): void {
    const command: PlaybackCommand = { type: "pcm", samples: new DataView(pcm) };
    this.node?.port.postMessage(command, [pcm]);
  }
}
