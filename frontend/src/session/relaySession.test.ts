import { describe, expect, it } from "vitest";
import type { MicrophoneListener } from "../audio/microphone";
import { floatToPcm16Bytes } from "../audio/pcm";
import type { PlaybackReport } from "../audio/workletProtocol";
import type { ConnectionState } from "../protocol/relayClient";
import type { ConversationAction } from "../state/conversation";
import { FakeSocket } from "../testing/fakeSocket";
import type { DeveloperConsole } from "./developerLog";
import { RelaySession, type MicState, type MicrophoneLike, type PlayerLike } from "./relaySession";
import { createTestHooks } from "./testHooks";

class FakePlayer implements PlayerLike {
  readonly ready = Promise.resolve();
  readonly sampleRate = 24000;
  readonly enqueued: ArrayBuffer[] = [];
  clears = 0;
  closed = false;
  constructor(readonly report: ((r: PlaybackReport) => void) | null) {}
  enqueue(pcm: ArrayBuffer): void {
    this.enqueued.push(pcm);
  }
  clear(): void {
    this.clears++;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

class FakeMic implements MicrophoneLike {
  readonly sampleRate = 24000;
  closed = false;
  constructor(readonly listener: MicrophoneListener) {}
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** What the session wrote to the console, as [level, first argument] pairs. */
class ConsoleRecorder implements DeveloperConsole {
  readonly lines: [string, string][] = [];
  error = (message: unknown) => void this.lines.push(["error", String(message)]);
  warn = (message: unknown) => void this.lines.push(["warn", String(message)]);
  info = (message: unknown) => void this.lines.push(["info", String(message)]);
}

function setup({ testHooks = true } = {}) {
  const sockets: FakeSocket[] = [];
  const players: FakePlayer[] = [];
  const mics: FakeMic[] = [];
  const actions: ConversationAction[] = [];
  const states: ConnectionState[] = [];
  const micStates: MicState[] = [];
  let micPermission: "granted" | "denied" = "granted";
  const log = new ConsoleRecorder();
  const session = new RelaySession(
    {
      onConnectionChange: (s) => states.push(s),
      onConversation: (a) => actions.push(a),
      onMicChange: (m) => micStates.push(m),
      onInputLevel: () => undefined,
    },
    {
      createSocket: (url) => {
        const socket = new FakeSocket(url);
        sockets.push(socket);
        return socket;
      },
      createPlayer: (report) => {
        const player = new FakePlayer(report);
        players.push(player);
        return player;
      },
      openMicrophone: async (listener) => {
        if (micPermission === "denied") throw new DOMException("denied", "NotAllowedError");
        const mic = new FakeMic(listener);
        mics.push(mic);
        return mic;
      },
      hooks: testHooks ? createTestHooks() : null,
      log,
    },
  );
  const connect = () => {
    session.connect("ws://relay/realtime");
    const socket = sockets.at(-1)!;
    socket.open();
    socket.receiveJson({ type: "control", action: "connected", greeting: "Hi" });
    return socket;
  };
  const denyMic = () => (micPermission = "denied");
  const hooks = () => session.hooks!;
  return { session, hooks, log, sockets, players, mics, actions, states, micStates, connect, denyMic };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("RelaySession", () => {
  it("plays received audio and counts its bytes", () => {
    const { hooks, players, connect } = setup();
    const socket = connect();
    socket.receive(new ArrayBuffer(4800));
    socket.receive(floatToPcm16Bytes(new Float32Array(480).fill(0.5)));
    expect(players[0]!.enqueued.map((b) => b.byteLength)).toEqual([4800, 960]);
    expect(hooks().receivedAudioBytes).toBe(5760);
    expect(hooks().peakReceivedRms).toBeCloseTo(0.5, 3);
    expect(hooks().state).toBe("connected");
  });

  it("clears playback at once on speech_started (barge-in)", () => {
    const { hooks, players, actions, connect } = setup();
    const socket = connect();
    socket.receive(new ArrayBuffer(4800));
    socket.receiveJson({ type: "control", action: "speech_started" });
    expect(players[0]!.clears).toBe(1);
    expect(hooks().playbackClears).toBe(1);
    expect(actions.at(-1)).toEqual({
      type: "server_message",
      message: { type: "control", action: "speech_started" },
    });
  });

  it("copies the playback worklet's reports into the test hooks", () => {
    const { hooks, players, connect } = setup();
    connect();
    players[0]!.report!({ type: "played", playedSamples: 2400, bufferedSamples: 100, droppedSamples: 0 });
    expect(hooks().playedSamples).toBe(2400);
    expect(hooks().bufferedSamples).toBe(100);
  });

  it("sends typed text only when connected, trimmed, and without id", () => {
    const { session, sockets, actions, connect } = setup();
    expect(session.sendText("hello")).toBe(false);
    const socket = connect();
    expect(session.sendText("   ")).toBe(false);
    expect(session.sendText("  hello  ")).toBe(true);
    expect(socket.sent).toEqual(['{"type":"user_message","text":"hello"}']);
    expect(actions.at(-1)).toEqual({ type: "user_typed", text: "hello" });
    expect(sockets).toHaveLength(1);
  });

  it("sends microphone frames as binary and counts them", async () => {
    const { session, hooks, mics, micStates, connect } = setup();
    const socket = connect();
    session.toggleMic();
    await flush();
    expect(micStates).toEqual(["starting", "on"]);
    mics[0]!.listener.onLevel(0.2);
    mics[0]!.listener.onFrame(new ArrayBuffer(1920));
    expect(socket.sent.map((d) => (d instanceof ArrayBuffer ? d.byteLength : d))).toEqual([1920]);
    expect(hooks().sentAudioBytes).toBe(1920);
    expect(hooks().sentAudioFrames).toBe(1);
    expect(hooks().peakInputRms).toBe(0.2);
    session.toggleMic();
    expect(mics[0]!.closed).toBe(true);
    expect(micStates.at(-1)).toBe("off");
  });

  it("reports a refused microphone as an error line", async () => {
    const { session, actions, log, micStates, connect, denyMic } = setup();
    connect();
    denyMic();
    session.toggleMic();
    await flush();
    expect(micStates).toEqual(["starting", "off"]);
    expect(actions.at(-1)).toEqual({
      type: "local_error",
      code: "microphone_unavailable",
      text: "Microphone permission was refused.",
    });
    expect(log.lines.at(-1)).toEqual(["error", "[trio-relay] microphone_unavailable"]);
  });

  it("closes a microphone that finished opening after it was turned off", async () => {
    const { session, mics, micStates, connect } = setup();
    connect();
    session.toggleMic();
    session.toggleMic(); // off again while the permission prompt is open
    await flush();
    expect(mics[0]!.closed).toBe(true);
    expect(micStates).toEqual(["starting", "off"]);
  });

  it("on a relay close: stops the mic, keeps playing, and says why", async () => {
    const { session, hooks, log, players, mics, actions, connect } = setup();
    const socket = connect();
    session.toggleMic();
    await flush();
    socket.serverClose(1011, "The voice service is unavailable right now.");
    expect(mics[0]!.closed).toBe(true);
    expect(players[0]!.closed).toBe(false);
    expect(hooks()).toMatchObject({ state: "closed", closeCode: 1011 });
    expect(actions.slice(-2)).toEqual([
      { type: "microphone_off" },
      { type: "connection_ended", code: 1011, everOpened: true, byClient: false },
    ]);
    // The detail is for the developer, in the console.
    expect(log.lines.at(-1)).toEqual([
      "error",
      "[trio-relay] connection closed: upstream failure (1011): The voice service is unavailable right now.",
    ]);
  });

  it("puts no connection or microphone state into the conversation: the header shows it", async () => {
    const { session, actions, connect } = setup();
    const socket = connect();
    session.toggleMic();
    await flush();
    session.toggleMic();
    session.disconnect();
    socket.serverClose(1000);
    expect(actions.map((a) => a.type)).toEqual(["server_message", "microphone_off", "connection_ended"]);
  });

  it("logs the relay's errors and tool calls with their codes for the developer", () => {
    const { log, connect } = setup();
    const socket = connect();
    socket.receiveJson({ type: "error", code: "upstream_unavailable", message: "Try again." });
    socket.receiveJson({ type: "tool_call", id: "c1", name: "get_time", status: "started", arguments: { zone: "UTC" } });
    expect(log.lines.slice(-2)).toEqual([
      ["error", "[trio-relay] relay error upstream_unavailable: Try again."],
      ["info", "[trio-relay] tool call c1 get_time: started"],
    ]);
  });

  it("says once per connection that a frame could not be read, and logs each", () => {
    const { session, actions, log, sockets, connect } = setup();
    const socket = connect();
    socket.receive("{not json");
    socket.receive('{"type":"text_delta"}');
    expect(actions.filter((a) => a.type === "local_error")).toEqual([
      { type: "local_error", code: "protocol", text: "Part of the conversation could not be shown." },
    ]);
    expect(log.lines.filter(([level]) => level === "warn")).toHaveLength(2);
    session.disconnect();
    socket.serverClose(1000);
    connect();
    sockets.at(-1)!.receive("{not json");
    expect(actions.filter((a) => a.type === "local_error")).toHaveLength(2);
  });

  it("without test hooks (production) plays audio but measures nothing for them", () => {
    const { session, players, connect } = setup({ testHooks: false });
    const socket = connect();
    socket.receive(floatToPcm16Bytes(new Float32Array(480).fill(0.5)));
    expect(players[0]!.enqueued.map((b) => b.byteLength)).toEqual([960]);
    expect(players[0]!.report).toBeNull(); // the worklet is asked for no reports
    expect(session.hooks).toBeNull();
  });

  it("disconnect stops playback and closes normally; a new connect starts fresh", () => {
    const { session, hooks, sockets, players, connect } = setup();
    const socket = connect();
    socket.receive(new ArrayBuffer(100));
    session.disconnect();
    expect(players[0]!.closed).toBe(true);
    expect(socket.closedWith).toEqual([1000, "client disconnected"]);
    socket.serverClose(1000);
    connect();
    expect(sockets).toHaveLength(2);
    expect(hooks().receivedAudioBytes).toBe(0);
    expect(hooks().state).toBe("connected");
  });

  it("refuses an endpoint that is not a WebSocket URL", () => {
    const { session, sockets, actions } = setup();
    session.connect("http://relay/realtime");
    expect(sockets).toHaveLength(0);
    expect(actions.at(-1)).toMatchObject({ type: "local_error", code: "bad_endpoint" });
  });
});
