// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Line } from "../state/conversation";
import { Composer } from "./Composer";
import { ConnectionPanel } from "./ConnectionPanel";
import { MessageList } from "./MessageList";
import { MicControl } from "./MicControl";

afterEach(cleanup);

describe("Composer", () => {
  it("sends on Enter and clears the field", () => {
    const onSend = vi.fn(() => true);
    render(<Composer disabled={false} onSend={onSend} />);
    const input = screen.getByRole("textbox", { name: "Message" });
    fireEvent.change(input, { target: { value: "hello" } });
    fireEvent.submit(input); // what Enter in a form's text field does
    expect(onSend).toHaveBeenCalledWith("hello");
    expect(input).toHaveProperty("value", "");
  });

  it("keeps the text when it could not be sent", () => {
    render(<Composer disabled={false} onSend={() => false} />);
    const input = screen.getByRole("textbox", { name: "Message" });
    fireEvent.change(input, { target: { value: "hello" } });
    fireEvent.click(screen.getByRole("button", { name: "Send message" }));
    expect(input).toHaveProperty("value", "hello");
  });

  it("is disabled while not connected", () => {
    render(<Composer disabled={true} onSend={() => true} />);
    expect(screen.getByRole("textbox", { name: "Message" })).toHaveProperty("disabled", true);
    expect(screen.getByRole("button", { name: "Send message" })).toHaveProperty("disabled", true);
  });
});

describe("ConnectionPanel", () => {
  const props = { endpoint: "ws://h/realtime", onEndpointChange: () => undefined };

  it("offers Connect when idle and Disconnect when connected", () => {
    const onConnect = vi.fn();
    const onDisconnect = vi.fn();
    const { rerender } = render(
      <ConnectionPanel {...props} connection={{ status: "idle" }} onConnect={onConnect} onDisconnect={onDisconnect} />,
    );
    fireEvent.click(screen.getByRole("button", { name: "Connect" }));
    expect(onConnect).toHaveBeenCalledOnce();
    rerender(
      <ConnectionPanel {...props} connection={{ status: "connected" }} onConnect={onConnect} onDisconnect={onDisconnect} />,
    );
    expect(screen.getByRole("status").textContent).toBe("Connected");
    expect(screen.getByRole("textbox", { name: "Relay endpoint" })).toHaveProperty("disabled", true);
    fireEvent.click(screen.getByRole("button", { name: "Disconnect" }));
    expect(onDisconnect).toHaveBeenCalledOnce();
  });

  const closedWith = (code: number, everOpened: boolean, byClient: boolean) => {
    cleanup();
    render(
      <ConnectionPanel
        {...props}
        connection={{ status: "closed", code, reason: "at capacity", everOpened, byClient }}
        onConnect={() => undefined}
        onDisconnect={() => undefined}
      />,
    );
    return screen.getByRole("status");
  };

  it("shows the state once, in words: the reason is for the console, the why for the conversation", () => {
    const failed = closedWith(1013, true, false);
    expect(failed.textContent).toBe("Disconnected");
    expect(failed.dataset["failed"]).toBe("true");
    expect(closedWith(1006, false, false).textContent).toBe("Could not connect");
    const normal = closedWith(1000, true, true);
    expect(normal.textContent).toBe("Disconnected");
    expect(normal.dataset["failed"]).toBeUndefined();
  });
});

describe("MessageList", () => {
  it("renders user, assistant, activity and error lines in a labelled log", () => {
    const lines: Line[] = [
      { kind: "assistant", key: "1", text: "Hello!", done: true, interrupted: false },
      { kind: "user", key: "2", text: "", spoken: true, pending: true },
      { kind: "user", key: "3", text: "typed", spoken: false, pending: false },
      { kind: "activity", key: "4", activityId: "tool_call:c1", topic: "tool_call", subject: "get time", phase: "active" },
      { kind: "error", key: "5", code: "upstream_error", text: "The voice service had a problem." },
    ];
    render(<MessageList lines={lines} />);
    const log = screen.getByRole("log", { name: "Conversation" });
    expect(log.textContent).toContain("Assistant: Hello!");
    expect(log.textContent).toContain("You said: Speaking…");
    expect(log.textContent).toContain("You: typed");
    expect(log.textContent).toContain("Looking up get time…");
    // The end user reads the message; the code is only an attribute, for the developer.
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toBe("The voice service had a problem.");
    expect(alert.dataset["code"]).toBe("upstream_error");
  });

  it("shows a live caption in the user's bubble, marked as still being recognised", () => {
    render(<MessageList lines={[{ kind: "user", key: "1", text: "what time", spoken: true, pending: true, transcriptionId: "a" }]} />);
    const bubble = screen.getByRole("log").querySelector("li.line--user") as HTMLElement;
    expect(bubble.textContent).toBe("You said: what time");
    expect(bubble.dataset["live"]).toBe("true");
    expect(bubble.getAttribute("aria-busy")).toBe("true");
  });

  it("folds a tool call's operator-enabled detail away", () => {
    const line: Line = {
      kind: "activity",
      key: "1",
      activityId: "tool_call:c1",
      topic: "tool_call",
      subject: "get time",
      phase: "done",
      input: '{"zone":"UTC"}',
      output: "12:00",
    };
    render(<MessageList lines={[line]} />);
    const item = screen.getByRole("log").querySelector("li.line--activity") as HTMLElement;
    expect(item.dataset["phase"]).toBe("done");
    expect(item.querySelector(".line__text")!.textContent).toBe("Get time done");
    expect(item.querySelector("details")!.open).toBe(false);
    expect(screen.getByLabelText("Result").textContent).toBe("12:00");
  });

  it("says where the conversation will appear while there is none", () => {
    const { rerender } = render(<MessageList lines={[]} />);
    expect(screen.getByText("Your conversation will appear here.")).toBeTruthy();
    rerender(<MessageList lines={[{ kind: "user", key: "1", text: "hi", spoken: false, pending: false }]} />);
    expect(screen.queryByText("Your conversation will appear here.")).toBeNull();
  });
});

describe("MicControl", () => {
  it("is a labelled toggle with a level meter", () => {
    const onToggle = vi.fn();
    const { rerender } = render(<MicControl micState="off" inputLevel={0} disabled={false} onToggle={onToggle} />);
    const button = screen.getByRole("button", { name: "Turn microphone on" });
    expect(button.getAttribute("aria-pressed")).toBe("false");
    fireEvent.click(button);
    expect(onToggle).toHaveBeenCalledOnce();
    rerender(<MicControl micState="on" inputLevel={0.1} disabled={false} onToggle={onToggle} />);
    expect(screen.getByRole("button", { name: "Turn microphone off" }).getAttribute("aria-pressed")).toBe("true");
    const meter = screen.getByRole("meter", { name: "Microphone input level" });
    expect(Number(meter.getAttribute("aria-valuenow"))).toBeGreaterThan(0.5);
  });

  it("reads as a level at normal speech and turns red only near clipping", () => {
    const meter = (rmsLevel: number, micState: "on" | "off" = "on") => {
      cleanup();
      render(<MicControl micState={micState} inputLevel={rmsLevel} disabled={false} onToggle={() => undefined} />);
      return screen.getByRole("meter", { name: "Microphone input level" });
    };
    for (const speech of [0.02, 0.05, 0.1, 0.2, 0.3]) {
      // -34 to -10 dBFS: quiet to loud speech
      expect(meter(speech).dataset["clipping"]).toBeUndefined();
    }
    expect(meter(0.6).dataset["clipping"]).toBe("true");
    expect(meter(0.6, "off").getAttribute("aria-valuenow")).toBe("0");
  });

  it("cannot be turned on while not connected", () => {
    render(<MicControl micState="off" inputLevel={0} disabled={true} onToggle={() => undefined} />);
    expect(screen.getByRole("button", { name: "Turn microphone on" })).toHaveProperty("disabled", true);
  });
});
