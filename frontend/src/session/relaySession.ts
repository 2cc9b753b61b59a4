/**
 * One conversation with the relay: the RelayClient, the audio player and the microphone, wired
 * together. It turns what happens into listener calls (connection state, conversation actions,
 * microphone state) and keeps the test counters. No React here; `useRelaySession` adapts it.
 *
 * Devices and sockets come from factories (`useRelaySession` passes the real ones), so tests
 * run it against fakes.
 */

import type { MicrophoneListener } from "../audio/microphone";
import { pcm16BytesToFloat, rms } from "../audio/pcm";
import type { PlaybackReport } from "../audio/workletProtocol";
import { describeClose } from "../protocol/closeCodes";
import { endpointProblem } from "../protocol/endpoint";
import type { ServerMessage } from "../protocol/messages";
import { RelayClient, type ConnectionState, type SocketFactory } from "../protocol/relayClient";
import type { ConversationAction } from "../state/conversation";
import { createTestHooks, resetTestHooks, type RelayTestHooks } from "./testHooks";

export type MicState = "off" | "starting" | "on";

export interface RelaySessionListener {
  onConnectionChange(state: ConnectionState): void;
  onConversation(action: ConversationAction): void;
  onMicChange(state: MicState): void;
  /** RMS of the latest microphone frame (0..1). */
  onInputLevel(rms: number): void;
}

/** What the session needs from a player (AudioPlayer, or a fake in tests). */
export interface PlayerLike {
  readonly ready: Promise<void>;
  readonly sampleRate: number;
  enqueue(pcm: ArrayBuffer): void;
  clear(): void;
  close(): Promise<void>;
}

export interface MicrophoneLike {
  readonly sampleRate: number;
  close(): Promise<void>;
}

export interface RelaySessionDeps {
  readonly createSocket?: SocketFactory;
  /** Called from `connect`, i.e. within the user's click. */
  readonly createPlayer: (onReport: (report: PlaybackReport) => void) => PlayerLike;
  readonly openMicrophone: (listener: MicrophoneListener) => Promise<MicrophoneLike>;
  readonly hooks?: RelayTestHooks;
}

function errorText(error: unknown): string {
  if (error instanceof DOMException || error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

function microphoneProblem(error: unknown): string {
  if (error instanceof DOMException && error.name === "NotAllowedError") {
    return "Microphone permission was refused.";
  }
  if (error instanceof DOMException && error.name === "NotFoundError") return "No microphone was found.";
  if (typeof navigator !== "undefined" && !navigator.mediaDevices) {
    return "The microphone needs a secure page (https or localhost).";
  }
  return `The microphone could not start (${errorText(error)}).`;
}

export class RelaySession {
  private client: RelayClient | null = null;
  private player: PlayerLike | null = null;
  private mic: MicrophoneLike | null = null;
  private micState: MicState = "off";
  /** Bumped whenever the microphone is turned off, so a late `open` knows it is unwanted. */
  private micGeneration = 0;
  readonly hooks: RelayTestHooks;
  private readonly createSocket: SocketFactory | undefined;
  private readonly createPlayer: (onReport: (report: PlaybackReport) => void) => PlayerLike;
  private readonly openMicrophone: (listener: MicrophoneListener) => Promise<MicrophoneLike>;

  constructor(
    private readonly listener: RelaySessionListener,
    deps: RelaySessionDeps,
  ) {
    this.hooks = deps.hooks ?? createTestHooks();
    this.createSocket = deps.createSocket;
    this.createPlayer = deps.createPlayer;
    this.openMicrophone = deps.openMicrophone;
  }

  /** True while a connection is being made, is up, or is closing. */
  get busy(): boolean {
    return this.client !== null;
  }

  /** Starts a connection. Call it from a click: the audio player is created here (autoplay policy). */
  connect(endpoint: string): void {
    if (this.client) return;
    const problem = endpointProblem(endpoint);
    if (problem) {
      this.conversation({ type: "local_error", code: "bad_endpoint", text: `Cannot connect: ${problem}.` });
      return;
    }
    this.closePlayer();
    resetTestHooks(this.hooks);
    this.player = this.startPlayer();

    const client = new RelayClient(
      {
        onStateChange: (state) => this.connectionChanged(client, state),
        onMessage: (message) => this.received(message),
        onAudio: (pcm) => this.receivedAudio(pcm),
        onProtocolProblem: (reason) =>
          this.conversation({ type: "local_error", code: "protocol", text: `Unreadable message from the relay: ${reason}` }),
      },
      this.createSocket,
    );
    this.client = client;
    this.conversation({ type: "status", text: `Connecting to ${endpoint}…` });
    try {
      client.connect(endpoint);
    } catch (error) {
      this.client = null;
      this.closePlayer();
      this.conversation({ type: "local_error", code: "bad_endpoint", text: `Cannot connect: ${errorText(error)}` });
    }
  }

  /** Ends the session normally; playback stops at once. */
  disconnect(): void {
    this.stopMic();
    this.closePlayer();
    this.client?.disconnect();
  }

  /** Sends a typed turn; returns false (and sends nothing) if it is empty or not connected. */
  sendText(text: string): boolean {
    const trimmed = text.trim();
    if (!trimmed || !this.client?.sendUserMessage(trimmed)) return false;
    this.conversation({ type: "user_typed", text: trimmed });
    return true;
  }

  toggleMic(): void {
    if (this.micState === "off") void this.startMic();
    else this.stopMic();
  }

  /** Releases everything (the page is going away). */
  dispose(): void {
    this.disconnect();
  }

  private startPlayer(): PlayerLike {
    const player = this.createPlayer((report) => {
      this.hooks.playedSamples = report.playedSamples;
      this.hooks.bufferedSamples = report.bufferedSamples;
      this.hooks.droppedSamples = report.droppedSamples;
    });
    this.hooks.playbackSampleRate = player.sampleRate;
    player.ready.catch((error: unknown) =>
      this.conversation({
        type: "local_error",
        code: "audio_unavailable",
        text: `Assistant audio cannot be played (${errorText(error)}).`,
      }),
    );
    return player;
  }

  private closePlayer(): void {
    void this.player?.close();
    this.player = null;
  }

  private connectionChanged(client: RelayClient, state: ConnectionState): void {
    if (client !== this.client) return;
    this.hooks.state = state.status;
    if (state.status === "connected") this.conversation({ type: "status", text: "Connected." });
    if (state.status === "closed") {
      this.client = null;
      this.hooks.closeCode = state.code;
      this.stopMic();
      // A close the user asked for stops playback; otherwise the last words may still play out.
      if (state.byClient) this.closePlayer();
      this.conversation({
        type: "status",
        text: `Disconnected: ${describeClose(state.code, state.reason, state.everOpened)}.`,
      });
    }
    this.listener.onConnectionChange(state);
  }

  private received(message: ServerMessage): void {
    if (message.type === "control" && message.action === "speech_started") {
      // Barge-in: the user talks over the assistant, so what is still buffered must not play.
      this.player?.clear();
      this.hooks.playbackClears++;
    }
    this.conversation({ type: "server_message", message });
  }

  private receivedAudio(pcm: ArrayBuffer): void {
    this.hooks.receivedAudioBytes += pcm.byteLength;
    // Measured before the player takes the buffer (it is transferred to the worklet).
    const level = rms(pcm16BytesToFloat(pcm));
    if (level > this.hooks.peakReceivedRms) this.hooks.peakReceivedRms = level;
    this.player?.enqueue(pcm);
  }

  private async startMic(): Promise<void> {
    if (this.client?.connectionState.status !== "connected") return;
    const generation = this.micGeneration;
    this.setMicState("starting");
    let mic: MicrophoneLike;
    try {
      mic = await this.openMicrophone({
        onFrame: (pcm) => {
          const bytes = pcm.byteLength;
          if (this.client?.sendAudio(pcm)) {
            this.hooks.sentAudioBytes += bytes;
            this.hooks.sentAudioFrames++;
          }
        },
        onLevel: (level) => {
          this.hooks.inputRms = level;
          this.hooks.peakInputRms = Math.max(this.hooks.peakInputRms, level);
          this.listener.onInputLevel(level);
        },
      });
    } catch (error) {
      if (generation !== this.micGeneration) return;
      this.setMicState("off");
      this.conversation({ type: "local_error", code: "microphone_unavailable", text: microphoneProblem(error) });
      return;
    }
    if (generation !== this.micGeneration) {
      // Turned off (or disconnected) while the permission prompt was open.
      void mic.close();
      return;
    }
    this.mic = mic;
    this.hooks.captureSampleRate = mic.sampleRate;
    this.setMicState("on");
    this.conversation({ type: "status", text: "Microphone on." });
  }

  private stopMic(): void {
    if (this.micState === "off") return;
    this.micGeneration++;
    const wasOn = this.micState === "on";
    void this.mic?.close();
    this.mic = null;
    this.setMicState("off");
    this.hooks.inputRms = 0;
    this.listener.onInputLevel(0);
    if (wasOn) this.conversation({ type: "status", text: "Microphone off." });
  }

  private setMicState(state: MicState): void {
    this.micState = state;
    this.listener.onMicChange(state);
  }

  private conversation(action: ConversationAction): void {
    this.listener.onConversation(action);
  }
}
