import * as z from "zod/mini";
import { invalidRequest } from "./errors.ts";
import "./zod-english.ts";

/** ["messages", 0, "content"] → "messages[0].content", the way OpenAI names a param. */
export function paramPath(path: readonly PropertyKey[]): string | null {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out === "" ? null : out;
}

/**
 * Validate a parsed body against a dialect's schema (zod/mini); the first problem becomes a 400 whose `param` is the
 * field path, in English (core/zod-english.ts).
 */
export function validate<S extends z.core.$ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw invalidRequest("The request body must be a JSON object.");
  }
  const result = z.safeParse(schema, body);
  if (result.success) return result.data;
  const { path, message } = mostSpecific(result.error.issues[0]!);
  const param = paramPath(path);
  throw invalidRequest(param ? `Invalid value for '${param}': ${message}` : message, param);
}

interface Found {
  path: PropertyKey[];
  message: string;
}

/**
 * A union failure says only "Invalid input". When one branch got further into the value (for example the
 * array branch of `content` failing on `content[1].type`), report that deeper issue instead.
 */
function mostSpecific(issue: z.core.$ZodIssue): Found {
  const base: Found = { path: [...issue.path], message: issue.message };
  if (issue.code !== "invalid_union" || !issue.errors.length) return base;
  let best: Found | null = null;
  for (const branch of issue.errors) {
    for (const inner of branch) {
      const found = mostSpecific(inner);
      if (found.path.length > 0 && (!best || found.path.length > best.path.length)) best = found;
    }
  }
  if (!best) return { ...base, message: `${base.message}: ${describeExpected(issue)}` };
  return { path: [...issue.path, ...best.path], message: best.message };
}

function describeExpected(issue: z.core.$ZodIssueInvalidUnion): string {
  const expected = new Set<string>();
  for (const branch of issue.errors) {
    for (const inner of branch) if (inner.code === "invalid_type") expected.add(inner.expected);
    for (const inner of branch) if (inner.code === "invalid_value") for (const v of inner.values) expected.add(JSON.stringify(v));
  }
  return expected.size ? `expected ${[...expected].join(" or ")}` : "no accepted form matches";
}
