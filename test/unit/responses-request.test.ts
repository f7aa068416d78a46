import { describe, expect, it } from "vitest";
import type { ModelDefaults, ModelLimits } from "../../src/core/model-settings.ts";
import { validate } from "../../src/core/validate.ts";
import { estimateResponsesPrompt, responsesAnswerCap, responsesImageRefs, toNativeResponses } from "../../src/dialects/openai-responses/request.ts";
import { type ResponsesRequest, responsesRequestSchema } from "../../src/dialects/openai-responses/schema.ts";
import { responsesToolNames } from "../../src/dialects/openai-responses/tools.ts";
import { failure } from "./helpers.ts";

const m = "qwen3:8b";
const B = "iVBORw0KGgoAAAANSUhEUg==";
const EMPTY = { type: "object", properties: {} };

interface Context {
  defaults?: ModelDefaults;
  limits?: ModelLimits;
  remoteImages?: ReadonlyMap<string, string>;
}

const parse = (body: Record<string, unknown>): ResponsesRequest => validate(responsesRequestSchema, { model: "gpt-5-codex", ...body });
/** The request as the route sees it: validated by the public schema, then translated. */
const translate = (body: Record<string, unknown>, context: Context = {}) => toNativeResponses(parse(body), { model: m, ...context });
const paramOf = (fn: () => unknown) => failure(fn).body.error.param;

const fn = (name: string, parameters: Record<string, unknown> = { type: "object", properties: { cmd: { type: "string" } } }) => ({
  type: "function",
  name,
  description: `The ${name} tool.`,
  parameters,
  strict: false,
});
const nativeFn = (name: string, parameters: Record<string, unknown> = { type: "object", properties: { cmd: { type: "string" } } }, label = name) => ({
  type: "function",
  function: { name, description: `The ${label} tool.`, parameters },
});

describe("a Codex CLI turn", () => {
  const names = ["shell", "update_plan", "view_image", "list_mcp_resources", "read_file", "list_dir", "grep_files"];
  const codex = {
    model: "gpt-5-codex",
    instructions: null,
    input: [
      { type: "message", role: "developer", content: [{ type: "input_text", text: "You are Codex." }] },
      { type: "message", role: "developer", content: [{ type: "input_text", text: "Sandbox: workspace-write." }] },
      {
        type: "message",
        role: "user",
        content: [
          { type: "input_text", text: "<environment_context>cwd</environment_context>" },
          { type: "input_text", text: "Fix the bug." },
        ],
      },
    ],
    tools: [
      ...names.map((name) => fn(name)),
      { type: "namespace", name: "mcp_docs", description: "Docs server.", tools: [fn("search"), fn("fetch", EMPTY)] },
      { type: "web_search", external_web_access: false },
    ],
    tool_choice: "auto",
    parallel_tool_calls: true,
    reasoning: { summary: "auto" },
    store: false,
    stream: true,
    include: ["reasoning.encrypted_content"],
    prompt_cache_key: "0199-session",
    client_metadata: { originator: "codex_exec" },
    text: { verbosity: "low" },
  };

  it("validates and maps to the native body, hosted tools and bookkeeping fields dropped", () => {
    expect(toNativeResponses(validate(responsesRequestSchema, codex), { model: m })).toStrictEqual({
      model: m,
      stream: true,
      messages: [
        { role: "system", content: "You are Codex." },
        { role: "system", content: "Sandbox: workspace-write." },
        { role: "user", content: "<environment_context>cwd</environment_context>\nFix the bug." },
      ],
      tools: [...names.map((name) => nativeFn(name)), nativeFn("mcp_docs__search", undefined, "search"), nativeFn("mcp_docs__fetch", EMPTY, "fetch")],
    });
  });

  it("names the namespace members and estimates the prompt with the tool schemas", () => {
    const body = validate(responsesRequestSchema, codex);
    const { custom, namespaced } = responsesToolNames(body);
    expect(custom.size).toBe(0);
    expect([...namespaced]).toStrictEqual([
      ["mcp_docs__search", { namespace: "mcp_docs", name: "search" }],
      ["mcp_docs__fetch", { namespace: "mcp_docs", name: "fetch" }],
    ]);
    const withoutTools = estimateResponsesPrompt({ ...body, tools: null });
    expect(withoutTools).toBe(Math.ceil("You are Codex.\nSandbox: workspace-write.\n<environment_context>cwd</environment_context>\nFix the bug.".length / 4));
    const toolsJson = JSON.stringify(body.tools!.slice(0, 8));
    expect(estimateResponsesPrompt(body)).toBe(withoutTools + Math.ceil(toolsJson.length / 4));
    expect(responsesAnswerCap(body)).toBeNull();
  });

  it("maps a resumed turn: history, calls, their outputs and reasoning", () => {
    const native = translate({
      input: [
        { type: "message", role: "developer", content: "Rules." },
        { type: "message", role: "user", content: [{ type: "input_text", text: "List the files." }] },
        { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "I should list." }], encrypted_content: "gAAAA..." },
        { type: "function_call", id: "fc_1", call_id: "call_1", name: "shell", arguments: '{"cmd":"ls"}', status: "completed" },
        { type: "function_call", call_id: "call_2", name: "search", namespace: "mcp_docs", arguments: "" },
        { type: "function_call_output", call_id: "call_1", output: "a.txt\nb.txt" },
        { type: "function_call_output", call_id: "call_2", output: [{ type: "input_text", text: "no docs" }] },
        { type: "reasoning", id: "rs_2", summary: [], encrypted_content: "gAAAA..." },
        { type: "message", role: "assistant", id: "msg_1", status: "completed", content: [{ type: "output_text", text: "Two files.", annotations: [] }] },
        { type: "web_search_call", id: "ws_1", status: "completed" },
        { role: "user", content: "Thanks" },
      ],
    });
    expect(native.messages).toStrictEqual([
      { role: "system", content: "Rules." },
      { role: "user", content: "List the files." },
      {
        role: "assistant",
        content: "",
        thinking: "I should list.",
        tool_calls: [
          { id: "call_1", function: { name: "shell", arguments: { cmd: "ls" } } },
          { id: "call_2", function: { name: "mcp_docs__search", arguments: {} } },
        ],
      },
      { role: "tool", content: "a.txt\nb.txt", tool_name: "shell", tool_call_id: "call_1" },
      { role: "tool", content: "no docs", tool_name: "mcp_docs__search", tool_call_id: "call_2" },
      { role: "assistant", content: "Two files." },
      { role: "user", content: "Thanks" },
    ]);
  });

  it("joins an answer's text and the calls that follow it into one assistant turn", () => {
    const native = translate({
      input: [
        { role: "user", content: "Go" },
        {
          type: "reasoning",
          summary: [
            { type: "summary_text", text: "a" },
            { type: "summary_text", text: "b" },
          ],
        },
        { role: "assistant", content: [{ type: "output_text", text: "Looking." }] },
        { type: "function_call", call_id: "c1", name: "shell", arguments: "{}" },
        { type: "function_call_output", call_id: "unknown", output: "?" },
      ],
    });
    expect(native.messages.slice(1)).toStrictEqual([
      { role: "assistant", content: "Looking.", thinking: "a\nb", tool_calls: [{ id: "c1", function: { name: "shell", arguments: {} } }] },
      { role: "tool", content: "?", tool_call_id: "unknown" },
    ]);
  });
});

describe("input forms", () => {
  it("a string input is one user message; instructions come first; system messages stay in place", () => {
    expect(translate({ input: "Hi" })).toStrictEqual({ model: m, stream: true, messages: [{ role: "user", content: "Hi" }] });
    expect(
      translate({
        instructions: "Be brief.",
        input: [
          { role: "user", content: "Hi" },
          { role: "system", content: "Now in French." },
        ],
      }).messages,
    ).toStrictEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hi" },
      { role: "system", content: "Now in French." },
    ]);
  });

  it("refuses a request with nothing to answer", () => {
    expect(paramOf(() => translate({}))).toBe("input");
    expect(paramOf(() => translate({ input: [] }))).toBe("input");
  });

  it("images: data URIs inline, URLs through remoteImages, refs with their paths", () => {
    const url = "https://example.com/cat.png";
    const body = {
      input: [
        {
          role: "user",
          content: [
            { type: "input_text", text: "What is this?" },
            { type: "input_image", image_url: `data:image/png;base64,${B}`, detail: "high" },
            { type: "input_image", image_url: url, detail: "auto" },
          ],
        },
        { type: "function_call", call_id: "c", name: "view_image", arguments: "{}" },
        { type: "function_call_output", call_id: "c", output: [{ type: "input_image", image_url: url }] },
      ],
    };
    expect(responsesImageRefs(parse(body))).toStrictEqual([
      { url: `data:image/png;base64,${B}`, param: "input[0].content[1].image_url" },
      { url, param: "input[0].content[2].image_url" },
      { url, param: "input[2].output[0].image_url" },
    ]);
    const native = translate(body, { remoteImages: new Map([[url, "UkVNT1RF"]]) });
    expect(native.messages[0]).toStrictEqual({ role: "user", content: "What is this?", images: [B, "UkVNT1RF"] });
    expect(native.messages[2]).toStrictEqual({ role: "tool", content: "", images: ["UkVNT1RF"], tool_name: "view_image", tool_call_id: "c" });
    expect(estimateResponsesPrompt(parse(body))).toBe(Math.ceil("What is this?\nview_image\n{}".length / 4) + 3 * 768);

    const missing = failure(() => translate(body));
    expect(missing.status).toBe(400);
    expect(missing.body.error.param).toBe("input[0].content[2].image_url");
    expect(paramOf(() => translate({ input: [{ role: "user", content: [{ type: "input_image", file_id: "file-1" }] }] }))).toBe(
      "input[0].content[0].image_url",
    );
    expect(paramOf(() => translate({ input: [{ role: "user", content: [{ type: "input_file", file_id: "file-1" }] }] }))).toBe("input[0].content[0]");
  });
});

describe("tools", () => {
  const custom = { type: "custom", name: "apply_patch", description: "Edit files.", format: { type: "grammar", syntax: "lark", definition: "start: x" } };
  const nativeCustom = {
    type: "function",
    function: {
      name: "apply_patch",
      description: "Edit files.",
      parameters: {
        type: "object",
        properties: { input: { type: "string", description: "The raw input for the tool, matching this lark grammar:\nstart: x" } },
        required: ["input"],
      },
    },
  };

  it("custom tools become a function of one string input; their calls and outputs come back", () => {
    const body = {
      tools: [custom, { type: "custom", name: "note" }],
      input: [
        { role: "user", content: "Patch it" },
        { type: "custom_tool_call", call_id: "ct_1", name: "apply_patch", input: "*** Begin Patch" },
        { type: "custom_tool_call_output", call_id: "ct_1", output: "Done" },
      ],
    };
    const native = translate(body);
    expect(native.tools).toStrictEqual([
      nativeCustom,
      {
        type: "function",
        function: {
          name: "note",
          parameters: { type: "object", properties: { input: { type: "string", description: "The raw input for the tool." } }, required: ["input"] },
        },
      },
    ]);
    expect(native.messages.slice(1)).toStrictEqual([
      { role: "assistant", content: "", tool_calls: [{ id: "ct_1", function: { name: "apply_patch", arguments: { input: "*** Begin Patch" } } }] },
      { role: "tool", content: "Done", tool_name: "apply_patch", tool_call_id: "ct_1" },
    ]);
    expect([...responsesToolNames(parse(body)).custom]).toStrictEqual(["apply_patch", "note"]);
  });

  it("tool_choice: none, auto, required, a named function or custom tool, allowed_tools, hosted choices", () => {
    const tools = [fn("shell"), custom, { type: "namespace", name: "ns", tools: [fn("f")] }, { type: "file_search", vector_store_ids: [] }];
    const all = [nativeFn("shell"), nativeCustom, nativeFn("ns__f", undefined, "f")];
    const pick = (tool_choice: unknown) => translate({ input: "x", tools, tool_choice }).tools;
    expect(pick("none")).toBeUndefined();
    expect(pick("auto")).toStrictEqual(all);
    expect(pick("required")).toStrictEqual(all);
    expect(pick(undefined)).toStrictEqual(all);
    expect(pick({ type: "function", name: "shell" })).toStrictEqual([all[0]]);
    expect(pick({ type: "function", name: "ns__f" })).toStrictEqual([all[2]]);
    expect(pick({ type: "custom", name: "apply_patch" })).toStrictEqual([all[1]]);
    expect(
      pick({
        type: "allowed_tools",
        mode: "auto",
        tools: [
          { type: "function", name: "shell" },
          { type: "custom", name: "apply_patch" },
        ],
      }),
    ).toStrictEqual(all.slice(0, 2));
    expect(pick({ type: "web_search_preview" })).toStrictEqual(all);
    expect(pick({ type: "mcp", server_label: "x" })).toStrictEqual(all);
    expect(paramOf(() => pick({ type: "function", name: "apply_patch" }))).toBe("tool_choice.name");
    expect(paramOf(() => pick({ type: "function", name: "missing" }))).toBe("tool_choice.name");
    expect(translate({ input: "x", tools: [{ type: "web_search" }] }).tools).toBeUndefined();
  });
});

describe("options, think, format, defaults and limits", () => {
  it("maps sampling, the output cap, reasoning effort and text.format", () => {
    const native = translate({
      input: "x",
      max_output_tokens: 500,
      temperature: 0.2,
      top_p: 0.9,
      reasoning: { effort: "xhigh", summary: "detailed" },
      text: { format: { type: "json_schema", name: "answer", schema: { type: "object" }, strict: true } },
      truncation: "auto",
      previous_response_id: "resp_1",
      metadata: { a: "b" },
      user: "u",
      service_tier: "auto",
    });
    expect(native).toStrictEqual({
      model: m,
      stream: true,
      messages: [{ role: "user", content: "x" }],
      options: { temperature: 0.2, top_p: 0.9, num_predict: 500 },
      think: "max",
      format: { type: "object" },
    });
    expect(translate({ input: "x", text: { format: { type: "json_object" } } }).format).toBe("json");
    expect(translate({ input: "x", text: { format: { type: "text" } } }).format).toBeUndefined();
    for (const [effort, think] of [
      ["none", false],
      ["minimal", "low"],
      ["low", "low"],
      ["medium", "medium"],
      ["high", "high"],
    ] as const) {
      expect(translate({ input: "x", reasoning: { effort } }).think).toBe(think);
    }
    expect(translate({ input: "x", think: true }).think).toBe(true);
  });

  it("MODEL_DEFAULTS go under the client's values, MODEL_LIMITS over them", () => {
    const defaults: ModelDefaults = { options: { num_ctx: 16384, temperature: 0.5 }, keep_alive: "10m", think: "low" };
    const limits: ModelLimits = { max_num_ctx: 8192, max_num_predict: 1000, max_keep_alive: "5m" };
    const native = translate({ input: "x", temperature: 0.1, max_output_tokens: 4000, options: { top_k: 20 } }, { defaults, limits });
    expect(native.options).toStrictEqual({ num_ctx: 8192, temperature: 0.1, top_k: 20, num_predict: 1000 });
    expect(native.keep_alive).toBe("5m");
    expect(native.think).toBe("low");
  });

  it("the answer cap: max_output_tokens, else a usable options.num_predict", () => {
    expect(responsesAnswerCap(parse({ input: "x", max_output_tokens: 64, options: { num_predict: 9 } }))).toBe(64);
    expect(responsesAnswerCap(parse({ input: "x", options: { num_predict: 9 } }))).toBe(9);
    expect(responsesAnswerCap(parse({ input: "x", options: { num_predict: -1 } }))).toBeNull();
  });
});

describe("validation", () => {
  it("invalid call arguments are a 400 naming the item", () => {
    for (const args of ["{not json", "[1]", "3"]) {
      const { status, body } = failure(() => translate({ input: [{ type: "function_call", call_id: "c", name: "f", arguments: args }] }));
      expect(status).toBe(400);
      expect(body.error.param).toBe("input[0].arguments");
    }
  });

  it("wrong types are 400s naming the path; unknown fields and hosted items pass", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ model: 3, input: "x" }, "model"],
      [{ input: 3 }, "input"],
      [{ input: [{ role: "user", content: 2 }] }, "input[0].content"],
      [{ input: [{ role: "robot", content: "x" }] }, "input[0].role"],
      [{ input: [{ role: "user", content: [{ type: "input_text", text: 1 }] }] }, "input[0].content[0].text"],
      [{ input: [{ role: "user", content: [{ type: "video" }] }] }, "input[0].content[0].type"],
      [{ input: [{ type: "function_call", call_id: "c", name: "f", arguments: {} }] }, "input[0].arguments"],
      [{ input: [{ type: "function_call_output", output: "x" }] }, "input[0].call_id"],
      [{ input: "x", tools: [{ type: "function", name: "f", parameters: "no" }] }, "tools[0].parameters"],
      [{ input: "x", tools: [{ type: "namespace", name: "n", tools: [{ type: "web_search" }] }] }, "tools[0].tools[0].type"],
      [{ input: "x", tool_choice: "sometimes" }, "tool_choice"],
      [{ input: "x", max_output_tokens: -1 }, "max_output_tokens"],
      [{ input: "x", temperature: "hot" }, "temperature"],
      [{ input: "x", reasoning: { effort: "extreme" } }, "reasoning.effort"],
      [{ input: "x", text: { format: { type: "json_schema" } } }, "text.format.schema"],
      [{ input: "x", truncation: "middle" }, "truncation"],
      [{ input: "x", store: "no" }, "store"],
      [{ input: "x", include: "all" }, "include"],
    ];
    for (const [body, param] of cases) {
      const { status, body: error } = failure(() => parse(body));
      expect(status, JSON.stringify(body)).toBe(400);
      expect(error.error.param, JSON.stringify(body)).toBe(param);
    }
    const ok = parse({
      input: [
        { type: "item_reference", id: "x" },
        { role: "user", content: "hi" },
      ],
      background: false,
      prompt_cache_retention: "24h",
    });
    expect(ok).not.toHaveProperty("background");
    expect(
      translate({
        input: [
          { type: "item_reference", id: "x" },
          { role: "user", content: "hi" },
        ],
      }).messages,
    ).toStrictEqual([{ role: "user", content: "hi" }]);
  });
});
