/**
 * JSON.parse takes any depth, but the body is serialised again on its way upstream (JSON.stringify recurses:
 * 100,000 levels overflow the stack, a 500) and Ollama's Go decoder refuses more than 10,000 levels anyway.
 * No real request comes close to this.
 */
export const MAX_JSON_DEPTH = 512;

/** Iterative, so that checking a hostile body cannot overflow the stack either. */
export function nestedDeeperThan(root: unknown, max: number): boolean {
  const pending: [value: object, depth: number][] = [];
  if (root !== null && typeof root === "object") pending.push([root, 1]);
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [value, depth] = next;
    if (depth > max) return true;
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (child !== null && typeof child === "object") pending.push([child, depth + 1]);
    }
  }
  return false;
}

/** A JSON object (not null, not an array). */
export const isJsonObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * Text a model wrote as a JSON object (a tool call's arguments), parsed leniently: the object, `{}` for empty text,
 * or null when it is not a JSON object. For what a backend answers; a client's arguments get a 400 instead.
 */
export function jsonObjectOf(text: string): Record<string, unknown> | null {
  if (text.trim() === "") return {};
  try {
    const value: unknown = JSON.parse(text);
    return isJsonObject(value) ? value : null;
  } catch {
    return null;
  }
}
