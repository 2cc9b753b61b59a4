/** Creating AudioContexts at the relay's rate, with a fallback for browsers that refuse it. */

import { WIRE_SAMPLE_RATE } from "./pcm";

/**
 * A context at 24 kHz when the browser allows it (the browser then resamples the device);
 * otherwise one at the device's rate, and the worklets resample.
 */
export function createAudioContext(): AudioContext {
  try {
    return new AudioContext({ sampleRate: WIRE_SAMPLE_RATE, latencyHint: "interactive" });
  } catch {
    return new AudioContext({ latencyHint: "interactive" });
  }
}
