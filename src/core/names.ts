import { patternLookup } from "./model-settings.ts";

/** Pure model-name resolution against the installed list, the way users expect names to work. */

export type Resolution = { ok: true; name: string } | { ok: false; message: string };

const hasTag = (name: string) => name.slice(name.lastIndexOf("/") + 1).includes(":");

/**
 * What MODEL_ALIASES maps a requested name to: an exact alias, else the longest `*` pattern that matches
 * (`{"claude-*":"qwen3:8b"}`), else the name itself.
 */
export function aliasTarget(aliases: Readonly<Record<string, string>>, requested: string): string {
  return patternLookup(aliases, requested) ?? requested;
}

/**
 * An alias from MODEL_ALIASES; an exact installed name; an untagged name → `:latest` if installed, else the
 * only installed tag of that name. Otherwise a message naming the closest installed models.
 */
export function resolveModel(requested: string, installed: readonly string[], aliases: Readonly<Record<string, string>>): Resolution {
  const target = aliasTarget(aliases, requested);
  const names = new Set(installed);
  if (names.has(target)) return { ok: true, name: target };
  // Ollama matches names case-insensitively; so do we, after an exact match has had its chance.
  const lower = target.toLowerCase();
  const folded = installed.find((name) => name.toLowerCase() === lower);
  if (folded) return { ok: true, name: folded };
  if (!hasTag(target)) {
    if (names.has(`${target}:latest`)) return { ok: true, name: `${target}:latest` };
    const tags = installed.filter((name) => name.startsWith(`${target}:`));
    if (tags.length === 1) return { ok: true, name: tags[0]! };
    if (tags.length > 1) {
      return { ok: false, message: `The model '${requested}' is ambiguous: several tags are installed (${tags.join(", ")}). Name one of them.` };
    }
  } else if (target.endsWith(":latest") && names.has(target.slice(0, -":latest".length))) {
    return { ok: true, name: target.slice(0, -":latest".length) };
  }
  const via = target === requested ? "" : ` (alias of '${target}')`;
  const closest = closestNames(target, installed, 3);
  const hint = closest.length ? ` Closest installed models: ${closest.join(", ")}.` : " No models are installed.";
  return { ok: false, message: `The model '${requested}'${via} does not exist on the backend.${hint}` };
}

const untagged = (name: string) => {
  const colon = name.lastIndexOf(":");
  return colon > name.lastIndexOf("/") ? name.slice(0, colon) : name;
};

/**
 * Only this much of a requested name is compared. Edit distance costs length × length, and a body may carry a
 * model name of megabytes: 1 MB took 3 s of CPU per request, 20 MiB would have taken minutes. Real names are far
 * shorter (Ollama caps each part of a name at a few hundred characters).
 */
const MAX_COMPARED_CHARS = 256;

/** Nearest by edit distance of the full names or of the names without their tags, whichever is closer. */
export function closestNames(target: string, candidates: readonly string[], count: number): string[] {
  const full = target.slice(0, MAX_COMPARED_CHARS).toLowerCase();
  const base = untagged(full);
  return candidates
    .map((name) => {
      const lower = name.toLowerCase();
      return { name, distance: Math.min(editDistance(full, lower), editDistance(base, untagged(lower))) };
    })
    .sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name))
    .slice(0, count)
    .map((entry) => entry.name);
}

/** Levenshtein distance, two rows. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}
