import { describe, expect, it } from "vitest";
import type { MicrophoneListener } from "../audio/microphone";
import { floatToPcm16Bytes } from "../audio/pcm";
import type { PlaybackReport } from "../audio/workletProtocol";
import type { ConnectionState } from "../protocol/relayClient";
import type { ConversationAction } from "../state/conversation";
import { FakeSocket } from "../testing/fakeSocket";
import { RelaySession, type MicState, type MicrophoneLike, type PlayerLike } from "./relaySession";

class FakePlayer implements PlayerLike {
  readonly ready = Promise.resolve();
  readonly sampleRate = 24000;
  readonly enqueued: ArrayBuffer[] = [];
  clears = 0;
  closed = false;
  constructor(readonly report: (r: PlaybackReport) => void) {}
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

function setup() {
  const sockets: FakeSocket[] = [];
  const players: FakePlayer[] = [];
  const mics: FakeMic[] = [];
  const actions: ConversationAction[] = [];
  const states: ConnectionState[] = [];
  const micStates: MicState[] = [];
  let micPermission: "granted" | "denied" = "granted";
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
  return { session, sockets, players, mics, actions, states, micStates, connect, denyMic };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("RelaySession", () => {
  it("plays received audio and counts its bytes", () => {
    const { session, players, connect } = setup();
    const socket = connect();
    socket.receive(new ArrayBuffer(4800));
    socket.receive(floatToPcm16Bytes(new Float32Array(480).fill(0.5)));
    expect(players[0]!.enqueued.map((b) => b.byteLength)).toEqual([4800, 960]);
    expect(session.hooks.receivedAudioBytes).toBe(5760);
    expect(session.hooks.peakReceivedRms).toBeCloseTo(0.5, 3);
    expect(session.hooks.state).toBe("connected");
  });

  it("clears playback at once on speech_started (barge-in)", () => {
    const { session, players, actions, connect } = setup();
    const socket = connect();
    socket.receive(new ArrayBuffer(4800));
    socket.receiveJson({ type: "control", action: "speech_started" });
    expect(players[0]!.clears).toBe(1);
    expect(session.hooks.playbackClears).toBe(1);
    expect(actions.at(-1)).toEqual({
      type: "server_message",
      message: { type: "control", action: "speech_started" },
    });
  });

  it("copies the playback worklet's reports into the test hooks", () => {
    const { session, players, connect } = setup();
    connect();
    players[0]!.report({ type: "played", playedSamples: 2400, bufferedSamples: 100, droppedSamples: 0 });
    expect(session.hooks.playedSamples).toBe(2400);
    expect(session.hooks.bufferedSamples).toBe(100);
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
    const { session, mics, micStates, connect } = setup();
    const socket = connect();
    session.toggleMic();
    await flush();
    expect(micStates).toEqual(["starting", "on"]);
    mics[0]!.listener.onLevel(0.2);
    mics[0]!.listener.onFrame(new ArrayBuffer(1920));
    expect(socket.sent.map((d) => (d instanceof ArrayBuffer ? d.byteLength : d))).toEqual([1920]);
    expect(session.hooks.sentAudioBytes).toBe(1920);
    expect(session.hooks.sentAudioFrames).toBe(1);
    expect(session.hooks.peakInputRms).toBe(0.2);
    session.toggleMic();
    expect(mics[0]!.closed).toBe(true);
    expect(micStates.at(-1)).toBe("off");
  });

  it("reports a refused microphone as an error line", async () => {
    const { session, actions, micStates, connect, denyMic } = setup();
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
    const { session, players, mics, actions, connect } = setup();
    const socket = connect();
    session.toggleMic();
    await flush();
    socket.serverClose(1011, "upstream_unavailable");
    expect(mics[0]!.closed).toBe(true);
    expect(players[0]!.closed).toBe(false);
    expect(session.hooks).toMatchObject({ state: "closed", closeCode: 1011 });
    expect(actions.at(-1)).toEqual({
      type: "status",
      text: "Disconnected: upstream failure (1011): upstream_unavailable.",
    });
  });

  it("disconnect stops playback and closes normally; a new connect starts fresh", () => {
    const { session, sockets, players, connect } = setup();
    const socket = connect();
    socket.receive(new ArrayBuffer(100));
    session.disconnect();
    expect(players[0]!.closed).toBe(true);
    expect(socket.closedWith).toEqual([1000, "client disconnected"]);
    socket.serverClose(1000);
    connect();
    expect(sockets).toHaveLength(2);
    expect(session.hooks.receivedAudioBytes).toBe(0);
    expect(session.hooks.state).toBe("connected");
  });

  it("refuses an endpoint that is not a WebSocket URL", () => {
    const { session, sockets, actions } = setup();
    session.connect("http://relay/realtime");
    expect(sockets).toHaveLength(0);
    expect(actions.at(-1)).toMatchObject({ type: "local_error", code: "bad_endpoint" });
  });
});
