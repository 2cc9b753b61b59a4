/**
 * Messages between the main thread and the two audio worklets (over their MessagePorts), and
 * the names they register under. Types only, plus constants: safe to import from a worklet.
 */

export const CAPTURE_PROCESSOR_NAME = "relay-capture";
export const PLAYBACK_PROCESSOR_NAME = "relay-playback";

export interface CaptureProcessorOptions {
  /** Samples per frame at 24 kHz: 960 = 40 ms = 1920 bytes. */
  readonly frameSamples: number;
}

/** Capture worklet -> main: one finished microphone frame and its level. */
export interface CaptureFrame {
  readonly type: "frame";
  /** PCM16 little-endian, 24 kHz mono; even length. */
  readonly pcm: ArrayBuffer;
  /** RMS of the frame, 0..1. */
  readonly rms: number;
}

export interface PlaybackProcessorOptions {
  /** Ring buffer capacity in seconds of audio. */
  readonly capacitySeconds: number;
  /** Send `PlaybackReport`s (test hooks only: production asks for none). */
  readonly reportTotals: boolean;
}

/**
 * Main -> playback worklet. `samples` is a view of one received frame (PCM16 little-endian,
 * 24 kHz), whose buffer is transferred, not copied: the worklet reads it in place, so it
 * allocates nothing per frame.
 */
export type PlaybackCommand =
  | { readonly type: "pcm"; readonly samples: DataView }
  | { readonly type: "clear" };

/** Playback worklet -> main: running totals, in samples at the playback context's rate. */
export interface PlaybackReport {
  readonly type: "played";
  readonly playedSamples: number;
  readonly bufferedSamples: number;
  readonly droppedSamples: number;
}
