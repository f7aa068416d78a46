import { invalidRequest } from "../core/errors.ts";

/** A percent-encoded path segment, decoded; one that is not valid percent-encoding is a 400 naming `param`. */
export function decodedPathParam(raw: string, what: string, param: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalidRequest(`The ${what} in the URL is not valid percent-encoding.`, param);
  }
}
