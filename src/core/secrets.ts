/** Hashing and comparison of secrets (API keys, the admin token) without leaking them through timing. */

const utf8 = new TextEncoder();

export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", utf8.encode(text)));
}

export function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/**
 * Constant-time equality of two secrets. Both are hashed first, so the comparison is between equal-length
 * digests and reveals nothing about either length (workerd's timingSafeEqual needs equal lengths).
 */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
  const [left, right] = await Promise.all([sha256(a), sha256(b)]);
  return crypto.subtle.timingSafeEqual(left, right);
}
