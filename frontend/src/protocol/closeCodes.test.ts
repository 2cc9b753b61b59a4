import { describe, expect, it } from "vitest";
import { closeCodeWords, closeMessageForUser, describeClose } from "./closeCodes";
import { defaultEndpoint, endpointProblem } from "./endpoint";

describe("close codes", () => {
  it("says what each code the relay uses means", () => {
    expect(closeCodeWords(1000)).toBe("normal closure");
    expect(closeCodeWords(1001)).toBe("server going away");
    expect(closeCodeWords(1006)).toBe("connection lost");
    expect(closeCodeWords(1008)).toContain("policy");
    expect(closeCodeWords(1009)).toBe("message too big");
    expect(closeCodeWords(1011)).toBe("upstream failure");
    expect(closeCodeWords(1013)).toBe("try again later");
  });

  it("adds the code and the reason", () => {
    expect(describeClose(1011, "invalid_api_key")).toBe("upstream failure (1011): invalid_api_key");
    expect(describeClose(1000, "")).toBe("normal closure (1000)");
    expect(describeClose(4321, "")).toBe("closed (4321)");
  });

  it("tells an unreachable relay from a dropped connection", () => {
    expect(describeClose(1006, "", false)).toBe("could not connect (1006)");
    expect(describeClose(1006, "", true)).toBe("connection lost (1006)");
  });
});

describe("closeMessageForUser", () => {
  it("says nothing about a normal close", () => {
    expect(closeMessageForUser(1000, true)).toBeNull();
  });

  it("tells an unreachable service from a dropped connection", () => {
    expect(closeMessageForUser(1006, false)).toBe("The service could not be reached. Please try again in a moment.");
    expect(closeMessageForUser(1006, true)).toBe("The connection was lost. Please reconnect.");
  });

  it("has words for every code the relay closes with, and for codes it does not know", () => {
    for (const code of [1001, 1008, 1009, 1011, 1013, 4999]) {
      const text = closeMessageForUser(code, true)!;
      expect(text).toMatch(/^[A-Z].*\.$/);
      expect(text).not.toMatch(/\d{4}|API key|upstream/i); // no codes or operator words for end users
    }
  });
});

describe("endpoint", () => {
  it("defaults to the page's host, wss on https", () => {
    expect(defaultEndpoint({ protocol: "http:", host: "localhost:8080" })).toBe("ws://localhost:8080/realtime");
    expect(defaultEndpoint({ protocol: "https:", host: "relay.example" })).toBe("wss://relay.example/realtime");
  });

  it("accepts only ws and wss URLs", () => {
    expect(endpointProblem("ws://127.0.0.1:8080/realtime")).toBeNull();
    expect(endpointProblem("wss://relay.example/realtime")).toBeNull();
    expect(endpointProblem("http://relay.example/realtime")).toMatch(/ws:\/\//);
    expect(endpointProblem("relay")).toMatch(/not a URL/);
  });
});
