import { describe, expect, it } from "vitest";
import {
  CHAT_FIELDS,
  EMBED_FIELDS,
  EMBEDDINGS_FIELDS,
  GENERATE_FIELDS,
  goFold,
  goTopLevel,
  NATIVE_FIELDS,
  SHOW_FIELDS,
} from "../../src/dialects/ollama/go-fields.ts";

const chat = (text: string) => goTopLevel(text, CHAT_FIELDS);
const KELVIN = "\u212a";
const LONG_S = "\u017f";

describe("goTopLevel: the top-level fields as Ollama's Go decoder binds them", () => {
  it("a case variant binds to the field, and the last one in the text wins", () => {
    expect(chat('{"model":"llama3.2","Model":"qwen3:8b"}')).toStrictEqual({ model: "qwen3:8b" });
    expect(chat('{"Model":"qwen3:8b","model":"llama3.2"}')).toStrictEqual({ model: "llama3.2" });
    expect(chat('{"MODEL":"a","mOdEl":"b","messages":[]}')).toStrictEqual({ model: "b", messages: [] });
    expect(chat('{"model":"a","KEEP_ALIVE":-1,"Keep_Alive":"5m","STREAM":false}')).toStrictEqual({ model: "a", keep_alive: "5m", stream: false });
  });

  it("exact duplicates are decided by text order, which JSON.parse loses", () => {
    expect(JSON.parse('{"model":"a","Model":"b","model":"c"}')).toStrictEqual({ model: "c", Model: "b" });
    expect(chat('{"model":"a","Model":"b","model":"c"}')).toStrictEqual({ model: "c" });
    expect(chat('{"model":"a","model":"c","Model":"b"}')).toStrictEqual({ model: "b" });
    expect(chat('{"Model":"b","model":"a","Model":"d"}')).toStrictEqual({ model: "d" });
  });

  it("the Kelvin sign folds to k and the long s to s; other look-alikes do not bind", () => {
    expect(chat(`{"keep_alive":"5m","${KELVIN}eep_alive":-1}`)).toStrictEqual({ keep_alive: -1 });
    expect(chat(`{"stream":true,"${LONG_S}tream":false}`)).toStrictEqual({ stream: false });
    expect(chat(`{"model":"a","MES${LONG_S}AGES":[{"role":"user","content":"x"}]}`)).toStrictEqual({
      model: "a",
      messages: [{ role: "user", content: "x" }],
    });
    expect(goTopLevel(`{"${KELVIN}EEP_ALIVE":"1h"}`, EMBED_FIELDS)).toStrictEqual({ keep_alive: "1h" });
    // Dotless ı and dotted İ fold to themselves in Go, not to i: "optıons" is an unknown key, kept as it is.
    expect(chat('{"optıons":{"num_ctx":1},"options":{"num_ctx":2}}')).toStrictEqual({ optıons: { num_ctx: 1 }, options: { num_ctx: 2 } });
    expect(chat('{"model":"a","modelx":"b","mode":"c","model ":"d"}')).toStrictEqual({ model: "a", modelx: "b", mode: "c", "model ": "d" });
    expect(goFold(`${KELVIN}eep_ALIVE_${LONG_S}`)).toBe("KEEP_ALIVE_S");
  });

  it("escaped key names are what they decode to", () => {
    expect(chat('{"model":"a","\\u006dodel":"b"}')).toStrictEqual({ model: "b" });
    expect(chat('{"model":"a","\\u004Dodel":"b"}')).toStrictEqual({ model: "b" });
    expect(chat('{"model":"a","\\u212aeep_alive":-1}')).toStrictEqual({ model: "a", keep_alive: -1 });
    expect(chat('{"mo\\"del":"x","model":"a"}')).toStrictEqual({ 'mo"del': "x", model: "a" });
  });

  it("nested objects and arrays are skipped over: a model inside them binds nothing", () => {
    const text =
      '{"messages":[{"role":"user","content":"{\\"Model\\":\\"x\\"} ]}","model":"inner"}],' +
      '"tools":[{"type":"function","function":{"name":"f","parameters":{"model":{"type":"string"}}}}],' +
      '"format":{"properties":{"Model":{"type":"string"}}},"model":"outer"}';
    expect(chat(text)).toStrictEqual({
      messages: [{ role: "user", content: '{"Model":"x"} ]}', model: "inner" }],
      tools: [{ type: "function", function: { name: "f", parameters: { model: { type: "string" } } } }],
      format: { properties: { Model: { type: "string" } } },
      model: "outer",
    });
  });

  it("every kind of value: strings with escapes, numbers, literals, nesting; whitespace anywhere", () => {
    const text =
      ' \n{ "model" : "a\\\\\\"b" ,\t"think":true,"stream" :false, "keep_alive": -1.5e3 ,\r\n' +
      '"top_logprobs":0,"truncate":null,"Options":{"stop":["}","]","\\""],"num_ctx":1e4},"x":[[],{},[{}]],"y":-0 } ';
    expect(chat(text)).toStrictEqual({
      model: 'a\\"b',
      think: true,
      stream: false,
      keep_alive: -1500,
      top_logprobs: 0,
      truncate: null,
      options: { stop: ["}", "]", '"'], num_ctx: 10000 },
      x: [[], {}, [{}]],
      y: -0,
    });
    expect(chat("{}")).toStrictEqual({});
    expect(chat(' { "Model" : "a" } ')).toStrictEqual({ model: "a" });
  });

  it("null leaves a plain string field (model, prompt) as it was, as Go does", () => {
    expect(chat('{"model":"a","Model":null}')).toStrictEqual({ model: "a" });
    expect(chat('{"Model":null,"model":"a"}')).toStrictEqual({ model: "a" });
    expect(chat('{"model":null}')).toStrictEqual({ model: null });
    expect(goTopLevel('{"prompt":"p","PROMPT":null}', GENERATE_FIELDS)).toStrictEqual({ prompt: "p" });
    // keep_alive, stream, think, format… are Go pointers or raw JSON: null is the last word there.
    expect(chat('{"keep_alive":-1,"Keep_alive":null}')).toStrictEqual({ keep_alive: null });
  });

  it("options (a Go map) merges every object given for it, in order; null empties it", () => {
    expect(chat('{"options":{"num_ctx":131072,"top_k":1},"Options":{"temperature":0,"top_k":2}}')).toStrictEqual({
      options: { num_ctx: 131072, top_k: 2, temperature: 0 },
    });
    expect(chat('{"options":{"num_ctx":131072},"OPTIONS":null,"Options":{"temperature":0}}')).toStrictEqual({ options: { temperature: 0 } });
    expect(chat('{"options":{"num_ctx":131072},"OPTIONS":null}')).toStrictEqual({ options: null });
    expect(chat('{"options":{"num_ctx":1},"options":{"top_k":3}}')).toStrictEqual({ options: { num_ctx: 1, top_k: 3 } });
  });

  it("keys no field binds keep JSON.parse's value, including __proto__ and constructor as own keys", () => {
    const out = chat('{"__proto__":{"model":"evil"},"constructor":1,"model":"a","user":"u","user":"v","Messages":[]}');
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toStrictEqual(["__proto__", "constructor", "model", "user", "messages"]);
    expect(Object.getOwnPropertyDescriptor(out, "__proto__")?.value).toStrictEqual({ model: "evil" });
    expect(out.model).toBe("a");
    expect(out.user).toBe("v");
    expect(out.messages).toStrictEqual([]);
  });

  it("a field takes the place of the first key that bound to it", () => {
    expect(Object.keys(chat('{"Model":"a","stream":false,"messages":[],"model":"b"}'))).toStrictEqual(["model", "stream", "messages"]);
  });

  it("each route has its own fields: name binds for /api/show, input and dimensions for /api/embed", () => {
    expect(goTopLevel('{"NAME":"a","Verbose":true,"Model":"b"}', SHOW_FIELDS)).toStrictEqual({ name: "a", verbose: true, model: "b" });
    expect(chat('{"NAME":"a"}')).toStrictEqual({ NAME: "a" });
    expect(goTopLevel('{"model":"e","input":"short","INPUT":["x","y"],"Dimensions":8}', EMBED_FIELDS)).toStrictEqual({
      model: "e",
      input: ["x", "y"],
      dimensions: 8,
    });
    expect(goTopLevel('{"model":"e","Prompt":"p"}', EMBEDDINGS_FIELDS)).toStrictEqual({ model: "e", prompt: "p" });
    expect(goTopLevel('{"model":"g","Raw":true,"SYSTEM":"s","Images":[]}', GENERATE_FIELDS)).toStrictEqual({ model: "g", raw: true, system: "s", images: [] });
    expect(NATIVE_FIELDS.chat).toBe(CHAT_FIELDS);
    expect(NATIVE_FIELDS.show).toBe(SHOW_FIELDS);
    for (const fields of Object.values(NATIVE_FIELDS)) {
      for (const field of ["model", "options", "keep_alive"]) {
        if (fields !== SHOW_FIELDS || field !== "keep_alive") expect(fields).toContain(field);
      }
    }
  });

  it("takes JSON.parse's result when the caller has it; refuses a text that is not an object", () => {
    const text = '{"model":"a","Model":"b"}';
    expect(goTopLevel(text, CHAT_FIELDS, JSON.parse(text))).toStrictEqual({ model: "b" });
    expect(() => goTopLevel("[1]", CHAT_FIELDS)).toThrow(TypeError);
    expect(() => goTopLevel('"x"', CHAT_FIELDS)).toThrow(TypeError);
    expect(() => goTopLevel("null", CHAT_FIELDS)).toThrow(TypeError);
    expect(() => goTopLevel('{"model":', CHAT_FIELDS)).toThrow(SyntaxError);
  });

  it("a large body (megabytes of base64 in a nested string) is scanned quickly", () => {
    const image = "A".repeat(8 * 1024 * 1024);
    const text = `{"model":"a","messages":[{"role":"user","content":"x","images":["${image}"]}],"Model":"b"}`;
    const started = performance.now();
    const out = chat(text);
    expect(out.model).toBe("b");
    expect((out.messages as { images: string[] }[])[0]!.images[0]!.length).toBe(image.length);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
