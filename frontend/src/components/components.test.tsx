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

  it("says why the connection closed", () => {
    render(
      <ConnectionPanel
        {...props}
        connection={{ status: "closed", code: 1013, reason: "at capacity", everOpened: true, byClient: false }}
        onConnect={() => undefined}
        onDisconnect={() => undefined}
      />,
    );
    expect(screen.getByRole("status").textContent).toBe("Closed: try again later (1013): at capacity");
  });
});

describe("MessageList", () => {
  it("renders user, assistant, status and error lines in a labelled log", () => {
    const lines: Line[] = [
      { kind: "assistant", key: "1", text: "Hello!", done: true, interrupted: false },
      { kind: "user", key: "2", text: "", spoken: true, pending: true },
      { kind: "user", key: "3", text: "typed", spoken: false, pending: false },
      { kind: "status", key: "4", text: "Connected." },
      { kind: "error", key: "5", code: "upstream_error", text: "boom" },
    ];
    render(<MessageList lines={lines} />);
    const log = screen.getByRole("log", { name: "Conversation" });
    expect(log.textContent).toContain("Assistant: Hello!");
    expect(log.textContent).toContain("You said: Speaking…");
    expect(log.textContent).toContain("You: typed");
    expect(screen.getByRole("alert").textContent).toBe("Error (upstream_error): boom");
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
    expect(Number(screen.getByLabelText("Microphone input level").getAttribute("value"))).toBeGreaterThan(0.5);
  });

  it("cannot be turned on while not connected", () => {
    render(<MicControl micState="off" inputLevel={0} disabled={true} onToggle={() => undefined} />);
    expect(screen.getByRole("button", { name: "Turn microphone on" })).toHaveProperty("disabled", true);
  });
});
