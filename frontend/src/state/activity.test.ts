import { describe, expect, it } from "vitest";
import type { ToolCallMessage } from "../protocol/messages";
import { activityText, humaniseName, mergeActivity, toolCallActivity, type Activity } from "./activity";

const toolCall = (status: ToolCallMessage["status"], extra: Partial<ToolCallMessage> = {}): Activity =>
  toolCallActivity({ type: "tool_call", id: "call_1", name: "get_time", status, ...extra });

describe("humaniseName", () => {
  it("turns snake_case, camelCase and kebab-case names into words", () => {
    expect(humaniseName("get_time")).toBe("get time");
    expect(humaniseName("lookupWeatherForecast")).toBe("lookup weather forecast");
    expect(humaniseName("search-docs")).toBe("search docs");
    expect(humaniseName("__")).toBe("__");
  });
});

describe("tool calls as activities", () => {
  it("say what is going on, in words, as the call goes on", () => {
    expect(activityText(toolCall("started"))).toBe("Looking up get time…");
    expect(activityText(toolCall("done"))).toBe("Get time done");
    expect(activityText(toolCall("failed"))).toBe("Get time failed");
  });

  it("say why a call failed when the relay said", () => {
    expect(activityText(toolCall("failed", { reason: "timeout" }))).toBe("Get time took too long");
    expect(activityText(toolCall("failed", { reason: "cancelled" }))).toBe("Get time cancelled");
    expect(activityText(toolCall("failed", { reason: "invalid_arguments" }))).toBe("Get time failed");
  });

  it("a call the connection cut off is stopped, not still running", () => {
    expect(activityText({ ...toolCall("started"), phase: "stopped" })).toBe("Get time stopped");
  });

  it("are one activity per call id, with the operator-enabled detail as text", () => {
    const started = toolCall("started", { arguments: { zone: "UTC" } });
    expect(started).toEqual({
      activityId: "tool_call:call_1",
      topic: "tool_call",
      subject: "get time",
      phase: "active",
      input: '{\n  "zone": "UTC"\n}',
    });
    expect(toolCall("done", { output: "12:00" })).toMatchObject({ activityId: "tool_call:call_1", output: "12:00" });
  });
});

describe("mergeActivity", () => {
  it("keeps what the update leaves out", () => {
    const merged = mergeActivity(toolCall("started", { arguments: { zone: "UTC" } }), toolCall("done", { output: "12:00" }));
    expect(merged).toMatchObject({ phase: "done", input: '{\n  "zone": "UTC"\n}', output: "12:00" });
  });

  it("never makes a finished activity active again (a late or repeated `started`)", () => {
    const done = toolCall("done");
    expect(mergeActivity(done, toolCall("started"))).toBe(done);
    expect(mergeActivity(toolCall("failed"), done).phase).toBe("done");
  });
});
