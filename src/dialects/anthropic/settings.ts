import { invalidRequest } from "../../core/errors.ts";
import type { ModelDefaults } from "../../core/model-settings.ts";
import { type NativeTool, type ThinkValue, thinkForEffort } from "../../core/native.ts";
import { type CountTokensRequest, isCustomTool } from "./schema.ts";

/** The client tools, as Ollama's functions (hosted tools are left out: a local model cannot run them). */
export function offeredTools(body: Pick<CountTokensRequest, "tools">): NativeTool[] {
  return (body.tools ?? []).filter(isCustomTool).map((tool) => ({
    type: "function",
    function: {
      name: tool.name,
      ...(tool.description !== undefined && { description: tool.description }),
      parameters: tool.input_schema,
    },
  }));
}

/**
 * `tool_choice`, as chat completions honours it: `none` sends no tools, `tool` only the one it names (an unknown
 * name is a 400), `auto` and `any` every tool (Ollama cannot force a call); `any` or `tool` without tools is a 400.
 * `disable_parallel_tool_use` is accepted: Ollama has no switch for it.
 */
export function selectTools(body: Pick<CountTokensRequest, "tools" | "tool_choice">): NativeTool[] | undefined {
  const choice = body.tool_choice;
  const tools = offeredTools(body);
  if (!tools.length) {
    if (choice?.type === "any" || choice?.type === "tool") {
      throw invalidRequest("tool_choice requires tools: send the tools the model may call in tools.", "tool_choice");
    }
    return undefined;
  }
  if (choice?.type === "none") return undefined;
  if (choice?.type === "tool") {
    const chosen = tools.filter((tool) => tool.function.name === choice.name);
    if (!chosen.length) throw invalidRequest(`tool_choice names the tool ${JSON.stringify(choice.name)}, which is not in tools.`, "tool_choice.name");
    return chosen;
  }
  return tools;
}

/**
 * `thinking` → Ollama's `think`: `disabled` is false; `enabled` (its `budget_tokens` has no counterpart),
 * `adaptive` and `between_tools` are `output_config.effort`'s level when one is given, else true. Without
 * `thinking`, Anthropic's models do not think: MODEL_DEFAULTS' `think` if set, else false. (A model that cannot
 * think gets no `think` at all: the pipeline drops it by the model's capabilities.)
 */
export function thinkOf(body: Pick<CountTokensRequest, "thinking" | "output_config">, defaults: ModelDefaults | undefined): ThinkValue | undefined {
  const thinking = body.thinking;
  if (!thinking) return (defaults?.think as ThinkValue | undefined) ?? false;
  if (thinking.type === "disabled") return false;
  const effort = body.output_config?.effort;
  return effort ? (thinkForEffort(effort) ?? true) : true;
}
