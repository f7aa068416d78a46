/**
 * POST /v1/responses inside workerd against the Ollama emulator: the native request it becomes, the exact SSE
 * framing and event order, failures and heartbeats mid-stream, what Codex CLI sends, model-name patterns.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { emulator, namedFrames as frames, gatewayWith, postJson, postJsonWith } from "./helpers.ts";

beforeEach(() => emulator.reset());

describe("POST /v1/responses", () => {
  it("non-stream: a Response object, the name as sent, and the native /api/chat request it became", async () => {
    const res = await postJson("/v1/responses", {
      model: "gpt-4o-mini",
      instructions: "Be brief.",
      input: "hi there",
      max_output_tokens: 50,
      temperature: 0.2,
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body).toMatchObject({
      object: "response",
      status: "completed",
      model: "gpt-4o-mini",
      error: null,
      incomplete_details: null,
      instructions: "Be brief.",
    });
    expect(body.id).toMatch(/^resp_/);
    expect(body.output).toHaveLength(1);
    expect(body.output[0]).toMatchObject({
      type: "message",
      role: "assistant",
      status: "completed",
      content: [{ type: "output_text", text: "Hello! You said: hi there", annotations: [] }],
    });
    expect(body.usage.total_tokens).toBe(body.usage.input_tokens + body.usage.output_tokens);
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body).toStrictEqual({
      model: "llama3.2:latest",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hi there" },
      ],
      stream: true,
      options: { temperature: 0.2, num_predict: 50 },
    });
  });

  it("stream: named events with increasing sequence numbers, from response.created to one response.completed", async () => {
    const res = await postJson("/v1/responses", { model: "llama3.2", input: "two words", stream: true });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const { events } = await frames(res);
    const types = events.map((frame) => frame.event);
    expect(types.slice(0, 5)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
    ]);
    expect(types.slice(-4)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]);
    for (const [i, frame] of events.entries()) {
      expect(frame.data.type).toBe(frame.event);
      expect(frame.data.sequence_number).toBe(i);
    }
    const text = events
      .filter((frame) => frame.event === "response.output_text.delta")
      .map((frame) => frame.data.delta)
      .join("");
    expect(text).toBe("Hello! You said: two words");
    expect(events.at(-1)!.data.response.output[0].content[0].text).toBe(text);
  });

  it("a backend failure mid-stream ends with response.failed, never a hang; a silent backend gets heartbeats", async () => {
    await emulator.fault({ fault: { kind: "error-midstream", afterLines: 2, message: "model runner crashed" } });
    const failed = await frames(await postJson("/v1/responses", { model: "llama3.2", input: "x", stream: true }));
    const last = failed.events.at(-1)!;
    expect(last.event).toBe("response.failed");
    expect(last.data.response.status).toBe("failed");
    expect(last.data.response.error.message).toMatch(/model runner crashed/);
    expect(failed.events.filter((frame) => frame.event.startsWith("response.completed"))).toEqual([]);

    // Silent for five heartbeat intervals (HEARTBEAT_INTERVAL is 300 ms here): heartbeats come even on a loaded machine.
    await emulator.fault({ fault: { kind: "slow-first-byte", delayMs: 1500 }, times: 1 });
    const slow = await frames(await postJson("/v1/responses", { model: "llama3.2", input: "x", stream: true }));
    expect(slow.comments).toBeGreaterThan(0);
    expect(slow.events.at(-1)!.event).toBe("response.completed");
  });

  it("accepts what Codex CLI sends: developer messages, function and namespace tools, web_search, reasoning summary, include, store false", async () => {
    const codex = {
      model: "gpt-5.1-codex",
      instructions: undefined,
      input: [
        { type: "message", role: "developer", content: [{ type: "input_text", text: "You are Codex." }] },
        { type: "message", role: "developer", content: [{ type: "input_text", text: "Sandbox: workspace-write." }] },
        { type: "message", role: "user", content: [{ type: "input_text", text: "<environment_context>cwd=/tmp</environment_context>" }] },
        { type: "message", role: "user", content: [{ type: "input_text", text: "list the files" }] },
      ],
      tools: [
        {
          type: "function",
          name: "shell",
          description: "Runs a command",
          strict: false,
          parameters: { type: "object", properties: { command: { type: "array", items: { type: "string" } } }, required: ["command"] },
        },
        {
          type: "namespace",
          name: "mcp",
          description: "MCP tools",
          tools: [{ type: "function", name: "read", parameters: { type: "object", properties: {} } }],
        },
        { type: "web_search" },
      ],
      tool_choice: "auto",
      parallel_tool_calls: true,
      reasoning: { summary: "auto" },
      store: false,
      stream: true,
      include: ["reasoning.encrypted_content"],
      prompt_cache_key: "019a-session",
      client_metadata: { originator: "codex_cli_rs" },
    };
    const res = await postJsonWith({ MODEL_ALIASES: JSON.stringify({ "gpt-5*": "qwen3:8b" }) }, "/v1/responses", codex);
    expect(res.status).toBe(200);
    const { events } = await frames(res);
    const done = events.at(-1)!;
    expect(done.event).toBe("response.completed");
    expect(done.data.response.model).toBe("gpt-5.1-codex");
    const call = done.data.response.output.find((item: any) => item.type === "function_call");
    expect(call).toMatchObject({ type: "function_call", name: "shell", status: "completed" });
    expect(JSON.parse(call.arguments)).toHaveProperty("command");
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.model).toBe("qwen3:8b");
    expect(chat!.body.messages.slice(0, 2)).toEqual([
      { role: "system", content: "You are Codex." },
      { role: "system", content: "Sandbox: workspace-write." },
    ]);
    expect(chat!.body.tools.map((tool: any) => tool.function.name)).toEqual(["shell", "mcp__read"]);
  });

  it("reasoning asked of a model that cannot think is dropped, not an error", async () => {
    const res = await postJson("/v1/responses", { model: "llama3.2", input: "x", reasoning: { effort: "high", summary: "auto" } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).status).toBe("completed");
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.think).toBeUndefined();
  });

  it("errors in OpenAI's envelope: a missing model is a 400 naming it, an unknown previous_response_id a 404", async () => {
    const missing = await postJson("/v1/responses", { input: "x" });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as any).error.param).toBe("model");
    const previous = await postJson("/v1/responses", { model: "llama3.2", input: "x", previous_response_id: "resp_abc" });
    expect(previous.status).toBe(404);
    expect(((await previous.json()) as any).error).toMatchObject({
      type: "invalid_request_error",
      param: "previous_response_id",
      code: "previous_response_not_found",
    });
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });

  it("needs a key like every route: 401 and nothing reaches the backend", async () => {
    const res = await gatewayWith({}, "/v1/responses", { method: "POST", headers: { authorization: "", "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(401);
    expect(await emulator.requests()).toEqual([]);
  });
});
