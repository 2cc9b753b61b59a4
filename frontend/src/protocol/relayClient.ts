/**
 * A small wrapper around one WebSocket to the relay: typed messages in, audio frames both ways,
 * and a connection state that says why it closed. It knows nothing about React or audio
 * devices; the socket is created through a factory so tests can hand it a fake.
 */

import { parseServerMessage, serializeUserMessage, type ServerMessage } from "./messages";

/** `connecting` lasts until the relay's `connected` message: only then is the session usable. */
export type ConnectionState =
  | { readonly status: "idle" }
  | { readonly status: "connecting" }
  | { readonly status: "connected" }
  /** This side asked for a close and waits for the relay to confirm it. */
  | { readonly status: "closing" }
  | {
      readonly status: "closed";
      readonly code: number;
      readonly reason: string;
      /** False when the socket never opened: the relay could not be reached or refused us. */
      readonly everOpened: boolean;
      /** True when this side asked for the close (the Disconnect button). */
      readonly byClient: boolean;
    };

export interface RelayClientListener {
  onStateChange(state: ConnectionState): void;
  onMessage(message: ServerMessage): void;
  /** One binary frame: PCM16 little-endian, 24 kHz mono. */
  onAudio(pcm: ArrayBuffer): void;
  /** The relay sent a frame this client could not read; the session goes on. */
  onProtocolProblem(reason: string): void;
}

/** The part of the browser's WebSocket this client uses. */
export interface SocketLike {
  binaryType: BinaryType;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  send(data: string | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => SocketLike;

const OPEN = 1;
/** Microphone frames are dropped, not queued, while this much is still unsent (a stalled link). */
const MAX_BUFFERED_AUDIO_BYTES = 1 << 20;

export class RelayClient {
  private socket: SocketLike | null = null;
  private state: ConnectionState = { status: "idle" };
  private everOpened = false;
  private closeRequested = false;
  /** Microphone bytes dropped because the socket's send buffer was full. */
  droppedAudioBytes = 0;

  constructor(
    private readonly listener: RelayClientListener,
    private readonly createSocket: SocketFactory = (url) => new WebSocket(url),
  ) {}

  get connectionState(): ConnectionState {
    return this.state;
  }

  /** Opens the socket. Throws (synchronously) if the URL is unusable; the state stays as it was. */
  connect(url: string): void {
    if (this.socket) throw new Error("RelayClient.connect called twice");
    const socket = this.createSocket(url);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.onopen = () => {
      this.everOpened = true;
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = (event) => this.closed(event.code, event.reason);
    // An error is always followed by a close event, which carries the code; nothing to do here.
    socket.onerror = null;
    this.setState({ status: "connecting" });
  }

  /** Closes the session normally (1000). */
  disconnect(): void {
    if (!this.socket || this.state.status === "closed" || this.state.status === "closing") return;
    this.closeRequested = true;
    this.socket.close(1000, "client disconnected");
    this.setState({ status: "closing" });
  }

  /** Sends a user text turn. Returns false when the session is not connected. */
  sendUserMessage(text: string, id?: string): boolean {
    if (!this.isUsable() || !this.socket) return false;
    this.socket.send(serializeUserMessage(text, id));
    return true;
  }

  /** Sends one microphone frame (PCM16 LE, 24 kHz). Returns false if it was not sent. */
  sendAudio(pcm: ArrayBuffer): boolean {
    if (pcm.byteLength % 2 !== 0) throw new RangeError("PCM16 frames must have an even length");
    if (!this.isUsable() || !this.socket) return false;
    if (this.socket.bufferedAmount > MAX_BUFFERED_AUDIO_BYTES) {
      this.droppedAudioBytes += pcm.byteLength;
      return false;
    }
    this.socket.send(pcm);
    return true;
  }

  private isUsable(): boolean {
    return this.state.status === "connected" && this.socket?.readyState === OPEN;
  }

  private receive(data: unknown): void {
    if (data instanceof ArrayBuffer) {
      if (data.byteLength % 2 !== 0) {
        this.listener.onProtocolProblem(`odd-length audio frame (${data.byteLength} bytes); last byte dropped`);
        if (data.byteLength > 1) this.listener.onAudio(data.slice(0, data.byteLength - 1));
        return;
      }
      this.listener.onAudio(data);
      return;
    }
    if (typeof data !== "string") {
      this.listener.onProtocolProblem("unexpected frame kind");
      return;
    }
    const result = parseServerMessage(data);
    switch (result.kind) {
      case "message":
        const isGreeting = result.message.type === "control" && result.message.action === "connected";
        if (isGreeting && this.state.status === "connecting") {
          this.setState({ status: "connected" });
        }
        this.listener.onMessage(result.message);
        return;
      case "malformed":
        this.listener.onProtocolProblem(result.reason);
        return;
      case "ignored":
        return;
    }
  }

  private closed(code: number, reason: string): void {
    if (this.socket) {
      this.socket.onopen = this.socket.onmessage = this.socket.onclose = null;
    }
    this.setState({
      status: "closed",
      code,
      reason,
      everOpened: this.everOpened,
      byClient: this.closeRequested,
    });
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    this.listener.onStateChange(state);
  }
}
