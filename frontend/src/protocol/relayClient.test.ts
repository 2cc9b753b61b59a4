import { describe, expect, it } from "vitest";
import type { ServerMessage } from "./messages";
import { FakeSocket } from "../testing/fakeSocket";
import { RelayClient, type ConnectionState } from "./relayClient";

function setup() {
  const states: ConnectionState[] = [];
  const messages: ServerMessage[] = [];
  const audio: ArrayBuffer[] = [];
  const problems: string[] = [];
  let socket: FakeSocket | null = null;
  const client = new RelayClient(
    {
      onStateChange: (s) => states.push(s),
      onMessage: (m) => messages.push(m),
      onAudio: (a) => audio.push(a),
      onProtocolProblem: (p) => problems.push(p),
    },
    (url) => (socket = new FakeSocket(url)),
  );
  client.connect("ws://relay/realtime");
  return { client, socket: socket as unknown as FakeSocket, states, messages, audio, problems };
}

const CONNECTED = '{"type":"control","action":"connected","greeting":"Hello"}';

describe("RelayClient", () => {
  it("is connecting until the relay says connected, and receives binary frames as ArrayBuffers", () => {
    const { client, socket, states } = setup();
    expect(socket.binaryType).toBe("arraybuffer");
    socket.open();
    expect(client.connectionState.status).toBe("connecting");
    socket.receive(CONNECTED);
    expect(states.map((s) => s.status)).toEqual(["connecting", "connected"]);
  });

  it("does not send user messages before the session is connected", () => {
    const { client, socket } = setup();
    socket.open();
    expect(client.sendUserMessage("too early")).toBe(false);
    socket.receive(CONNECTED);
    expect(client.sendUserMessage("hello")).toBe(true);
    expect(socket.sent).toEqual(['{"type":"user_message","text":"hello"}']);
  });

  it("passes messages and audio on, ignores unknown types, reports malformed frames", () => {
    const { socket, messages, audio, problems } = setup();
    socket.open();
    socket.receive(CONNECTED);
    socket.receive('{"type":"something_new"}');
    socket.receive("{oops");
    socket.receive(new ArrayBuffer(4));
    expect(messages).toHaveLength(1);
    expect(audio.map((a) => a.byteLength)).toEqual([4]);
    expect(problems).toEqual(["not valid JSON"]);
  });

  it("drops the odd byte of an odd-length audio frame and says so", () => {
    const { socket, audio, problems } = setup();
    socket.open();
    socket.receive(new ArrayBuffer(5));
    expect(audio.map((a) => a.byteLength)).toEqual([4]);
    expect(problems[0]).toMatch(/odd-length/);
  });

  it("sends even-length audio frames only while connected", () => {
    const { client, socket } = setup();
    socket.open();
    expect(client.sendAudio(new ArrayBuffer(1920))).toBe(false);
    socket.receive(CONNECTED);
    expect(client.sendAudio(new ArrayBuffer(1920))).toBe(true);
    expect(() => client.sendAudio(new ArrayBuffer(3))).toThrow(RangeError);
    expect(socket.sent).toHaveLength(1);
  });

  it("drops microphone frames while the socket's send buffer is full", () => {
    const { client, socket } = setup();
    socket.open();
    socket.receive(CONNECTED);
    socket.bufferedAmount = 2 << 20;
    expect(client.sendAudio(new ArrayBuffer(1920))).toBe(false);
    expect(client.droppedAudioBytes).toBe(1920);
  });

  it("reports the relay's close code and reason", () => {
    const { socket, states } = setup();
    socket.open();
    socket.serverClose(1011, "upstream_unavailable");
    expect(states.at(-1)).toEqual({
      status: "closed",
      code: 1011,
      reason: "upstream_unavailable",
      everOpened: true,
      byClient: false,
    });
  });

  it("knows when the socket never opened", () => {
    const { socket, states } = setup();
    socket.serverClose(1006);
    expect(states.at(-1)).toMatchObject({ status: "closed", code: 1006, everOpened: false });
  });

  it("disconnect closes normally and goes through closing", () => {
    const { client, socket, states } = setup();
    socket.open();
    socket.receive(CONNECTED);
    client.disconnect();
    expect(socket.closedWith).toEqual([1000, "client disconnected"]);
    socket.serverClose(1000);
    expect(states.map((s) => s.status)).toEqual(["connecting", "connected", "closing", "closed"]);
    expect(states.at(-1)).toMatchObject({ byClient: true });
  });
});
