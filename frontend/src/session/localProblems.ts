/** Problems found on this side (devices, browser support), in words fit for an end user. Pure. */

function mediaDevicesAvailable(): boolean {
  return typeof navigator === "undefined" || !!navigator.mediaDevices;
}

/** Why the microphone did not start; the error itself goes to the console. */
export function microphoneProblem(error: unknown, canCapture = mediaDevicesAvailable()): string {
  if (error instanceof DOMException && error.name === "NotAllowedError") {
    return "Microphone permission was refused.";
  }
  if (error instanceof DOMException && error.name === "NotFoundError") return "No microphone was found.";
  if (!canCapture) return "The microphone needs a secure page (https or localhost).";
  return "The microphone could not start.";
}
