import type { CSSProperties } from "react";
import { levelForMeter } from "../audio/pcm";
import type { MicState } from "../session/relaySession";

interface Props {
  readonly micState: MicState;
  /** RMS of the latest microphone frame (0..1). */
  readonly inputLevel: number;
  readonly disabled: boolean;
  readonly onToggle: () => void;
}

const LABELS: Record<MicState, string> = {
  off: "Turn microphone on",
  starting: "Microphone starting, press to cancel",
  on: "Turn microphone off",
};

/**
 * Where the meter turns red: -6 dBFS RMS on its -60..0 dB scale, which is shouting into the
 * microphone (its peaks clip). Normal speech sits around 0.55 to 0.8 and reads as a level.
 */
export const CLIPPING_LEVEL = 0.9;

/** Microphone toggle and live input level meter. */
export function MicControl({ micState, inputLevel, disabled, onToggle }: Props) {
  const level = micState === "on" ? levelForMeter(inputLevel) : 0;
  return (
    <div className="mic">
      <button
        type="button"
        className="button mic__toggle"
        data-state={micState}
        aria-pressed={micState !== "off"}
        aria-label={LABELS[micState]}
        disabled={disabled && micState === "off"}
        onClick={onToggle}
      >
        {micState === "on" ? "Mic on" : micState === "starting" ? "Mic…" : "Mic off"}
      </button>
      <div
        className="mic__level"
        role="meter"
        aria-label="Microphone input level"
        aria-valuemin={0}
        aria-valuemax={1}
        aria-valuenow={Math.round(level * 100) / 100}
        data-clipping={level >= CLIPPING_LEVEL || undefined}
        style={{ "--level": level } as CSSProperties}
      >
        <span className="mic__level-fill" />
      </div>
    </div>
  );
}
