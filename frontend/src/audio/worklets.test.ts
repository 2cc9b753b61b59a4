/**
 * Runs the two worklet processors outside a browser: the AudioWorkletGlobalScope names they use
 * (AudioWorkletProcessor, registerProcessor, sampleRate) are stubbed on globalThis.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { floatToPcm16Bytes, pcm16BytesToFloat } from "./pcm";
import {
  CAPTURE_PROCESSOR_NAME,
  PLAYBACK_PROCESSOR_NAME,
  type CaptureFrame,
  type PlaybackCommand,
  type PlaybackReport,
} from "./workletProtocol";

interface Processor {
  port: { onmessage: ((event: { data: unknown }) => void) | null };
  process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean;
}
type ProcessorClass = new (options: AudioWorkletNodeOptions) => Processor;

const posted: unknown[] = [];
const processors = new Map<string, ProcessorClass>();
const scope = globalThis as unknown as Record<string, unknown>;

beforeAll(async () => {
  scope["AudioWorkletProcessor"] = class {
    // postMessage copies what it is given, as a MessagePort does (the playback worklet reuses its report).
    readonly port = { onmessage: null, postMessage: (message: unknown) => posted.push(structuredClone(message)) };
  };
  scope["registerProcessor"] = (name: string, ctor: ProcessorClass) => processors.set(name, ctor);
  scope["sampleRate"] = 24000;
  await import("./capture.worklet");
  await import("./playback.worklet");
});

function create(name: string, rate: number, processorOptions: object): Processor {
  scope["sampleRate"] = rate;
  posted.length = 0;
  return new (processors.get(name)!)({ processorOptions });
}

function quantum(value: number): Float32Array {
  return new Float32Array(128).fill(value);
}

describe("capture worklet", () => {
  it("batches 128-sample quanta into 40 ms PCM16 frames of 1920 bytes", () => {
    const capture = create(CAPTURE_PROCESSOR_NAME, 24000, { frameSamples: 960 });
    for (let i = 0; i < 15; i++) expect(capture.process([[quantum(0.5)]], [])).toBe(true);
    const frames = posted as CaptureFrame[];
    expect(frames).toHaveLength(2); // 15 x 128 = 1920 samples = two frames of 960
    for (const frame of frames) {
      expect(frame.pcm.byteLength).toBe(1920);
      expect(frame.rms).toBeCloseTo(0.5, 5);
      expect(pcm16BytesToFloat(frame.pcm)[0]).toBeCloseTo(0.5, 3);
    }
  });

  it("resamples a 48 kHz context to 24 kHz: 40 ms frames after 80 ms of input", () => {
    const capture = create(CAPTURE_PROCESSOR_NAME, 48000, { frameSamples: 960 });
    for (let i = 0; i < 30; i++) capture.process([[quantum(0.25)]], []); // 3840 samples = 80 ms
    const frames = posted as CaptureFrame[];
    expect(frames.map((f) => f.pcm.byteLength)).toEqual([1920, 1920]);
  });

  it("keeps running without an input (track not connected yet)", () => {
    const capture = create(CAPTURE_PROCESSOR_NAME, 24000, { frameSamples: 960 });
    expect(capture.process([[]], [])).toBe(true);
    expect(capture.process([], [])).toBe(true);
    expect(posted).toHaveLength(0);
  });
});

describe("playback worklet", () => {
  function send(processor: Processor, command: PlaybackCommand) {
    processor.port.onmessage!({ data: command });
  }
  function render(processor: Processor): Float32Array {
    const out = new Float32Array(128).fill(9);
    processor.process([], [[out]]);
    return out;
  }
  const pcm = (samples: Float32Array): PlaybackCommand => ({ type: "pcm", samples: new DataView(floatToPcm16Bytes(samples)) });
  const reports = () => posted as PlaybackReport[];

  it("plays buffered samples, then silence, and reports what it played", () => {
    const playback = create(PLAYBACK_PROCESSOR_NAME, 24000, { capacitySeconds: 1, reportTotals: true });
    send(playback, pcm(new Float32Array(200).fill(0.5)));
    const first = render(playback);
    expect(first.every((x) => Math.abs(x - 0.5) < 1e-3)).toBe(true);
    const second = render(playback);
    expect(second.subarray(0, 72).every((x) => Math.abs(x - 0.5) < 1e-3)).toBe(true);
    expect(second.subarray(72).every((x) => x === 0)).toBe(true);
    expect(render(playback).every((x) => x === 0)).toBe(true);
    // reported when the buffer ran dry
    expect(reports().at(-1)).toEqual({ type: "played", playedSamples: 200, bufferedSamples: 0, droppedSamples: 0 });
  });

  it("clear drops everything buffered at once (barge-in)", () => {
    const playback = create(PLAYBACK_PROCESSOR_NAME, 24000, { capacitySeconds: 1, reportTotals: true });
    send(playback, pcm(new Float32Array(24000).fill(0.5)));
    render(playback);
    send(playback, { type: "clear" });
    expect(render(playback).every((x) => x === 0)).toBe(true);
    expect(reports().at(-1)).toEqual({ type: "played", playedSamples: 128, bufferedSamples: 0, droppedSamples: 0 });
  });

  it("counts the samples its ring buffer had no room for", () => {
    const playback = create(PLAYBACK_PROCESSOR_NAME, 24000, { capacitySeconds: 0.01, reportTotals: true }); // 240 samples
    send(playback, pcm(new Float32Array(300)));
    send(playback, { type: "clear" });
    expect(reports().at(-1)).toMatchObject({ droppedSamples: 60 });
  });

  it("sends no reports unless asked to (production: test hooks off)", () => {
    const playback = create(PLAYBACK_PROCESSOR_NAME, 24000, { capacitySeconds: 1, reportTotals: false });
    send(playback, pcm(new Float32Array(200).fill(0.5)));
    render(playback);
    render(playback);
    send(playback, { type: "clear" });
    expect(posted).toEqual([]);
  });

  it("resamples 24 kHz audio for a 48 kHz context", () => {
    const playback = create(PLAYBACK_PROCESSOR_NAME, 48000, { capacitySeconds: 1, reportTotals: true });
    send(playback, pcm(new Float32Array(240).fill(0.25)));
    for (let i = 0; i < 5; i++) render(playback);
    expect(Math.abs(reports().at(-1)!.playedSamples - 480)).toBeLessThanOrEqual(2);
  });

  describe("allocates nothing per frame or per render quantum", () => {
    it("(the check sees typed arrays made and views taken)", () => {
      expect(countTypedArraysCreated(() => new Float32Array(4).subarray(1))).toEqual(["Float32Array", ".subarray()"]);
    });


    // Long frames at 24 and 48 kHz, rendered until the buffer runs dry, with a clear between.
    for (const rate of [24000, 48000]) {
      it(`at ${rate} Hz`, () => {
        const playback = create(PLAYBACK_PROCESSOR_NAME, rate, { capacitySeconds: 1, reportTotals: true });
        const frames = [pcm(new Float32Array(1920).fill(0.25)), pcm(new Float32Array(4801).fill(-0.5))];
        const out = new Float32Array(128);
        const outputs = [[out]];
        const created = countTypedArraysCreated(() => {
          for (const frame of frames) send(playback, frame);
          for (let i = 0; i < 200; i++) playback.process([], outputs);
          send(playback, frames[0]!);
          send(playback, { type: "clear" });
        });
        expect(created).toEqual([]);
        expect(reports().at(-1)!.playedSamples).toBeGreaterThan(6000);
      });
    }
  });
});

/** Names of the typed arrays, buffers and views made (or sliced) while `run` runs. */
function countTypedArraysCreated(run: () => void): string[] {
  const made: string[] = [];
  const names = ["ArrayBuffer", "DataView", "Float32Array", "Float64Array", "Int16Array", "Uint8Array"] as const;
  const originals = names.map((name) => [name, scope[name]] as const);
  const typedArrayPrototype = Object.getPrototypeOf(Float32Array.prototype) as Record<string, unknown>;
  const views = ["subarray", "slice", "map", "filter"] as const;
  const originalViews = views.map((name) => [name, typedArrayPrototype[name]] as const);
  for (const [name, original] of originals) {
    scope[name] = new Proxy(original as object, {
      construct(target, args, newTarget) {
        made.push(name);
        return Reflect.construct(target as new (...a: unknown[]) => object, args, newTarget) as object;
      },
    });
  }
  for (const [name, original] of originalViews) {
    typedArrayPrototype[name] = function (this: unknown, ...args: unknown[]) {
      made.push(`.${name}()`);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
  try {
    run();
  } finally {
    for (const [name, original] of originals) scope[name] = original;
    for (const [name, original] of originalViews) typedArrayPrototype[name] = original;
  }
  return made;
}
