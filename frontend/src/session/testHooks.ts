/**
 * Counters the browser end-to-end tests read from `window.__relayTest` (see tests/browser/).
 * They are plain numbers updated in place; reading them has no side effect. All counters are
 * reset when a new connection starts.
 *
 * They exist only when the page is opened with `?test-hooks` in its URL: without them the
 * session measures nothing for them (no RMS of the assistant's audio, no playback reports).
 */

import type { ConnectionState } from "../protocol/relayClient";

export interface RelayTestHooks {
  /** The connection's status: idle, connecting, connected, closing or closed. */
  state: ConnectionState["status"];
  /** Close code of the last connection, or null while none has closed. */
  closeCode: number | null;
  /** Bytes of assistant audio received from the relay (binary frames). */
  receivedAudioBytes: number;
  /** Highest RMS of a received audio frame: tells real audio from silence. */
  peakReceivedRms: number;
  /** Bytes of microphone audio sent to the relay (binary frames). */
  sentAudioBytes: number;
  /** Binary frames sent to the relay. */
  sentAudioFrames: number;
  /** Samples actually rendered by the playback worklet (at `playbackSampleRate`, 24 kHz normally). */
  playedSamples: number;
  /** Samples waiting in the playback ring buffer at the worklet's last report. */
  bufferedSamples: number;
  /** Samples the playback ring buffer had no room for. */
  droppedSamples: number;
  /** How many times playback was cleared by `speech_started` (barge-in). */
  playbackClears: number;
  playbackSampleRate: number | null;
  captureSampleRate: number | null;
  /** RMS of the latest microphone frame, and the highest seen. */
  inputRms: number;
  peakInputRms: number;
}

export function createTestHooks(): RelayTestHooks {
  return {
    state: "idle",
    closeCode: null,
    receivedAudioBytes: 0,
    peakReceivedRms: 0,
    sentAudioBytes: 0,
    sentAudioFrames: 0,
    playedSamples: 0,
    bufferedSamples: 0,
    droppedSamples: 0,
    playbackClears: 0,
    playbackSampleRate: null,
    captureSampleRate: null,
    inputRms: 0,
    peakInputRms: 0,
  };
}

/** Resets every counter of `hooks` in place (the object identity stays: tests may hold it). */
export function resetTestHooks(hooks: RelayTestHooks): void {
  Object.assign(hooks, createTestHooks());
}

/** The flag: `?test-hooks` (any value) in the page's query string. */
export function testHooksRequested(search: string): boolean {
  return new URLSearchParams(search).has("test-hooks");
}

declare global {
  interface Window {
    __relayTest?: RelayTestHooks;
  }
}

/** Puts the hooks on `window.__relayTest` (once) and returns them. */
export function installTestHooks(target: Window): RelayTestHooks {
  target.__relayTest ??= createTestHooks();
  return target.__relayTest;
}
