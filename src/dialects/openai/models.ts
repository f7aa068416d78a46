import { resolveModel } from "../../core/names.ts";
import type { NativeModel } from "../../core/native.ts";

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

/** `owner` overrides the name-derived owner (with several backends, the backend's name). */
export function toOpenAIModel(id: string, model: NativeModel | undefined, nativeName = id, owner?: string): OpenAIModel {
  return { id, object: "model", created: unixSeconds(model?.modified_at), owned_by: owner ?? ownerOf(nativeName) };
}

/**
 * The installed models, then every alias that resolves to one of them (clients pick from this list).
 * `ownerOfModel` names the owner of each model (default: from its name).
 */
export function toModelList<M extends NativeModel>(
  models: readonly M[],
  aliases: Readonly<Record<string, string>>,
  ownerOfModel: (model: M) => string | undefined = () => undefined,
): { object: "list"; data: OpenAIModel[] } {
  const data = models.map((model) => toOpenAIModel(model.model ?? model.name, model, model.model ?? model.name, ownerOfModel(model)));
  const byName = new Map(models.map((model) => [model.model ?? model.name, model]));
  const names = [...byName.keys()];
  // A `*` pattern is not a model name a client could pick from the list.
  for (const alias of Object.keys(aliases).filter((name) => !name.endsWith("*"))) {
    const resolved = resolveModel(alias, names, aliases);
    const target = byName.get(resolved.ok ? resolved.name : "");
    if (resolved.ok && target && !byName.has(alias)) data.push(toOpenAIModel(alias, target, resolved.name, ownerOfModel(target)));
  }
  return { object: "list", data };
}
