import type { ImageRef } from "../../core/images.ts";
import { estimateTextTokens, IMAGE_TOKENS } from "../../core/usage.ts";
import { type CountTokensRequest, type ImageSource, isKnownBlock } from "./schema.ts";
import { offeredTools } from "./settings.ts";

/**
 * What the prompt of a request is, for counting: its text as one string and its images. Both the admission
 * estimate and /v1/messages/count_tokens use it, so the two agree.
 */

/** An image source as the URL the image pipeline takes: a `url` as sent, `base64` as a data URI; null for a file id. */
export function imageUrl(source: ImageSource): string | null {
  if (source.type === "url") return source.url;
  if (source.type === "base64") return `data:${source.media_type};base64,${source.data}`;
  return null;
}

/** Each image source of the request in order (each occurrence), with its param path. */
function forEachImage(body: Pick<CountTokensRequest, "messages">, visit: (source: ImageSource, param: string) => void): void {
  body.messages.forEach((message, i) => {
    if (typeof message.content === "string" || message.role === "system") return;
    message.content.forEach((part, j) => {
      if (!isKnownBlock(part)) return;
      const at = `messages[${i}].content[${j}]`;
      if (part.type === "image") visit(part.source, `${at}.source`);
      if (part.type === "tool_result" && Array.isArray(part.content)) {
        part.content.forEach((inner, k) => {
          if (inner.type === "image") visit(inner.source, `${at}.content[${k}].source`);
        });
      }
    });
  });
}

/** Every image of the request (a file id, refused by the mapping, is not one), with its param path: what `collectImages` takes. */
export function anthropicImageRefs(body: Pick<CountTokensRequest, "messages">): ImageRef[] {
  const found: ImageRef[] = [];
  forEachImage(body, (source, param) => {
    const url = imageUrl(source);
    if (url !== null) found.push({ url, param });
  });
  return found;
}

/**
 * The prompt's text, in order: the system prompt, every message's text, thinking, tool calls (name and JSON input)
 * and tool results, then the offered tools (name, description, JSON schema). Images are counted apart.
 */
export function promptText(body: CountTokensRequest): string {
  const texts: string[] = [];
  if (typeof body.system === "string") texts.push(body.system);
  else if (body.system) for (const part of body.system) texts.push(part.text);
  for (const message of body.messages) {
    if (typeof message.content === "string") {
      texts.push(message.content);
      continue;
    }
    for (const part of message.content) {
      if (!isKnownBlock(part)) continue;
      if (part.type === "text") texts.push(part.text);
      else if (part.type === "thinking") texts.push(part.thinking);
      else if (part.type === "tool_use") texts.push(part.name, JSON.stringify(part.input));
      else if (part.type === "tool_result") {
        if (typeof part.content === "string") texts.push(part.content);
        else for (const inner of part.content ?? []) texts.push(inner.type === "text" ? inner.text : inner.type === "tool_reference" ? inner.tool_name : "");
      }
    }
  }
  const tools = offeredTools(body);
  if (tools.length) texts.push(JSON.stringify(tools));
  return texts.filter((text) => text !== "").join("\n");
}

/** The number of images in the prompt (each occurrence). */
export function promptImages(body: CountTokensRequest): number {
  let count = 0;
  forEachImage(body, () => count++);
  return count;
}

/**
 * The prompt's token estimate, for admission before the backend counts and for count_tokens where the backend
 * cannot tokenize: its text at four characters a token, 768 tokens an image.
 */
export function estimateAnthropicPrompt(body: CountTokensRequest): number {
  return estimateTextTokens(promptText(body)) + promptImages(body) * IMAGE_TOKENS;
}
