import { toApiError } from "../core/errors.ts";

/**
 * How a request ended, for its key's usage records (`errors`): the one fact settlement cannot see for itself,
 * because the code that settles (when the answer's usage is known) often runs before the error that ends the
 * request is thrown, or inside a stream that has already answered 200.
 *
 * - Before a stream: the key route's first stage (`withKey`) decides it from the handler's answer or error, and an
 *   admission's settlement waits for that decision (it is made a few microtasks later, in the same request).
 * - In a stream: the SSE relay knows whether it ended with an error event, and says so while it runs the stream's
 *   end callback (`reportStreamEnd`); the settlement made inside that callback reads it (`streamEndedInError`).
 *   The callbacks between the relay and the settlement belong to the dialects and are synchronous, so the flag
 *   reaches it without each of them passing it on.
 */
export class Outcome {
  #failed: boolean | null = null;
  #waiting: ((failed: boolean) => void)[] = [];

  /** The answer is decided: `failed` if it is an error. Only the first decision counts. */
  decide(failed: boolean): void {
    if (this.#failed !== null) return;
    this.#failed = failed;
    for (const report of this.#waiting.splice(0)) report(failed);
  }

  /** Run `report` with the decision: at once if it is made, else when it is. */
  whenDecided(report: (failed: boolean) => void): void {
    if (this.#failed === null) this.#waiting.push(report);
    else report(this.#failed);
  }
}

/** An error answer counts as a failed request; a client that hung up (499) is not the gateway's failure. */
export function isFailure(status: number): boolean {
  return status >= 400 && status !== 499;
}

export const failureOfError = (error: unknown): boolean => isFailure(toApiError(error).status);

let streamError = false;

/** Run a stream's end callback, telling the settlement inside it whether the stream ended with an error event. */
export function reportStreamEnd(failed: boolean, report: () => void): void {
  streamError = failed;
  try {
    report();
  } finally {
    streamError = false;
  }
}

/** Whether the stream whose end is being reported right now ended with an error event (false outside one). */
export const streamEndedInError = (): boolean => streamError;
