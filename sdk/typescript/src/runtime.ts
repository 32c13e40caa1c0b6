// The few host facilities the SDK uses, typed structurally so that the package needs neither
// the DOM library nor @types/node: browsers, Node >= 18 and other runtimes all fit.

/** Where log lines go (default: `console`). */
export interface Logger {
  debug?(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** What the SDK reads from a `fetch` response (the standard `Response` fits). */
export interface FetchResponseLike {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  text(): Promise<string>;
}

/** What the SDK passes to `fetch` (a subset of the standard `RequestInit`). */
export interface FetchInitLike {
  method: string;
  headers: Record<string, string>;
  body?: string;
  /** An `AbortSignal` (typed loosely so that every runtime's own type fits). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  signal?: any;
}

/** A `fetch` function: the global one, `node-fetch`, a test double... */
export type FetchLike = (url: string, init: FetchInitLike) => Promise<FetchResponseLike>;

/**
 * The part of the standard WebSocket API the client uses. The browser's `WebSocket`, Node 22's
 * global `WebSocket` and the `ws` package's `WebSocket` all fit.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onopen: ((event: any) => void) | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onmessage: ((event: any) => void) | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onerror: ((event: any) => void) | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onclose: ((event: any) => void) | null;
}

/** A WebSocket class, e.g. `globalThis.WebSocket` or `import { WebSocket } from 'ws'`. */
export type WebSocketConstructorLike = new (url: string, protocols?: string | string[]) => WebSocketLike;

type TimerHandle = unknown;

interface HostGlobals {
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  console?: Logger;
  fetch?: FetchLike;
  WebSocket?: WebSocketConstructorLike;
  TextDecoder?: new () => { decode(input: unknown): string };
}

/** Looked up on every use (never cached), so that test fakes and late polyfills are seen. */
export const host = globalThis as unknown as HostGlobals;

/** The console when there is one, else a logger that drops everything. */
export function defaultLogger(): Logger {
  return host.console ?? { warn() {}, error() {} };
}
