import { imageTypeOf } from "../../core/images.ts";
import type { NativeChatRequest, NativeMessage, ThinkValue } from "../../core/native.ts";

/**
 * The internal form (Ollama's /api/chat request) → llama-server's `POST /v1/chat/completions` body, for a dialect
 * that builds only the internal form (Responses, Anthropic Messages). Pure. What llama-server cannot take is dropped:
 * `keep_alive` (it keeps its one model loaded), `logprobs`, and the options that are its command line's
 * (`num_ctx` is its `-c`, `num_gpu` its `-ngl`, threads, batch sizes, …).
 */

type Json = Record<string, unknown>;

/** Ollama `options` → the llama-server field of the same meaning (its /completion options, which chat also takes). */
const OPTION_FIELDS: Readonly<Record<string, string>> = {
  temperature: "temperature",
  top_k: "top_k",
  top_p: "top_p",
  min_p: "min_p",
  typical_p: "typical_p",
  seed: "seed",
  stop: "stop",
  num_predict: "max_tokens",
  presence_penalty: "presence_penalty",
  frequency_penalty: "frequency_penalty",
  repeat_penalty: "repeat_penalty",
  repeat_last_n: "repeat_last_n",
  mirostat: "mirostat",
  mirostat_tau: "mirostat_tau",
  mirostat_eta: "mirostat_eta",
};

/** The schema's name OpenAI's `json_schema` wrapper requires; llama-server reads only its `schema`. */
const SCHEMA_NAME = "response";

export function toLlamaChat(request: NativeChatRequest): Json {
  const body: Json = {
    model: request.model,
    messages: toLlamaMessages(request.messages),
    // Always streamed, with usage: the answer is relayed as it comes and limits settle with llama-server's counts.
    stream: true,
    stream_options: { include_usage: true },
    // Thinking comes back apart, as `reasoning_content`, never inside the answer's text.
    reasoning_format: "deepseek",
  };
  if (request.tools?.length) body.tools = request.tools;
  if (request.format !== undefined) body.response_format = responseFormat(request.format);
  for (const [option, value] of Object.entries(request.options ?? {})) {
    const field = OPTION_FIELDS[option];
    if (field !== undefined && value !== undefined && value !== null) body[field] = value;
  }
  Object.assign(body, thinkFields(request.think));
  return body;
}

/** `format`: "json" is any JSON object; a schema is llama-server's nested `json_schema.schema` (the flat form is not read). */
function responseFormat(format: NonNullable<NativeChatRequest["format"]>): Json {
  if (format === "json") return { type: "json_object" };
  return { type: "json_schema", json_schema: { name: SCHEMA_NAME, schema: format } };
}

/**
 * `think`: the chat template's `enable_thinking` (Qwen3-style templates switch on it), and `reasoning_effort`, which
 * llama-server gives the template (gpt-oss reads low/medium/high) and which, as "none", turns reasoning off
 * whatever the template. Ollama's "max" is beyond what templates know: "high". Unset: the model's default.
 */
function thinkFields(think: ThinkValue | undefined): Json {
  if (think === undefined) return {};
  if (think === false) return { chat_template_kwargs: { enable_thinking: false }, reasoning_effort: "none" };
  const fields: Json = { chat_template_kwargs: { enable_thinking: true } };
  if (typeof think === "string") fields.reasoning_effort = think === "max" ? "high" : think;
  return fields;
}

interface PendingCall {
  id: string;
  name: string;
}

/**
 * Messages in OpenAI's shape. OpenAI links a tool's result to its call by id, which the internal form may lack (an
 * Ollama-style conversation names the tool instead): a call without an id gets one from its place in the
 * conversation (the same request always gives the same ids, so llama-server's prompt cache still matches), and a
 * result without one answers the first unanswered call of the last assistant turn with its tool's name, else the
 * first unanswered one.
 */
function toLlamaMessages(messages: readonly NativeMessage[]): Json[] {
  let pending: PendingCall[] = [];
  return messages.map((message, i) => {
    const out: Json = { role: message.role, content: contentOf(message) };
    if (message.thinking) out.reasoning_content = message.thinking;
    if (message.role === "assistant" && message.tool_calls?.length) {
      const calls = message.tool_calls.map((call, j) => ({
        id: call.id || `call_${i}_${j}`,
        type: "function",
        function: { name: call.function.name, arguments: JSON.stringify(call.function.arguments ?? {}) },
      }));
      pending = calls.map((call) => ({ id: call.id, name: call.function.name }));
      out.tool_calls = calls;
      // OpenAI's shape for a turn that only calls tools.
      if (out.content === "") out.content = null;
    }
    if (message.role === "tool") {
      const id = answeredCall(pending, message);
      if (id !== undefined) out.tool_call_id = id;
    }
    return out;
  });
}

function answeredCall(pending: PendingCall[], message: NativeMessage): string | undefined {
  let at = message.tool_call_id ? pending.findIndex((call) => call.id === message.tool_call_id) : pending.findIndex((call) => call.name === message.tool_name);
  if (at === -1 && !message.tool_call_id) at = 0;
  const [call] = at === -1 ? [] : pending.splice(at, 1);
  return message.tool_call_id || call?.id;
}

/** Text alone stays a string; with images, OpenAI's parts: the text, then each image as a data URI. */
function contentOf(message: NativeMessage): string | Json[] {
  if (!message.images?.length) return message.content;
  const parts: Json[] = message.content === "" ? [] : [{ type: "text", text: message.content }];
  for (const image of message.images) parts.push({ type: "image_url", image_url: { url: `data:${imageTypeOf(image)};base64,${image}` } });
  return parts;
}
