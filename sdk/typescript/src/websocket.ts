import { SimulationError, WebSocketClientError, isRecord } from './errors.js';
import { defaultLogger, host, type Logger, type WebSocketConstructorLike, type WebSocketLike } from './runtime.js';
import type { AnalysisKind } from './models.js';
import type {
  AnalysisResultUpdate,
  AnalysisRowUpdate,
  ClientCommand,
  ErrorUpdate,
  GuardrailViolationUpdate,
  IntermediateResultUpdate,
  ModuleCompletedUpdate,
  ModuleStartedUpdate,
  ProgressUpdate,
  ResultUpdate,
  ServerMessage,
} from './types.js';

/** Options of {@link WebSocketClient}. */
export interface WebSocketClientOptions {
  /**
   * The server, e.g. `ws://localhost:8000` (the default); `http(s)://` is turned into `ws(s)://`.
   * `/ws` is appended unless the path already ends with it.
   */
  baseUrl?: string;
  /** API key, sent as the `api_key` query parameter (the only way a browser WebSocket can). */
  apiKey?: string;
  /** Reconnect after the connection is lost or cannot be made (default true). */
  autoReconnect?: boolean;
  /** Consecutive failed reconnection attempts before giving up (default: unlimited). */
  maxReconnectAttempts?: number;
  /** Delay before the first reconnection attempt, ms (default 1000); doubles per attempt. */
  reconnectInterval?: number;
  /** Cap of the reconnection delay, ms (default 30000). */
  maxReconnectInterval?: number;
  /** Growth of the delay per attempt (default 2). */
  reconnectBackoffFactor?: number;
  /**
   * The WebSocket class to use. Default: `globalThis.WebSocket` (browsers, Deno, Bun, Node >= 22).
   * On Node < 22 pass the `ws` package's: `import { WebSocket } from 'ws'`.
   */
  WebSocket?: WebSocketConstructorLike;
  /** Where warnings (e.g. invalid JSON from the server) go; default `console`. */
  logger?: Logger;
}

/** `open`: the connection is up (`reconnected`: not the first time). */
export interface ConnectionOpenEvent {
  reconnected: boolean;
}

/** `close`: the connection is down. */
export interface ConnectionCloseEvent {
  code: number;
  reason: string;
  wasClean: boolean;
  /** True when the client will try to reconnect (a `reconnecting` event follows). */
  willReconnect: boolean;
}

/** `reconnecting`: the next attempt starts after `delay` ms. */
export interface ReconnectingEvent {
  /** 1 for the first attempt after a loss. */
  attempt: number;
  delay: number;
}

/** The events of {@link WebSocketClient.on} and the argument each handler receives. */
export interface WebSocketClientEventMap {
  open: ConnectionOpenEvent;
  close: ConnectionCloseEvent;
  /** A socket error (connection refused, handshake refused: `status` 401 for a wrong key with `ws`...). */
  error: WebSocketClientError;
  reconnecting: ReconnectingEvent;
  /** Every update from the server, before its own event. */
  message: ServerMessage;
  progress: ProgressUpdate;
  module_started: ModuleStartedUpdate;
  module_completed: ModuleCompletedUpdate;
  /** A simulation's `intermediate_result` (running statistics, the tranche table). */
  intermediate_result: IntermediateResultUpdate;
  /** A simulation's `result`. */
  result: ResultUpdate;
  /** An analysis's `intermediate_result`: one finished row (`data.row`) of its table. */
  analysis_row: AnalysisRowUpdate;
  /** An analysis's `result`: its table, typed per kind (narrow on `result.kind`). */
  analysis_result: AnalysisResultUpdate;
  /** The server's `error` update (a failed or cancelled run, or an invalid command). */
  error_update: ErrorUpdate;
  guardrail_violation: GuardrailViolationUpdate;
}

export type WebSocketClientEvent = keyof WebSocketClientEventMap;
export type WebSocketClientHandler<K extends WebSocketClientEvent> = (data: WebSocketClientEventMap[K]) => void;

/** `idle` (never connected), `connecting`, `open`, `reconnecting` (waiting to retry), `closed`. */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Options of {@link WebSocketClient.waitForResult}. */
export interface WaitForResultOptions {
  /**
   * Wait for an analysis's result: `true` (any kind) or its kind (`'stress'`, ...), which types
   * the answer. Without it the id must be a simulation's. A result of the other sort (or another
   * kind) rejects with a `WebSocketClientError`, so the type never lies.
   */
  analysis?: boolean | AnalysisKind;
  /** Reject with a `WebSocketClientError` after this many ms. */
  timeout?: number;
  /** An `AbortSignal`: reject with its reason when aborted. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  signal?: any;
}

const OPEN = 1;
const UPDATE_EVENTS: Record<ServerMessage['type'], WebSocketClientEvent> = {
  progress: 'progress',
  module_started: 'module_started',
  module_completed: 'module_completed',
  intermediate_result: 'intermediate_result',
  result: 'result',
  error: 'error_update',
  guardrail_violation: 'guardrail_violation',
};
/** The analysis kinds (a Record, so that the compiler checks the list against the schema's). */
const ANALYSIS_KINDS: Record<AnalysisKind, true> = { stress: true, tornado: true, breakeven: true, sweep: true };
const ANALYSIS_MODULE = new RegExp(`^(${Object.keys(ANALYSIS_KINDS).join('|')}):.`);

/** True for an analysis's `result` update (its payload has a `kind`; a simulation's has none). */
export function isAnalysisResult(update: ResultUpdate | AnalysisResultUpdate): update is AnalysisResultUpdate {
  const result: unknown = update.result;
  return isRecord(result) && typeof result['kind'] === 'string' && Object.hasOwn(ANALYSIS_KINDS, result['kind']);
}

/** True for an analysis's `intermediate_result` update (a variant's module and a `data.row`). */
export function isAnalysisRow(update: IntermediateResultUpdate | AnalysisRowUpdate): update is AnalysisRowUpdate {
  return ANALYSIS_MODULE.test(update.module) && isRecord(update.data) && Object.hasOwn(update.data, 'row');
}

/** The client event an update is delivered as. */
function eventOf(update: ServerMessage): WebSocketClientEvent {
  if (update.type === 'result' && isAnalysisResult(update)) return 'analysis_result';
  if (update.type === 'intermediate_result' && isAnalysisRow(update)) return 'analysis_row';
  return UPDATE_EVENTS[update.type];
}
/** Updates the server replays to a new subscriber; the client drops the ones it already saw. */
const REPLAYED = new Set(['module_started', 'module_completed', 'guardrail_violation',
  'intermediate_result', 'result', 'error']);

/** The delay before reconnection attempt `attempt` (1-based): exponential, capped, "equal jitter". */
export function backoffDelay(attempt: number, initial = 1000, max = 30000, factor = 2,
  random: () => number = Math.random): number {
  const base = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt - 1)));
  return Math.round(base / 2 + random() * (base / 2));
}

/** `ws://h:8000` -> `ws://h:8000/ws?api_key=KEY`; `http(s)` becomes `ws(s)`; an existing `/ws` stays. */
export function buildWebSocketUrl(baseUrl: string, apiKey?: string): string {
  let url = baseUrl.trim();
  const q = url.indexOf('?');
  let query = q < 0 ? '' : url.slice(q + 1);
  url = (q < 0 ? url : url.slice(0, q)).replace(/\/+$/, '').replace(/^http(s?):\/\//i, 'ws$1://');
  if (!/\/ws$/.test(url)) url += '/ws';
  if (apiKey) query = (query ? `${query}&` : '') + `api_key=${encodeURIComponent(apiKey)}`;
  return query ? `${url}?${query}` : url;
}

interface Waiter {
  resolve(update: ResultUpdate | AnalysisResultUpdate): void;
  reject(error: Error): void;
}

/**
 * The WebSocket client of the spec: `connect()`, `subscribe(id)`, `unsubscribe(id)`,
 * `cancelSimulation(id)`, `disconnect()` and typed `on(event, handler)`.
 *
 * - An analysis id is followed like a simulation id. Its `progress`, `module_started`,
 *   `module_completed` and `error` updates arrive under those events (`module` is the variant,
 *   e.g. `"stress:mvd_20"`); its rows arrive as `analysis_row` and its table as
 *   `analysis_result` (the `message` event sees every update under its wire `type`).
 *
 * - Commands given before the socket is open are queued and sent on open.
 * - After a lost connection it reconnects (exponential backoff with jitter, capped; optional
 *   maximum of attempts) and re-subscribes every active subscription; the server replays each
 *   simulation's state, and updates this client already delivered are not delivered twice.
 * - A handshake refused for a wrong key (HTTP 401, or close code 4401) is not retried.
 * - `disconnect()` closes the socket and stops reconnecting.
 * - Invalid JSON from the server is logged and ignored.
 */
export class WebSocketClient {
  readonly url: string;
  private readonly opts: Required<Pick<WebSocketClientOptions, 'autoReconnect' | 'maxReconnectAttempts'
    | 'reconnectInterval' | 'maxReconnectInterval' | 'reconnectBackoffFactor'>>;
  private readonly WebSocketImpl: WebSocketConstructorLike | undefined;
  private readonly logger: Logger;
  private readonly handlers = new Map<WebSocketClientEvent, Set<(data: never) => void>>();

  private socket: WebSocketLike | null = null;
  private connState: ConnectionState = 'idle';
  private reconnectTimer: unknown = null;
  private attempts = 0;
  private everOpened = false;
  private reconnectAllowed = false;
  private authRefused = false;

  /** Simulations this client follows (re-subscribed after every reconnect). */
  private readonly subs = new Set<string>();
  /** Cancels asked for while not connected. */
  private readonly pendingCancels = new Set<string>();
  /** Per simulation: texts of replayable updates already delivered (for de-duplication). */
  private readonly seen = new Map<string, Set<string>>();
  /** Per simulation: the last progress text delivered. */
  private readonly lastProgress = new Map<string, string>();
  private readonly waiters = new Map<string, Set<Waiter>>();

  constructor(options: WebSocketClientOptions = {}) {
    this.url = buildWebSocketUrl(options.baseUrl ?? 'ws://localhost:8000', options.apiKey);
    this.opts = {
      autoReconnect: options.autoReconnect ?? true,
      maxReconnectAttempts: options.maxReconnectAttempts ?? Infinity,
      reconnectInterval: options.reconnectInterval ?? 1000,
      maxReconnectInterval: options.maxReconnectInterval ?? 30000,
      reconnectBackoffFactor: options.reconnectBackoffFactor ?? 2,
    };
    this.WebSocketImpl = options.WebSocket;
    this.logger = options.logger ?? defaultLogger();
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.connState;
  }

  /** True while the socket is open. */
  get isConnected(): boolean {
    return this.connState === 'open';
  }

  /** The simulations this client is subscribed to. */
  get subscriptions(): string[] {
    return [...this.subs];
  }

  /** Opens the connection (no-op when open or connecting). Events tell what happens. */
  connect(): void {
    if (this.connState === 'open' || this.connState === 'connecting') return;
    if (this.connState !== 'reconnecting') this.everOpened = false; // a fresh start, not a reconnect
    this.clearReconnectTimer();
    this.reconnectAllowed = this.opts.autoReconnect;
    this.authRefused = false;
    this.attempts = 0;
    this.openSocket();
  }

  /** Closes the connection and stops reconnecting; forgets subscriptions and queued commands. */
  disconnect(code = 1000, reason = 'client disconnect'): void {
    this.reconnectAllowed = false;
    this.clearReconnectTimer();
    const socket = this.socket;
    const wasConnecting = this.connState === 'connecting';
    this.connState = 'closed';
    this.subs.clear();
    this.pendingCancels.clear();
    this.seen.clear();
    this.lastProgress.clear();
    this.rejectAllWaiters(new WebSocketClientError('disconnected'));
    if (!socket) return;
    if (socket.readyState === OPEN) {
      try {
        socket.close(code, reason); // onclose emits `close` (willReconnect: false)
      } catch (err) {
        this.logger.debug?.('equihome-sim-sdk: close failed', err);
      }
      return;
    }
    // Still connecting: drop the socket quietly (closing it now makes some implementations
    // report an error) and report the close ourselves.
    this.socket = null;
    socket.onopen = () => socket.close(code, reason);
    socket.onmessage = null;
    socket.onerror = () => {};
    socket.onclose = null;
    try {
      socket.close(code, reason);
    } catch {
      // some implementations refuse to close a connecting socket; onopen closes it then
    }
    if (wasConnecting) this.emit('close', { code, reason, wasClean: true, willReconnect: false });
  }

  /** Follows a simulation: the server replays its state so far, then sends live updates. */
  subscribe(simulationId: string): void {
    checkId(simulationId);
    if (this.subs.has(simulationId)) return; // already subscribed (or queued)
    this.subs.add(simulationId);
    this.sendIfOpen({ action: 'subscribe', simulation_id: simulationId });
  }

  /** Stops following a simulation. */
  unsubscribe(simulationId: string): void {
    checkId(simulationId);
    this.subs.delete(simulationId);
    this.forget(simulationId);
    this.sendIfOpen({ action: 'unsubscribe', simulation_id: simulationId });
  }

  /** Cancels a queued or running simulation; subscribers then get an `error_update` "cancelled". */
  cancelSimulation(simulationId: string): void {
    checkId(simulationId);
    if (!this.sendIfOpen({ action: 'cancel', simulation_id: simulationId })) {
      this.pendingCancels.add(simulationId);
    }
  }

  /**
   * Subscribes (if needed) and resolves with the simulation's `result` update; rejects with a
   * {@link SimulationError} when it fails, is cancelled or is unknown, and with a
   * {@link WebSocketClientError} on `disconnect()`, when reconnecting gives up, or on timeout.
   * Works before `connect()` too (the subscription is sent on open).
   */
  waitForResult(simulationId: string, options?: WaitForResultOptions & { analysis?: false }): Promise<ResultUpdate>;
  /** The same for an analysis of kind `K`: resolves with its typed `result` update. */
  waitForResult<K extends AnalysisKind>(analysisId: string,
    options: WaitForResultOptions & { analysis: K }): Promise<AnalysisResultUpdate<K>>;
  /** The same for an analysis of any kind (narrow on `result.kind`). */
  waitForResult(analysisId: string, options: WaitForResultOptions & { analysis: true }): Promise<AnalysisResultUpdate>;
  waitForResult(simulationId: string,
    options: WaitForResultOptions = {}): Promise<ResultUpdate | AnalysisResultUpdate> {
    checkId(simulationId);
    const wanted = options.analysis ?? false;
    return new Promise<ResultUpdate | AnalysisResultUpdate>((resolve, reject) => {
      let timer: unknown = null;
      const signal = options.signal;
      const onAbort = () => settle(() => reject(signal.reason ?? new WebSocketClientError('aborted')));
      const settle = (fn: () => void) => {
        const set = this.waiters.get(simulationId);
        set?.delete(waiter);
        if (set && set.size === 0) this.waiters.delete(simulationId);
        if (timer !== null) host.clearTimeout(timer);
        signal?.removeEventListener?.('abort', onAbort);
        fn();
      };
      const waiter: Waiter = {
        resolve: (update) => settle(() => {
          const why = mismatch(simulationId, update, wanted);
          if (why) reject(new WebSocketClientError(why));
          else resolve(update);
        }),
        reject: (error) => settle(() => reject(error)),
      };
      if (signal?.aborted) {
        reject(signal.reason ?? new WebSocketClientError('aborted'));
        return;
      }
      signal?.addEventListener?.('abort', onAbort, { once: true });
      if (options.timeout !== undefined) {
        timer = host.setTimeout(() => waiter.reject(new WebSocketClientError(
          `no result for simulation ${simulationId} within ${options.timeout} ms`)), options.timeout);
      }
      let set = this.waiters.get(simulationId);
      if (!set) this.waiters.set(simulationId, (set = new Set()));
      set.add(waiter);
      this.subscribe(simulationId);
    });
  }

  /** Adds a handler; returns a function that removes it. */
  on<K extends WebSocketClientEvent>(event: K, handler: WebSocketClientHandler<K>): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler as (data: never) => void);
    return () => this.off(event, handler);
  }

  /** Removes a handler added with {@link on}. */
  off<K extends WebSocketClientEvent>(event: K, handler: WebSocketClientHandler<K>): void {
    this.handlers.get(event)?.delete(handler as (data: never) => void);
  }

  // ------------------------------------------------------------------ internals

  private emit<K extends WebSocketClientEvent>(event: K, data: WebSocketClientEventMap[K]): void {
    const set = this.handlers.get(event);
    if (event === 'error' && (!set || set.size === 0)) {
      this.logger.warn('equihome-sim-sdk: WebSocket error:', (data as WebSocketClientError).message);
      return;
    }
    for (const handler of [...(set ?? [])]) {
      try {
        (handler as WebSocketClientHandler<K>)(data);
      } catch (err) {
        this.logger.error(`equihome-sim-sdk: a '${event}' handler threw:`, err);
      }
    }
  }

  private openSocket(): void {
    const Impl = this.WebSocketImpl ?? host.WebSocket;
    if (typeof Impl !== 'function') {
      this.connState = 'closed';
      throw new Error('equihome-sim-sdk: no WebSocket implementation. On Node < 22 pass one: '
        + "new WebSocketClient({ ..., WebSocket }) with import { WebSocket } from 'ws'");
    }
    this.connState = 'connecting';
    const socket = new Impl(this.url); // an invalid URL throws here, synchronously
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.connState = 'open';
      this.attempts = 0;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.flush();
      this.emit('open', { reconnected });
    };
    socket.onmessage = (event: { data?: unknown }) => {
      if (this.socket === socket) this.handleMessage(event?.data);
    };
    socket.onerror = (event: unknown) => {
      if (this.socket !== socket) return;
      const error = toClientError(event);
      if (error.status === 401 || error.status === 403) this.authRefused = true;
      this.emit('error', error);
    };
    socket.onclose = (event: { code?: number; reason?: string; wasClean?: boolean }) => {
      if (this.socket !== socket) return;
      this.socket = null;
      const code = event?.code ?? 1006;
      if (code === 4401 || code === 4403) this.authRefused = true;
      const willReconnect = this.reconnectAllowed && !this.authRefused
        && this.attempts < this.opts.maxReconnectAttempts;
      this.connState = willReconnect ? 'reconnecting' : 'closed';
      this.emit('close', { code, reason: event?.reason ?? '', wasClean: event?.wasClean ?? false, willReconnect });
      if (willReconnect) {
        this.scheduleReconnect();
      } else if (this.connState === 'closed') {
        const why = this.authRefused ? 'the server refused the connection (check the API key)'
          : this.reconnectAllowed ? `gave up after ${this.attempts} reconnection attempt(s)`
            : 'connection closed';
        this.rejectAllWaiters(new WebSocketClientError(why));
      }
    };
  }

  private scheduleReconnect(): void {
    this.attempts += 1;
    const delay = backoffDelay(this.attempts, this.opts.reconnectInterval, this.opts.maxReconnectInterval,
      this.opts.reconnectBackoffFactor);
    this.emit('reconnecting', { attempt: this.attempts, delay });
    if (this.connState !== 'reconnecting') return; // a handler called disconnect() or connect()
    this.reconnectTimer = host.setTimeout(() => {
      this.reconnectTimer = null;
      if (this.connState !== 'reconnecting') return;
      try {
        this.openSocket();
      } catch (err) {
        this.connState = 'closed';
        this.emit('error', new WebSocketClientError(String(err), { cause: err }));
      }
    }, delay);
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer !== null) host.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  /** On open: subscribe to every followed simulation, then send the queued cancels. */
  private flush(): void {
    for (const id of this.subs) this.send({ action: 'subscribe', simulation_id: id });
    for (const id of this.pendingCancels) this.send({ action: 'cancel', simulation_id: id });
    this.pendingCancels.clear();
  }

  private sendIfOpen(command: ClientCommand): boolean {
    if (this.connState !== 'open' || !this.socket || this.socket.readyState !== OPEN) return false;
    return this.send(command);
  }

  private send(command: ClientCommand): boolean {
    try {
      this.socket?.send(JSON.stringify(command));
      return true;
    } catch (err) {
      this.logger.warn('equihome-sim-sdk: could not send', command.action, err);
      return false;
    }
  }

  private handleMessage(data: unknown): void {
    let text: string;
    if (typeof data === 'string') {
      text = data;
    } else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      const Decoder = host.TextDecoder;
      if (!Decoder) return this.logger.warn('equihome-sim-sdk: ignoring a binary message');
      text = new Decoder().decode(data);
    } else {
      return this.logger.warn('equihome-sim-sdk: ignoring a message that is not text');
    }
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      this.logger.warn('equihome-sim-sdk: ignoring invalid JSON from the server:',
        text.length > 200 ? `${text.slice(0, 200)}...` : text);
      return;
    }
    if (!isRecord(msg) || typeof msg['type'] !== 'string' || !Object.hasOwn(UPDATE_EVENTS, msg['type'])) {
      this.logger.warn('equihome-sim-sdk: ignoring a message of unknown type:',
        isRecord(msg) ? msg['type'] : typeof msg);
      return;
    }
    const update = msg as unknown as ServerMessage;
    const id = update.simulation_id;
    if (id !== null && this.isDuplicate(update, id, text)) return;

    this.emit('message', update);
    this.emit(eventOf(update), update as never);

    if (id === null) return;
    if (update.type === 'result') {
      this.finished(id);
      for (const w of [...(this.waiters.get(id) ?? [])]) w.resolve(update);
    } else if (update.type === 'error') {
      // A run's end has a `module` field; an invalid command has none. A cancel that came too
      // late ("simulation is already completed") leaves the subscription as it was.
      if ('module' in update || !update.error.startsWith('simulation is already')) {
        this.finished(id);
        for (const w of [...(this.waiters.get(id) ?? [])]) w.reject(new SimulationError(id, update));
      }
    }
  }

  /** True for a replayed update this client already delivered (after a reconnect). */
  private isDuplicate(update: ServerMessage, id: string, text: string): boolean {
    if (!this.subs.has(id)) return false;
    if (update.type === 'progress') {
      if (this.lastProgress.get(id) === text) return true;
      this.lastProgress.set(id, text);
      return false;
    }
    if (!REPLAYED.has(update.type)) return false;
    let seen = this.seen.get(id);
    if (!seen) this.seen.set(id, (seen = new Set()));
    if (seen.has(text)) return true;
    seen.add(text);
    return false;
  }

  /**
   * The server no longer streams this simulation to us. Telling it so lets a later
   * `subscribe` (a second `waitForResult`) replay the run again: the server treats a repeated
   * subscribe on the same connection as a no-op.
   */
  private finished(id: string): void {
    this.subs.delete(id);
    this.forget(id);
    this.sendIfOpen({ action: 'unsubscribe', simulation_id: id });
  }

  private forget(id: string): void {
    this.seen.delete(id);
    this.lastProgress.delete(id);
  }

  private rejectAllWaiters(error: Error): void {
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.reject(error);
  }
}

/** Why a result does not fit what `waitForResult` was asked for (null: it does). */
function mismatch(id: string, update: ResultUpdate | AnalysisResultUpdate, wanted: boolean | AnalysisKind): string | null {
  if (!isAnalysisResult(update)) {
    return wanted === false ? null : `${id} is a simulation, not an analysis (leave out the analysis option)`;
  }
  if (wanted === false) return `${id} is a ${update.result.kind} analysis: use waitForResult(id, { analysis: true })`;
  if (wanted !== true && update.result.kind !== wanted) {
    return `${id} is a ${update.result.kind} analysis, not ${wanted}`;
  }
  return null;
}

function checkId(simulationId: unknown): void {
  if (typeof simulationId !== 'string' || simulationId === '') {
    throw new TypeError(`equihome-sim-sdk: a simulation id must be a non-empty string, got ${String(simulationId)}`);
  }
}

/** The implementation's error event as a WebSocketClientError (with the HTTP status when known). */
function toClientError(event: unknown): WebSocketClientError {
  const inner = isRecord(event) ? event['error'] : undefined;
  const text = isRecord(event) && typeof event['message'] === 'string' ? event['message']
    : inner instanceof Error ? inner.message : '';
  const m = /Unexpected server response: (\d{3})/.exec(text);
  const status = m ? Number(m[1]) : undefined;
  const message = status === 401 ? 'WebSocket handshake refused: 401 Unauthorized (wrong or missing API key)'
    : text ? `WebSocket error: ${text}` : 'WebSocket error';
  return new WebSocketClientError(message, status === undefined ? { event } : { status, event });
}
