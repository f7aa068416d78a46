/**
 * Hostile bodies for the dialects built on the internal form: OpenAI's Responses API (`POST /v1/responses` and the
 * stored responses' routes) and Anthropic's Messages API (`POST /v1/messages`, `/v1/messages/count_tokens`).
 *
 * Each generator makes a request that is valid as the dialect's reference defines it (so that most of them reach
 * the backend and their answers, streamed or not, can be checked), with every kind of item, block, tool and setting
 * the schemas know, the kinds they do not (hosted tools and items, made-up types), tool calls whose arguments are
 * not JSON, images as data URIs and on the test image host, answer caps from 0 to 2^53, thinking settings, and
 * prompts too long for a small context window. `mutated` then breaks one to three places anywhere in it.
 *
 * Placeholders, filled in when a case is sent: `$STORED` (the response the shared test key stored most recently)
 * and `$OTHER` (a response another key stored, which the shared key must never reach).
 */
import fc from "fast-check";
import {
  anyJson,
  CHAT_MODELS,
  EFFORTS,
  encodeSegment,
  extraHeaders,
  headerText,
  hostileString,
  imageUrl,
  longConversation,
  madeUpKey,
  maxTokens,
  modelName,
  mutated,
  optionsObject,
  PNG_BASE64,
  schemaObject,
  someJson,
  THINKERS,
  TOOL_MODELS,
  toolArguments,
  toolName,
} from "./values.ts";

/** llama-server's model, served when a case's settings add its backend (else it is a 404 like any unknown name). */
const LLAMA_MODEL = "qwen2.5-7b-instruct";
/** What Claude Code and Codex CLI send, resolved by the `claude-*` and `gpt-5*` patterns a case's settings may add. */
const AGENT_MODELS = ["claude-sonnet-4-5", "claude-opus-4-1-20250805", "claude-3-5-haiku-latest", "gpt-5.1-codex"];
const dialectModel = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...CHAT_MODELS) },
  { weight: 2, arbitrary: fc.constantFrom(LLAMA_MODEL, ...AGENT_MODELS) },
  { weight: 1, arbitrary: modelName },
);

/** Placeholders for stored responses, and ids that name none. */
export const storedResponseId = fc.oneof(
  { weight: 4, arbitrary: fc.constant("$STORED") },
  { weight: 2, arbitrary: fc.constant("$OTHER") },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 32, maxLength: 32 }).map((hex) => `resp_${hex}`) },
  { weight: 1, arbitrary: fc.constantFrom("", "resp_", "resp_../../x", "__proto__", "constructor", "a".repeat(5000)) },
  { weight: 1, arbitrary: hostileString },
);

/**
 * Long enough to fill a 512-token window several times over (about a third of its bytes in tokens): many turns
 * ending with the user's (what `truncation: auto` and `truncate: oldest` can trim), or one long one (which they cannot).
 */
const overlong = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .integer({ min: 20, max: 120 })
      .map((n) => Array.from({ length: n }, (_, i) => ({ role: (n - i) % 2 ? "user" : "assistant", content: `turn ${i} `.repeat(30) }))),
  },
  { weight: 1, arbitrary: fc.integer({ min: 2000, max: 60_000 }).map((n) => [{ role: "user", content: "long ".repeat(n / 5) }]) },
);

/**
 * Valid fields that are refused together are made to agree, as `coherent` does for chat completions: tools only
 * for models that can use them, a named tool choice only for a tool that is offered, `think` only for thinkers.
 */
function agreeing(choiceName: (choice: unknown) => unknown, toolNameOf: (tool: unknown) => unknown) {
  return (body: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...body };
    if (!TOOL_MODELS.has(String(out.model))) delete out.tools;
    const tools = Array.isArray(out.tools) ? out.tools : [];
    if (tools.length === 0) delete out.tool_choice;
    const named = out.tool_choice === undefined ? undefined : choiceName(out.tool_choice);
    if (named !== undefined && !tools.some((tool) => toolNameOf(tool) === named)) delete out.tool_choice;
    if (!THINKERS.has(String(out.model))) delete out.think;
    return out;
  };
}
const nameOf = (value: unknown): unknown => (value !== null && typeof value === "object" ? (value as { name?: unknown }).name : undefined);

// ---------------------------------------------------------------------------------------------------------------
// OpenAI Responses

const callId = fc.oneof({ weight: 4, arbitrary: fc.constantFrom("call_1", "call_2") }, { weight: 1, arbitrary: hostileString });
const itemIdValue = fc.oneof(fc.constantFrom("msg_1", "fc_1", "rs_1"), hostileString);

const inputText = fc.record({ type: fc.constant("input_text"), text: hostileString });
const inputImage = fc.record(
  {
    type: fc.constant("input_image"),
    image_url: imageUrl,
    file_id: fc.constantFrom("file-abc", null),
    detail: fc.constantFrom("auto", "low", "high", "original"),
  },
  { requiredKeys: ["type"] },
);
/** Refused by the mapping (a model cannot read files), with its path. */
const inputFile = fc.record({ type: fc.constant("input_file"), file_id: fc.constant("file-abc"), filename: hostileString }, { requiredKeys: ["type"] });
/** Part types no schema knows: `image_url` and `text` are chat completions' and Anthropic's words. */
const unknownPart = fc.record({ type: fc.oneof(fc.constantFrom("input_audio", "image_url", "text", "summary_text"), hostileString), text: hostileString });
const userParts = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: inputText },
    { weight: 2, arbitrary: inputImage },
    { weight: 1, arbitrary: inputFile },
    { weight: 1, arbitrary: unknownPart },
  ),
  { minLength: 1, maxLength: 3 },
);
const assistantParts = fc.array(
  fc.oneof(
    fc.record({ type: fc.constant("output_text"), text: hostileString, annotations: fc.constant([]) }, { requiredKeys: ["type", "text"] }),
    fc.record({ type: fc.constant("refusal"), refusal: hostileString }),
    unknownPart,
  ),
  { minLength: 1, maxLength: 2 },
);

const inputMessage = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record(
      { type: fc.constant("message"), id: itemIdValue, role: fc.constant("user"), content: fc.oneof(hostileString, userParts) },
      { requiredKeys: ["role", "content"] },
    ),
  },
  fc.record(
    { type: fc.constant("message"), role: fc.constant("assistant"), content: fc.oneof(hostileString, assistantParts) },
    { requiredKeys: ["role", "content"] },
  ),
  fc.record({ role: fc.constantFrom("system", "developer"), content: fc.oneof(hostileString, fc.array(inputText, { maxLength: 2 })) }),
);
const outputParts = fc.oneof(hostileString, fc.array(fc.oneof(inputText, inputImage, inputFile), { maxLength: 2 }));
const responsesItem = fc.oneof(
  { weight: 6, arbitrary: inputMessage },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        type: fc.constant("function_call"),
        call_id: callId,
        name: toolName,
        arguments: toolArguments,
        id: itemIdValue,
        status: fc.constant("completed"),
        namespace: toolName,
      },
      { requiredKeys: ["type", "call_id", "name", "arguments"] },
    ),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant("function_call_output"), call_id: callId, output: outputParts }) },
  {
    weight: 1,
    arbitrary: fc.record(
      { type: fc.constant("custom_tool_call"), call_id: callId, name: toolName, input: hostileString, namespace: toolName },
      { requiredKeys: ["type", "call_id", "name", "input"] },
    ),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("custom_tool_call_output"), call_id: callId, output: outputParts }) },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        type: fc.constant("reasoning"),
        id: itemIdValue,
        summary: fc.array(fc.record({ type: fc.constant("summary_text"), text: hostileString }), { maxLength: 2 }),
        content: fc.array(fc.record({ type: fc.constant("reasoning_text"), text: hostileString }), { maxLength: 1 }),
        // Another model's sealed reasoning, as Codex sends it back every turn.
        encrypted_content: fc.oneof(fc.base64String({ maxLength: 200 }), hostileString),
      },
      { requiredKeys: ["type"] },
    ),
  },
  // Hosted items (accepted and ignored) and types nobody defined.
  {
    weight: 1,
    arbitrary: fc.record(
      {
        type: fc.oneof(
          fc.constantFrom("web_search_call", "item_reference", "mcp_call", "file_search_call", "computer_call", "local_shell_call"),
          hostileString,
        ),
        id: itemIdValue,
        status: fc.constant("completed"),
        action: someJson,
      },
      { requiredKeys: ["type"] },
    ),
  },
);
const responsesInput = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 8, arbitrary: fc.array(responsesItem, { minLength: 1, maxLength: 5 }) },
  { weight: 1, arbitrary: longConversation },
  { weight: 2, arbitrary: overlong },
);

const functionTool = fc.record(
  { type: fc.constant("function"), name: toolName, description: hostileString, parameters: schemaObject, strict: fc.boolean() },
  { requiredKeys: ["type", "name"] },
);
const customTool = fc.record(
  {
    type: fc.constant("custom"),
    name: toolName,
    description: hostileString,
    format: fc.oneof(
      fc.record({ type: fc.constant("text") }),
      fc.record({ type: fc.constant("grammar"), syntax: fc.constantFrom("lark", "regex"), definition: hostileString }),
    ),
  },
  { requiredKeys: ["type", "name"] },
);
const responsesTool = fc.oneof(
  { weight: 6, arbitrary: functionTool },
  { weight: 2, arbitrary: customTool },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant("namespace"),
      name: toolName,
      description: hostileString,
      tools: fc.array(fc.oneof(functionTool, customTool), { maxLength: 3 }),
    }),
  },
  // Hosted tools a local model cannot run (ignored), and made-up ones.
  {
    weight: 2,
    arbitrary: fc.record(
      {
        type: fc.oneof(
          fc.constantFrom(
            "web_search",
            "web_search_preview",
            "file_search",
            "code_interpreter",
            "image_generation",
            "mcp",
            "computer_use_preview",
            "local_shell",
          ),
          hostileString,
        ),
        server_label: hostileString,
        vector_store_ids: fc.array(hostileString, { maxLength: 2 }),
      },
      { requiredKeys: ["type"] },
    ),
  },
);
const responsesToolChoice = fc.oneof(
  fc.constantFrom("none", "auto", "required"),
  fc.record({ type: fc.constantFrom("function", "custom"), name: toolName }),
  fc.record({
    type: fc.constant("allowed_tools"),
    mode: fc.constantFrom("auto", "required"),
    tools: fc.array(fc.record({ type: fc.constant("function"), name: toolName }), { maxLength: 2 }),
  }),
  fc.record({ type: fc.constantFrom("web_search_preview", "file_search", "mcp"), server_label: hostileString }, { requiredKeys: ["type"] }),
);
const textFormat = fc.oneof(
  fc.record({ type: fc.constantFrom("text", "json_object") }),
  fc.record(
    { type: fc.constant("json_schema"), name: hostileString, description: hostileString, schema: schemaObject, strict: fc.boolean() },
    { requiredKeys: ["type", "schema"] },
  ),
);
/** Absurd caps and below zero, besides what `maxTokens` gives. */
const answerCap = fc.oneof({ weight: 8, arbitrary: maxTokens }, { weight: 1, arbitrary: fc.constantFrom(-1, 1, 16, 32_000, 128_000, 2 ** 31, 2 ** 53) });
/** Ollama's options, with a small window (a long prompt then does not fit) as often as not. */
const dialectOptions = fc.oneof(
  optionsObject,
  fc.record({ num_ctx: fc.constantFrom(64, 256, 512, 2048, 1e9), num_predict: fc.integer({ min: -2, max: 100 }) }, { requiredKeys: [] }),
);

export const responsesBody = mutated(
  fc
    .record(
      {
        model: dialectModel,
        input: responsesInput,
        instructions: hostileString,
        tools: fc.array(responsesTool, { maxLength: 3 }),
        tool_choice: responsesToolChoice,
        parallel_tool_calls: fc.boolean(),
        max_output_tokens: answerCap,
        temperature: fc.double({ min: 0, max: 2, noNaN: true }),
        top_p: fc.double({ min: 0, max: 1, noNaN: true }),
        reasoning: fc.record({ effort: fc.constantFrom(...EFFORTS), summary: fc.constantFrom("auto", "concise", "detailed") }, { requiredKeys: [] }),
        text: fc.record({ format: textFormat, verbosity: fc.constantFrom("low", "medium", "high") }, { requiredKeys: [] }),
        truncation: fc.constantFrom("auto", "disabled"),
        store: fc.boolean(),
        // Half the time null: most ids name nothing this key stored, and the case ends at its 404.
        previous_response_id: fc.option(storedResponseId, { freq: 2, nil: null }),
        metadata: fc.dictionary(fc.string({ maxLength: 64 }), fc.string({ maxLength: 512 }), { maxKeys: 4 }),
        user: hostileString,
        include: fc.array(fc.oneof(fc.constantFrom("reasoning.encrypted_content", "file_search_call.results", "message.output_text.logprobs"), hostileString), {
          maxLength: 2,
        }),
        prompt_cache_key: hostileString,
        service_tier: fc.constantFrom("auto", "default", "flex", "priority"),
        stream: fc.boolean(),
        client_metadata: fc.dictionary(fc.string(), anyJson, { maxKeys: 2 }),
        background: fc.boolean(),
        options: dialectOptions,
        keep_alive: fc.constantFrom("5m", "0", 0, -1),
        think: fc.oneof(fc.boolean(), fc.constantFrom("low", "medium", "high", "max")),
      },
      { requiredKeys: ["model", "input"] },
    )
    .map(agreeing(nameOf, nameOf)),
);

/** `GET /v1/responses/{id}/input_items`'s query: limits in and out of 1–100, orders, cursors, and the rest. */
const inputItemsQuery = fc
  .record(
    {
      limit: fc.constantFrom("1", "20", "100", "0", "101", "-1", "1.5", "1e400", "x", ""),
      order: fc.constantFrom("asc", "desc", "ASC", "", "__proto__"),
      after: fc.oneof(fc.constantFrom("msg_1", "fc_1"), hostileString.map(encodeSegment)),
      "include[]": fc.constant("message.input_image.image_url"),
    },
    { requiredKeys: [] },
  )
  .map((params) => {
    const pairs = Object.entries(params).map(([name, value]) => `${name}=${value}`);
    return pairs.length ? `?${pairs.join("&")}` : "";
  });

/** A stored response's id as a path segment: mostly this key's, else another's, made-up ones encoded, raw bad escapes. */
const idSegment = fc.oneof(
  { weight: 6, arbitrary: fc.constant("$STORED") },
  { weight: 4, arbitrary: storedResponseId.map((id) => (id.startsWith("$") ? id : encodeSegment(id))) },
  { weight: 2, arbitrary: fc.constantFrom("%", "%zz", "%E2%82", "%00", "%0d%0a", "resp_%2F..%2F", "..", ".", "%2e%2e") },
);

/** The three stored-response routes, mostly with their own methods, sometimes with `?stream=true` or another method. */
export const storedResponsePath = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(idSegment, fc.constantFrom("", "", "?stream=true", "?stream=false", "?include[]=x"))
      .map(([id, query]) => ({ path: `/v1/responses/${id}${query}`, methods: ["GET", "DELETE"] })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(idSegment, fc.oneof(fc.constant(""), inputItemsQuery))
      .map(([id, query]) => ({ path: `/v1/responses/${id}/input_items${query}`, methods: ["GET"] })),
  },
  // OpenAI's, for background responses, which the gateway runs none of.
  { weight: 1, arbitrary: idSegment.map((id) => ({ path: `/v1/responses/${id}/cancel`, methods: ["POST"] })) },
);

// ---------------------------------------------------------------------------------------------------------------
// Anthropic Messages

const cacheControl = fc.record({ type: fc.constant("ephemeral"), ttl: fc.constantFrom("5m", "1h") }, { requiredKeys: ["type"] });
const textBlock = fc.record(
  { type: fc.constant("text"), text: hostileString, cache_control: cacheControl, citations: fc.constant(null) },
  { requiredKeys: ["type", "text"] },
);
const MEDIA_TYPES = ["image/png", "image/jpeg", "image/webp", "image/gif", "image/svg+xml", "application/pdf", ""];
const imageSource = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant("base64"),
      media_type: fc.oneof({ weight: 4, arbitrary: fc.constant("image/png") }, { weight: 1, arbitrary: fc.constantFrom(...MEDIA_TYPES) }),
      data: fc.oneof(
        { weight: 4, arbitrary: fc.constant(PNG_BASE64) },
        { weight: 1, arbitrary: fc.constantFrom("!!!", "", `data:image/png;base64,${PNG_BASE64}`) },
      ),
    }),
  },
  { weight: 3, arbitrary: fc.record({ type: fc.constant("url"), url: imageUrl }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("file"), file_id: fc.constant("file_011CNha8iCJcU1wXNR6q4V8w") }) },
);
const imageBlock = fc.record({ type: fc.constant("image"), source: imageSource, cache_control: cacheControl }, { requiredKeys: ["type", "source"] });
const toolUseId = fc.oneof({ weight: 4, arbitrary: fc.constantFrom("toolu_1", "toolu_2") }, { weight: 1, arbitrary: hostileString });
/** A tool call's input: an object (evil keys and deep nesting included), and sometimes not one. */
const toolInput = fc.oneof({ weight: 6, arbitrary: optionsObject }, { weight: 1, arbitrary: someJson });
const toolResultContent = fc.oneof(
  hostileString,
  fc.array(fc.oneof(textBlock, imageBlock, fc.record({ type: fc.constant("tool_reference"), tool_name: toolName })), { maxLength: 3 }),
);
const toolUseBlock = fc.record({ type: fc.constant("tool_use"), id: toolUseId, name: toolName, input: toolInput });
const toolResultBlock = fc.record(
  { type: fc.constant("tool_result"), tool_use_id: toolUseId, content: toolResultContent, is_error: fc.boolean(), cache_control: cacheControl },
  { requiredKeys: ["type", "tool_use_id"] },
);
const thinkingBlocks = fc.oneof(
  fc.record(
    { type: fc.constant("thinking"), thinking: hostileString, signature: fc.oneof(fc.base64String({ maxLength: 100 }), hostileString) },
    { requiredKeys: ["type", "thinking"] },
  ),
  fc.record({ type: fc.constant("redacted_thinking"), data: fc.base64String({ maxLength: 200 }) }),
);
/** Refused by the mapping with the block's path: the model reads text and images only. */
const documentBlock = fc.record({ type: fc.constantFrom("document", "search_result"), source: someJson, title: hostileString }, { requiredKeys: ["type"] });
/** Hosted tools' blocks (history the model cannot use), and types nobody defined. */
const hostedBlock = fc.record(
  {
    type: fc.oneof(fc.constantFrom("server_tool_use", "web_search_tool_result", "container_upload", "mcp_tool_use", "input_json_delta"), hostileString),
    id: toolUseId,
    content: someJson,
  },
  { requiredKeys: ["type"] },
);
/** A role's blocks, mostly where they belong (a tool call in the assistant's turn, its result in the user's), sometimes not. */
const blocks = (own: fc.Arbitrary<unknown>, others: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 2, arbitrary: hostileString },
    {
      weight: 5,
      arbitrary: fc.array(
        fc.oneof({ weight: 6, arbitrary: textBlock }, { weight: 5, arbitrary: own }, { weight: 1, arbitrary: hostedBlock }, { weight: 1, arbitrary: others }),
        { minLength: 1, maxLength: 4 },
      ),
    },
  );
const anthropicMessage = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      role: fc.constant("user"),
      content: blocks(fc.oneof(imageBlock, toolResultBlock, documentBlock), fc.oneof(toolUseBlock, thinkingBlocks)),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ role: fc.constant("assistant"), content: blocks(fc.oneof(toolUseBlock, thinkingBlocks), fc.oneof(imageBlock, toolResultBlock)) }),
  },
  // Claude Code sends one after the user's turn.
  { weight: 1, arbitrary: fc.record({ role: fc.constant("system"), content: fc.oneof(hostileString, fc.array(textBlock, { maxLength: 2 })) }) },
);
const anthropicMessages = fc.oneof(
  { weight: 10, arbitrary: fc.array(anthropicMessage, { minLength: 1, maxLength: 4 }) },
  { weight: 1, arbitrary: longConversation },
  { weight: 2, arbitrary: overlong },
);
const anthropicTool = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        type: fc.constantFrom("custom", null),
        name: toolName,
        description: hostileString,
        input_schema: schemaObject,
        cache_control: cacheControl,
        defer_loading: fc.boolean(),
      },
      { requiredKeys: ["name", "input_schema"] },
    ),
  },
  // Anthropic's versioned hosted tools (ignored), and made-up ones.
  {
    weight: 2,
    arbitrary: fc.record(
      {
        type: fc.oneof(
          fc.constantFrom("web_search_20250305", "bash_20250124", "text_editor_20250728", "code_execution_20250825", "computer_20250124"),
          hostileString,
        ),
        name: toolName,
        max_uses: fc.nat(10),
      },
      { requiredKeys: ["type", "name"] },
    ),
  },
);
const anthropicToolChoice = fc.oneof(
  fc.record({ type: fc.constantFrom("auto", "any"), disable_parallel_tool_use: fc.boolean() }, { requiredKeys: ["type"] }),
  fc.record({ type: fc.constant("tool"), name: toolName, disable_parallel_tool_use: fc.boolean() }, { requiredKeys: ["type", "name"] }),
  fc.record({ type: fc.constant("none") }),
);
/** Thinking as Claude Code asks for it (enabled with a large budget, adaptive), and budgets nobody should send. */
const thinkingConfig = fc.oneof(
  fc.record({ type: fc.constant("enabled"), budget_tokens: fc.oneof(fc.constantFrom(1024, 31_999, 127_999), fc.nat(), fc.constantFrom(0, -1, 2 ** 53, 1.5)) }),
  fc.record({ type: fc.constantFrom("adaptive", "between_tools", "disabled") }),
);
/** max_tokens is required: Claude Code's 32,000 and 128,000 (ceilings, not demands), small ones, and out of range. */
const anthropicMaxTokens = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 64 }) },
  { weight: 3, arbitrary: fc.constantFrom(32_000, 128_000, 8192) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, 2 ** 31, 2 ** 53 - 1, 1e12) },
);

/** What both Anthropic routes read: the prompt and what shapes it. */
const promptFields = {
  model: dialectModel,
  messages: anthropicMessages,
  system: fc.oneof(hostileString, fc.array(textBlock, { maxLength: 3 })),
  tools: fc.array(anthropicTool, { maxLength: 3 }),
  tool_choice: anthropicToolChoice,
  thinking: thinkingConfig,
  output_config: fc.record(
    { effort: fc.constantFrom("low", "medium", "high", "xhigh", "max"), format: fc.record({ type: fc.constant("json_schema"), schema: schemaObject }) },
    { requiredKeys: [] },
  ),
};
const agreeingAnthropic = agreeing((choice) => ((choice as { type?: unknown }).type === "tool" ? nameOf(choice) : undefined), nameOf);

export const messagesBody = mutated(
  fc
    .record(
      {
        ...promptFields,
        max_tokens: anthropicMaxTokens,
        stop_sequences: fc.array(hostileString, { maxLength: 3 }),
        temperature: fc.double({ min: 0, max: 1, noNaN: true }),
        top_p: fc.double({ min: 0, max: 1, noNaN: true }),
        top_k: fc.nat(100),
        stream: fc.boolean(),
        metadata: fc.record({ user_id: fc.oneof(hostileString, fc.constant(null)) }),
        context_management: fc.oneof(
          { weight: 4, arbitrary: fc.constant({ edits: [{ type: "clear_tool_uses_20250919" }] }) },
          { weight: 1, arbitrary: anyJson },
        ),
        service_tier: fc.constantFrom("auto", "standard_only"),
        container: hostileString,
      },
      { requiredKeys: ["model", "messages", "max_tokens"] },
    )
    .map(agreeingAnthropic),
);

export const countTokensBody = mutated(fc.record(promptFields, { requiredKeys: ["model", "messages"] }).map(agreeingAnthropic));

/**
 * Anthropic's clients send the key in `x-api-key` (its SDK's `apiKey`, ANTHROPIC_API_KEY) or as a Bearer token
 * (`authToken`, ANTHROPIC_AUTH_TOKEN); x-api-key is read first. With `anthropic-version` and `anthropic-beta`.
 * `$KEY` is the shared test key, `$ADMIN` the admin token.
 */
const anthropicCredentials: fc.Arbitrary<[string, string][]> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<[string, string][]>([["x-api-key", "$KEY"]]) },
  { weight: 3, arbitrary: fc.constant<[string, string][]>([["authorization", "Bearer $KEY"]]) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("Bearer $ADMIN", "Bearer sk-nope", "Basic x").map((auth): [string, string][] => [
      ["x-api-key", "$KEY"],
      ["authorization", auth],
    ]),
  },
  // Wrong: x-api-key is read first, so a bad one fails even beside a good Bearer token.
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        madeUpKey,
        fc.constantFrom("$ADMIN", "Bearer $KEY", "$KEY extra", "sk-ant-api03-nope"),
        headerText.filter((text) => text.trim() !== ""),
      )
      .map((value): [string, string][] => [
        ["x-api-key", value],
        ["authorization", "Bearer $KEY"],
      ]),
  },
  { weight: 1, arbitrary: fc.constantFrom<[string, string][]>([], [["x-api-key", " "]], [["authorization", "Bearer $ADMIN"]]) },
);
export const anthropicHeaders: fc.Arbitrary<[string, string][]> = fc
  .tuple(
    anthropicCredentials,
    fc.record(
      {
        "anthropic-version": fc.oneof(fc.constantFrom("2023-06-01", "2023-01-01"), headerText),
        "anthropic-beta": fc.oneof(
          fc.constantFrom("claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27", "prompt-caching-2024-07-31"),
          headerText,
        ),
        "anthropic-dangerous-direct-browser-access": fc.constant("true"),
      },
      { requiredKeys: [] },
    ),
    extraHeaders,
  )
  // Credentials come from the first list only: the shared extras may hold an x-api-key of their own.
  .map(([credentials, anthropic, rest]) => [...credentials, ...Object.entries(anthropic), ...rest.filter(([name]) => name !== "x-api-key")]);

/** Images on the test image host, in each dialect's form: a download before the key is checked shows in its counts. */
export function withHostedImage(url: string): fc.Arbitrary<Record<string, unknown>> {
  return fc.oneof(
    fc.record({
      model: dialectModel,
      input: fc.constant([
        {
          role: "user",
          content: [
            { type: "input_text", text: "what is it?" },
            { type: "input_image", image_url: url },
          ],
        },
      ]),
      stream: fc.boolean(),
    }),
    fc.record({
      model: dialectModel,
      max_tokens: anthropicMaxTokens,
      messages: fc.constant([
        {
          role: "user",
          content: [
            { type: "image", source: { type: "url", url } },
            { type: "text", text: "what is it?" },
          ],
        },
      ]),
      stream: fc.boolean(),
    }),
  );
}
