/** Where the relay is: by default the page's own host. Pure. */

export interface PageLocation {
  readonly protocol: string;
  readonly host: string;
}

/** `wss://<host>/realtime` on an https page, `ws://<host>/realtime` otherwise. */
export function defaultEndpoint(location: PageLocation): string {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/realtime`;
}

/** Returns a reason the endpoint cannot be used, or null when it looks like a WebSocket URL. */
export function endpointProblem(endpoint: string): string | null {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return "the endpoint is not a URL";
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    return "the endpoint must start with ws:// or wss://";
  }
  return null;
}
