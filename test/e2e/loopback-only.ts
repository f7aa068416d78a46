/**
 * Tests talk to loopback only. Some client libraries reach for the internet on their own (LangChain fetches
 * tokenizer tables to count tokens); refuse that here so a test can never send traffic off this machine.
 */
const realFetch = globalThis.fetch;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const url = new URL(input instanceof Request ? input.url : input.toString());
  if (!LOOPBACK.has(url.hostname)) throw new TypeError(`test network guard: refused a request to ${url.hostname} (loopback only)`);
  return realFetch(input, init);
};
