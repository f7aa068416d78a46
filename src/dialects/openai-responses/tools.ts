import { invalidRequest } from "../../core/errors.ts";
import type { NativeTool } from "../../core/native.ts";
import { isKnownTool, type KnownTool, type ResponsesRequest } from "./schema.ts";

/**
 * The Responses API's tools as Ollama's: functions, freeform (custom) tools and namespaces offered as a flat list of
 * functions, `tool_choice` applied, and the names the answer side needs to map the model's calls back.
 */

/**
 * Namespaced tools. Ollama's tools are a flat list of functions, so the function `fn` of the namespace tool `ns`
 * is offered to the model as `ns__fn` (the separator MCP clients use, which models know from their training). A
 * call the model makes to `ns__fn` goes back to the client the way openai-node represents namespaced calls: a
 * `function_call` item (`custom_tool_call` for a custom tool) with `name: "fn"` and `namespace: "ns"` (see
 * `ResponseFunctionToolCall.namespace` / `ResponseCustomToolCall.namespace`); `responsesToolNames` gives the
 * answer side that map. A call sent back in the input with a `namespace` is renamed the same way.
 */
const NAMESPACE_SEPARATOR = "__";

export const flatName = (name: string, namespace: string | null | undefined) => (namespace ? `${namespace}${NAMESPACE_SEPARATOR}${name}` : name);

/** A tool as offered to the model, with what it was in the request. */
interface Offered {
  native: NativeTool;
  kind: "function" | "custom";
  /** The name in the request (without its namespace). */
  name: string;
}

type FunctionTool = Extract<KnownTool, { type: "function" }>;
type CustomTool = Extract<KnownTool, { type: "custom" }>;

export function knownTools(body: ResponsesRequest): KnownTool[] {
  return (body.tools ?? []).filter(isKnownTool);
}

/** Every function the model is offered: functions, custom tools, the members of namespaces; hosted tools dropped. */
function offeredTools(body: ResponsesRequest): Offered[] {
  const offered: Offered[] = [];
  for (const entry of knownTools(body)) {
    if (entry.type === "namespace") {
      for (const inner of entry.tools) offered.push(offer(inner, flatName(inner.name, entry.name)));
    } else offered.push(offer(entry, entry.name));
  }
  return offered;
}

function offer(entry: FunctionTool | CustomTool, name: string): Offered {
  const description = entry.description ?? undefined;
  if (entry.type === "function") {
    return {
      kind: "function",
      name: entry.name,
      native: {
        type: "function",
        function: { name, ...(description !== undefined && { description }), parameters: entry.parameters ?? { type: "object", properties: {} } },
      },
    };
  }
  // A freeform (custom) tool takes one string: offered as a function of one string parameter `input`.
  return {
    kind: "custom",
    name: entry.name,
    native: {
      type: "function",
      function: {
        name,
        ...(description !== undefined && { description }),
        parameters: { type: "object", properties: { input: { type: "string", description: inputDescription(entry.format) } }, required: ["input"] },
      },
    },
  };
}

/** A custom tool's grammar, if it has one, is what the model must write: say so in the parameter's description. */
function inputDescription(format: CustomTool["format"]): string {
  if (format?.type === "grammar" && typeof format.definition === "string") {
    const grammar = typeof format.syntax === "string" ? `${format.syntax} grammar` : "grammar";
    return `The raw input for the tool, matching this ${grammar}:\n${format.definition}`;
  }
  return "The raw input for the tool.";
}

interface NamedChoice {
  type: string;
  name?: string | null;
}

const matches = (tool: Offered, choice: NamedChoice) => tool.kind === choice.type && (tool.native.function.name === choice.name || tool.name === choice.name);

/**
 * `tool_choice`: "none" sends no tools; a named function or custom tool sends only that one (a namespace member
 * may be named flat, `ns__fn`, or by its own name); `allowed_tools` sends the listed ones; "auto", "required" and
 * hosted tools' choices send all (Ollama cannot force a call).
 */
export function selectTools(body: ResponsesRequest): NativeTool[] | undefined {
  const choice = body.tool_choice;
  if (choice === "none") return undefined;
  let offered = offeredTools(body);
  if (choice && typeof choice === "object") {
    if (choice.type === "function" || choice.type === "custom") {
      const named = choice as NamedChoice;
      offered = offered.filter((tool) => matches(tool, named));
      if (!offered.length) {
        throw invalidRequest(`tool_choice names the ${named.type} tool ${JSON.stringify(named.name)}, which is not in tools.`, "tool_choice.name");
      }
    } else if (choice.type === "allowed_tools") {
      const allowed = (choice as { tools: NamedChoice[] }).tools;
      offered = offered.filter((tool) => allowed.some((entry) => matches(tool, entry)));
    }
  }
  return offered.length ? offered.map((tool) => tool.native) : undefined;
}

/**
 * What the answer side needs to map the model's calls back: the native names of custom tools (a call becomes a
 * `custom_tool_call` with `input` = the call's `input` argument) and the flat names of namespace members
 * (`ns__fn` → `{namespace: "ns", name: "fn"}`: a call item with that `name` and `namespace`, as openai-node's
 * `ResponseFunctionToolCall.namespace` has it). A namespaced custom tool is in both.
 */
export function responsesToolNames(body: ResponsesRequest): {
  custom: ReadonlySet<string>;
  namespaced: ReadonlyMap<string, { namespace: string; name: string }>;
} {
  const custom = new Set<string>();
  const namespaced = new Map<string, { namespace: string; name: string }>();
  for (const entry of knownTools(body)) {
    if (entry.type === "custom") custom.add(entry.name);
    if (entry.type !== "namespace") continue;
    for (const inner of entry.tools) {
      const flat = flatName(inner.name, entry.name);
      namespaced.set(flat, { namespace: entry.name, name: inner.name });
      if (inner.type === "custom") custom.add(flat);
    }
  }
  return { custom, namespaced };
}
