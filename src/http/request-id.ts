const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keep a caller's x-request-id when it is safe to echo; otherwise make one. */
export function requestIdFor(request: Request): string {
  const incoming = request.headers.get("x-request-id");
  if (incoming && SAFE_ID.test(incoming)) return incoming;
  return `req_${crypto.randomUUID().replaceAll("-", "")}`;
}
