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

/** Microphone toggle and live input level meter. */
export function MicControl({ micState, inputLevel, disabled, onToggle }: Props) {
  const level = levelForMeter(inputLevel);
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
      <meter
        className="mic__level"
        min={0}
        max={1}
        low={0.5}
        high={0.9}
        optimum={0.6}
        value={micState === "on" ? level : 0}
        aria-label="Microphone input level"
      />
    </div>
  );
}
