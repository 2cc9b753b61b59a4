import { describe, expect, it } from "vitest";
import { testHooksRequested } from "./testHooks";

describe("testHooksRequested", () => {
  it("is on only with ?test-hooks in the page's URL", () => {
    expect(testHooksRequested("?test-hooks")).toBe(true);
    expect(testHooksRequested("?a=1&test-hooks=1")).toBe(true);
    expect(testHooksRequested("")).toBe(false);
    expect(testHooksRequested("?test-hooksx")).toBe(false);
  });
});
