/**
 * The lines Ollama sends for each plain answer token, exactly as its Go encoder writes them. Their text is a JSON
 * string literal that can go into an SSE frame as it is — no JSON.parse, no JSON.stringify per token. The literal
 * must be well-formed (valid escapes only, no raw control characters); any other line takes the parsing path.
 */
const PREFIX = String.raw`^\{"model":"(?:[^"\\]|\\.)*","created_at":"[^"\\]*",`;
const LITERAL = String.raw`("(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")`;

/** A /api/chat token: `{"model","created_at","message":{"role":"assistant","content":"…"},"done":false}`. */
export const PLAIN_CHAT_TOKEN = new RegExp(`${PREFIX}"message":\\{"role":"assistant","content":${LITERAL}\\},"done":false\\}$`);

/** A /api/generate token: `{"model","created_at","response":"…","done":false}`. */
export const PLAIN_GENERATE_TOKEN = new RegExp(`${PREFIX}"response":${LITERAL},"done":false\\}$`);
