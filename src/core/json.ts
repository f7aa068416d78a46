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
