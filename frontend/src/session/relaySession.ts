/**
 * One conversation with the relay: the RelayClient, the audio player and the microphone, wired
 * together. It turns what happens into listener calls (connection state, conversation actions,
 * microphone state), logs the detail for the developer, and keeps the test counters when the
 * page runs with test hooks. No React here; `useRelaySession` adapts it.
 *
 * Devices and sockets come from factories (`useRelaySession` passes the real ones), so tests
 * run it against fakes. Without test hooks (production) nothing is measured for them: no RMS of
 * the assistant's audio, no playback reports from the worklet.
 */

import type { MicrophoneListener } from "../audio/microphone";
import { pcm16BytesToFloat, rms } from "../audio/pcm";
import type { PlaybackReport } from "../audio/workletProtocol";
import { endpointProblem } from "../protocol/endpoint";
import type { ServerMessage } from "../protocol/messages";
import { RelayClient, type ConnectionState, type SocketFactory } from "../protocol/relayClient";
import type { ConversationAction } from "../state/conversation";
import {
  logConnectionChange,
  logLocalProblem,
  logProtocolProblem,
  logServerMessage,
  type DeveloperConsole,
} from "./developerLog";
import { microphoneProblem } from "./localProblems";
import { resetTestHooks, type RelayTestHooks } from "./testHooks";

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
  /**
   * Called from `connect`, i.e. within the user's click. `onReport` is null without test hooks:
   * then the player asks its worklet for no reports.
   */
  readonly createPlayer: (onReport: ((report: PlaybackReport) => void) | null) => PlayerLike;
  readonly openMicrophone: (listener: MicrophoneListener) => Promise<MicrophoneLike>;
  /** The counters of `window.__relayTest`; absent or null in production. */
  readonly hooks?: RelayTestHooks | null;
  /** Where the developer detail goes (default: the browser console). */
  readonly log?: DeveloperConsole;
}

export class RelaySession {
  private client: RelayClient | null = null;
  private player: PlayerLike | null = null;
  private mic: MicrophoneLike | null = null;
  private micState: MicState = "off";
  /** Bumped whenever the microphone is turned off, so a late `open` knows it is unwanted. */
  private micGeneration = 0;
  /** Whether this connection already said that a frame could not be read (once is enough). */
  private protocolProblemShown = false;
  private endpoint = "";
  readonly hooks: RelayTestHooks | null;
  private readonly log: DeveloperConsole;
  private readonly createSocket: SocketFactory | undefined;
  private readonly createPlayer: (onReport: ((report: PlaybackReport) => void) | null) => PlayerLike;
  private readonly openMicrophone: (listener: MicrophoneListener) => Promise<MicrophoneLike>;

  constructor(
    private readonly listener: RelaySessionListener,
    deps: RelaySessionDeps,
  ) {
    this.hooks = deps.hooks ?? null;
    this.log = deps.log ?? console;
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
    if (this.hooks) resetTestHooks(this.hooks);
    this.player = this.startPlayer();
    this.endpoint = endpoint;
    this.protocolProblemShown = false;

    const client = new RelayClient(
      {
        onStateChange: (state) => this.connectionChanged(client, state),
        onMessage: (message) => this.received(message),
        onAudio: (pcm) => this.receivedAudio(pcm),
        onProtocolProblem: (reason) => this.protocolProblem(reason),
      },
      this.createSocket,
    );
    this.client = client;
    try {
      client.connect(endpoint);
    } catch (error) {
      this.client = null;
      this.closePlayer();
      logLocalProblem(this.log, "bad_endpoint", error);
      this.conversation({ type: "local_error", code: "bad_endpoint", text: "Cannot connect to this address." });
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
    const hooks = this.hooks;
    const player = this.createPlayer(
      hooks &&
        ((report) => {
          hooks.playedSamples = report.playedSamples;
          hooks.bufferedSamples = report.bufferedSamples;
          hooks.droppedSamples = report.droppedSamples;
        }),
    );
    if (hooks) hooks.playbackSampleRate = player.sampleRate;
    player.ready.catch((error: unknown) => {
      logLocalProblem(this.log, "audio_unavailable", error);
      this.conversation({
        type: "local_error",
        code: "audio_unavailable",
        text: "The assistant's voice cannot be played in this browser.",
      });
    });
    return player;
  }

  private closePlayer(): void {
    void this.player?.close();
    this.player = null;
  }

  private connectionChanged(client: RelayClient, state: ConnectionState): void {
    if (client !== this.client) return;
    logConnectionChange(this.log, this.endpoint, state);
    if (this.hooks) this.hooks.state = state.status;
    if (state.status === "closed") {
      this.client = null;
      if (this.hooks) this.hooks.closeCode = state.code;
      this.stopMic();
      // A close the user asked for stops playback; otherwise the last words may still play out.
      if (state.byClient) this.closePlayer();
      this.conversation({
        type: "connection_ended",
        code: state.code,
        everOpened: state.everOpened,
        byClient: state.byClient,
      });
    }
    this.listener.onConnectionChange(state);
  }

  private received(message: ServerMessage): void {
    logServerMessage(this.log, message);
    if (message.type === "control" && message.action === "speech_started") {
      // Barge-in: the user talks over the assistant, so what is still buffered must not play.
      this.player?.clear();
      if (this.hooks) this.hooks.playbackClears++;
    }
    this.conversation({ type: "server_message", message });
  }

  private protocolProblem(reason: string): void {
    logProtocolProblem(this.log, reason);
    if (this.protocolProblemShown) return;
    this.protocolProblemShown = true;
    this.conversation({ type: "local_error", code: "protocol", text: "Part of the conversation could not be shown." });
  }

  private receivedAudio(pcm: ArrayBuffer): void {
    const hooks = this.hooks;
    if (hooks) {
      hooks.receivedAudioBytes += pcm.byteLength;
      // Measured before the player takes the buffer (it is transferred to the worklet).
      const level = rms(pcm16BytesToFloat(pcm));
      if (level > hooks.peakReceivedRms) hooks.peakReceivedRms = level;
    }
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
          if (this.client?.sendAudio(pcm) && this.hooks) {
            this.hooks.sentAudioBytes += bytes;
            this.hooks.sentAudioFrames++;
          }
        },
        onLevel: (level) => {
          if (this.hooks) {
            this.hooks.inputRms = level;
            this.hooks.peakInputRms = Math.max(this.hooks.peakInputRms, level);
          }
          this.listener.onInputLevel(level);
        },
      });
    } catch (error) {
      if (generation !== this.micGeneration) return;
      this.setMicState("off");
      logLocalProblem(this.log, "microphone_unavailable", error);
      this.conversation({ type: "local_error", code: "microphone_unavailable", text: microphoneProblem(error) });
      return;
    }
    if (generation !== this.micGeneration) {
      // Turned off (or disconnected) while the permission prompt was open.
      void mic.close();
      return;
    }
    this.mic = mic;
    if (this.hooks) this.hooks.captureSampleRate = mic.sampleRate;
    this.setMicState("on");
  }

  private stopMic(): void {
    if (this.micState === "off") return;
    this.micGeneration++;
    void this.mic?.close();
    this.mic = null;
    this.setMicState("off");
    if (this.hooks) this.hooks.inputRms = 0;
    this.listener.onInputLevel(0);
    // Whatever "Speaking…" bubble is open will get no more words from this microphone.
    this.conversation({ type: "microphone_off" });
  }

  private setMicState(state: MicState): void {
    this.micState = state;
    this.listener.onMicChange(state);
  }

  private conversation(action: ConversationAction): void {
    this.listener.onConversation(action);
  }
}
