/**
 * API key format: `sk-` + 32 base62 characters (≈190 bits of randomness) + a 6-character checksum. The checksum
 * lets the gateway turn away mistyped or invented keys without a storage lookup; it is not a secret.
 */

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BODY_LENGTH = 32;
const CHECK_LENGTH = 6;
const KEY_PATTERN = new RegExp(`^sk-[0-9A-Za-z]{${BODY_LENGTH + CHECK_LENGTH}}$`);

function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      // 248 = 4 × 62: rejecting larger bytes keeps every character equally likely.
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

/** FNV-1a over the body, as 6 base62 characters. */
function checksum(body: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < body.length; i++) {
    hash ^= body.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  let out = "";
  for (let i = 0; i < CHECK_LENGTH; i++) {
    out += ALPHABET[hash % 62];
    hash = Math.floor(hash / 62);
  }
  return out;
}

export function generateKey(): string {
  const body = randomBase62(BODY_LENGTH);
  return `sk-${body}${checksum(body)}`;
}

/** Shape and checksum only: says nothing about whether the key exists. */
export function isWellFormedKey(token: string): boolean {
  if (!KEY_PATTERN.test(token)) return false;
  const body = token.slice(3, 3 + BODY_LENGTH);
  return checksum(body) === token.slice(3 + BODY_LENGTH);
}

/** What the admin list shows to tell keys apart: `sk-` and the first 6 characters. */
export function keyPrefix(token: string): string {
  return token.slice(0, 9);
}

export function newKeyId(): string {
  return `key_${randomBase62(16)}`;
}
