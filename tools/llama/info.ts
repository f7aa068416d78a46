// The read-only routes about the server itself: /v1/models, /props, /slots and /metrics.
import type { Json } from "./http.ts";
import { BUILD_INFO } from "./plan.ts";
import type { MetricTotals, Slot, SlotPool } from "./slots.ts";
import { SPECIAL_TOKENS } from "./tokens.ts";

export interface ServerFacts {
  alias: string;
  modelPath: string;
  /** Context per slot. */
  nCtx: number;
  /** Unix seconds: `created` of the model entry. */
  startedAt: number;
  slotsEndpoint: boolean;
  metricsEndpoint: boolean;
}

// A ChatML template (the Qwen 2.5 family uses ChatML).
export const CHAT_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

export function modelsBody(facts: ServerFacts): Json {
  return {
    object: "list",
    data: [
      {
        id: facts.alias,
        object: "model",
        created: facts.startedAt,
        owned_by: "llamacpp",
        // A Qwen2.5-7B-Instruct Q4_K_M file.
        meta: { vocab_type: 2, n_vocab: 152064, n_ctx_train: 32768, n_embd: 3584, n_params: 7615616512, size: 4683073536 },
      },
    ],
  };
}

function params(stream: boolean): Json {
  return {
    n_predict: -1,
    seed: 4294967295,
    temperature: 0.8,
    dynatemp_range: 0,
    dynatemp_exponent: 1,
    top_k: 40,
    top_p: 0.95,
    min_p: 0.05,
    xtc_probability: 0,
    xtc_threshold: 0.1,
    typical_p: 1,
    repeat_last_n: 64,
    repeat_penalty: 1,
    presence_penalty: 0,
    frequency_penalty: 0,
    mirostat: 0,
    mirostat_tau: 5,
    mirostat_eta: 0.1,
    stop: [],
    max_tokens: -1,
    n_keep: 0,
    n_discard: 0,
    ignore_eos: false,
    stream,
    n_probs: 0,
    min_keep: 0,
    samplers: ["penalties", "dry", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature"],
    timings_per_token: false,
  };
}

function slotBody(slot: Slot, nCtx: number): Json {
  return {
    id: slot.id,
    id_task: slot.idTask,
    n_ctx: nCtx,
    speculative: false,
    is_processing: slot.busy,
    params: params(slot.stream),
    next_token: { has_next_token: slot.busy, has_new_line: false, n_remain: -1, n_decoded: slot.nDecoded },
  };
}

export function propsBody(facts: ServerFacts, pool: SlotPool): Json {
  const idle: Slot = { id: 0, busy: false, idTask: -1, nDecoded: 0, stream: true };
  return {
    default_generation_settings: { ...slotBody(idle, facts.nCtx), prompt: "" },
    total_slots: pool.slots.length,
    model_alias: facts.alias,
    model_path: facts.modelPath,
    modalities: { vision: false, audio: false },
    endpoint_slots: facts.slotsEndpoint,
    endpoint_props: false,
    endpoint_metrics: facts.metricsEndpoint,
    webui: true,
    chat_template: CHAT_TEMPLATE,
    bos_token: SPECIAL_TOKENS[0]?.text,
    eos_token: SPECIAL_TOKENS[1]?.text,
    build_info: BUILD_INFO,
    is_sleeping: false,
  };
}

export function slotsBody(facts: ServerFacts, pool: SlotPool): Json[] {
  return pool.slots.map((slot) => slotBody(slot, facts.nCtx));
}

const rate = (tokens: number, ms: number): number => (ms > 0 ? (tokens * 1000) / ms : 0);

/** Prometheus text exposition, with llama-server's metric names. */
export function metricsText(totals: MetricTotals, pool: SlotPool): string {
  const busy = pool.slots.filter((s) => s.busy).length;
  const metrics: Array<[string, "counter" | "gauge", string, number]> = [
    ["prompt_tokens_total", "counter", "Number of prompt tokens processed.", totals.promptTokens],
    ["prompt_seconds_total", "counter", "Prompt process time", totals.promptMs / 1000],
    ["tokens_predicted_total", "counter", "Number of generation tokens processed.", totals.predictedTokens],
    ["tokens_predicted_seconds_total", "counter", "Predict process time", totals.predictedMs / 1000],
    ["n_decode_total", "counter", "Total number of llama_decode() calls", totals.decodeCalls],
    ["n_tokens_max", "counter", "Largest observed n_tokens.", totals.nTokensMax],
    ["n_busy_slots_per_decode", "gauge", "Average number of busy slots per llama_decode() call", totals.decodeCalls > 0 ? 1 : 0],
    ["prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.", rate(totals.promptTokens, totals.promptMs)],
    ["predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s.", rate(totals.predictedTokens, totals.predictedMs)],
    ["requests_processing", "gauge", "Number of requests processing.", busy],
    ["requests_deferred", "gauge", "Number of requests deferred.", pool.waiting()],
  ];
  return metrics.map(([name, type, help, value]) => `# HELP llamacpp:${name} ${help}\n# TYPE llamacpp:${name} ${type}\nllamacpp:${name} ${value}\n`).join("");
}
