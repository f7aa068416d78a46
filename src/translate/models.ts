import { resolveModel } from "../models/resolve.ts";
import type { NativeModel } from "../ollama/types.ts";

export interface OpenAIModel {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

/** `hf.co/unsloth/x:q4` → "unsloth"; `namespace/x` → "namespace"; a library model → "library". */
export function ownerOf(name: string): string {
  const parts = name.split("/");
  if (parts.length >= 3) return parts[parts.length - 2]!;
  if (parts.length === 2) return parts[0]!;
  return "library";
}

export function unixSeconds(timestamp: string | undefined): number {
  const ms = timestamp ? Date.parse(timestamp) : NaN;
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}

export function toOpenAIModel(id: string, model: NativeModel | undefined, nativeName = id): OpenAIModel {
  return { id, object: "model", created: unixSeconds(model?.modified_at), owned_by: ownerOf(nativeName) };
}

/** The installed models, then every alias that resolves to one of them (clients pick from this list). */
export function toModelList(models: readonly NativeModel[], aliases: Readonly<Record<string, string>>): { object: "list"; data: OpenAIModel[] } {
  const data = models.map((model) => toOpenAIModel(model.model ?? model.name, model));
  const byName = new Map(models.map((model) => [model.model ?? model.name, model]));
  const names = [...byName.keys()];
  for (const alias of Object.keys(aliases)) {
    const resolved = resolveModel(alias, names, aliases);
    if (resolved.ok && !byName.has(alias)) data.push(toOpenAIModel(alias, byName.get(resolved.name), resolved.name));
  }
  return { object: "list", data };
}
