// Unit tests without a server: a fake WebSocket class and a fake fetch.

import assert from 'node:assert/strict';
import { afterEach, describe, mock, test } from 'node:test';

import {
  ApiError,
  Configuration,
  SimulationApi,
  SimulationError,
  WebSocketClient,
  WebSocketClientError,
  backoffDelay,
  buildWebSocketUrl,
  restBase,
  type FetchInitLike,
  type ServerMessage,
  type WebSocketLike,
} from '../src/index.js';
import { recordingLogger } from './helpers.js';

const ID = '123e4567-e89b-12d3-a456-426614174000';
const ID2 = '223e4567-e89b-12d3-a456-426614174000';

/** A WebSocket double: the test opens, feeds and fails it by hand. */
function fakeWebSocket() {
  const sockets: FakeSocket[] = [];
  class FakeSocket implements WebSocketLike {
    readyState = 0;
    sent: string[] = [];
    closedWith: { code?: number; reason?: string } | null = null;
    onopen: ((event: unknown) => void) | null = null;
    onmessage: ((event: unknown) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;
    onclose: ((event: unknown) => void) | null = null;
    constructor(readonly url: string) {
      sockets.push(this);
    }
    send(data: string): void {
      if (this.readyState !== 1) throw new Error('not open');
      this.sent.push(data);
    }
    close(code?: number, reason?: string): void {
      if (this.readyState === 3) return;
      this.closedWith = { code, reason };
      this.readyState = 3;
      this.onclose?.({ code: code ?? 1005, reason: reason ?? '', wasClean: true });
    }
    // ---- driven by the test
    open(): void {
      this.readyState = 1;
      this.onopen?.({});
    }
    receive(text: string): void {
      this.onmessage?.({ data: text });
    }
    drop(code = 1006, errorMessage?: string): void {
      this.readyState = 3;
      if (errorMessage) this.onerror?.({ message: errorMessage });
      this.onclose?.({ code, reason: '', wasClean: false });
    }
    commands(): { action: string; simulation_id: string }[] {
      return this.sent.map((s) => JSON.parse(s));
    }
  }
  return { FakeSocket, sockets, last: () => sockets[sockets.length - 1]! };
}

function update(type: string, extra: Record<string, unknown> = {}, id = ID): string {
  return JSON.stringify({ type, simulation_id: id, timestamp: '2026-05-21T15:30:45.123Z', ...extra });
}

afterEach(() => {
  mock.timers.reset();
  mock.restoreAll();
});

describe('URLs', () => {
  test('REST base: /api is appended unless already there', () => {
    assert.equal(restBase('http://localhost:8000'), 'http://localhost:8000/api');
    assert.equal(restBase('http://localhost:8000/'), 'http://localhost:8000/api');
    assert.equal(restBase('http://localhost:8000/api'), 'http://localhost:8000/api');
    assert.equal(restBase('http://localhost:8000/api/'), 'http://localhost:8000/api');
    assert.equal(restBase('https://hub.example/user/me/equihome'), 'https://hub.example/user/me/equihome/api');
    assert.equal(restBase(''), '/api');
    assert.equal(new Configuration().apiBasePath, 'http://localhost:8000/api');
  });

  test('WebSocket URL: /ws appended, http -> ws, key in the query', () => {
    assert.equal(buildWebSocketUrl('ws://localhost:8000'), 'ws://localhost:8000/ws');
    assert.equal(buildWebSocketUrl('ws://localhost:8000/'), 'ws://localhost:8000/ws');
    assert.equal(buildWebSocketUrl('ws://localhost:8000/ws', 'k'), 'ws://localhost:8000/ws?api_key=k');
    assert.equal(buildWebSocketUrl('http://h:1', 'a b&c'), 'ws://h:1/ws?api_key=a%20b%26c');
    assert.equal(buildWebSocketUrl('https://h/base/equihome'), 'wss://h/base/equihome/ws');
    assert.equal(buildWebSocketUrl('ws://h/ws?x=1', 'k'), 'ws://h/ws?x=1&api_key=k');
  });
});

describe('backoff', () => {
  test('exponential, capped, with jitter between half and all of the step', () => {
    assert.equal(backoffDelay(1, 1000, 30000, 2, () => 0), 500);
    assert.equal(backoffDelay(1, 1000, 30000, 2, () => 1), 1000);
    assert.equal(backoffDelay(3, 1000, 30000, 2, () => 1), 4000);
    assert.equal(backoffDelay(10, 1000, 30000, 2, () => 1), 30000);
    assert.equal(backoffDelay(50, 1000, 30000, 2, () => 0), 15000);
    for (let attempt = 1; attempt < 40; attempt++) {
      const d = backoffDelay(attempt);
      const step = Math.min(30000, 1000 * 2 ** (attempt - 1));
      assert.ok(d >= step / 2 && d <= step, `attempt ${attempt}: ${d}`);
    }
  });
});

describe('WebSocketClient with a fake socket', () => {
  test('commands given before open are queued and sent on open, once', () => {
    const { FakeSocket, last } = fakeWebSocket();
    const client = new WebSocketClient({ baseUrl: 'ws://x', apiKey: 'k', WebSocket: FakeSocket });
    client.subscribe(ID);
    client.cancelSimulation(ID2);
    client.subscribe(ID); // twice: one subscription
    client.connect();
    assert.equal(last().url, 'ws://x/ws?api_key=k');
    assert.equal(client.state, 'connecting');
    const opened: boolean[] = [];
    client.on('open', (e) => opened.push(e.reconnected));
    last().open();
    assert.deepEqual(opened, [false]);
    assert.deepEqual(last().commands(), [
      { action: 'subscribe', simulation_id: ID },
      { action: 'cancel', simulation_id: ID2 },
    ]);
    client.subscribe(ID); // already subscribed: nothing sent
    client.unsubscribe(ID);
    client.cancelSimulation(ID);
    assert.deepEqual(last().commands().slice(2), [
      { action: 'unsubscribe', simulation_id: ID },
      { action: 'cancel', simulation_id: ID },
    ]);
    client.disconnect();
  });

  test('updates are typed events; invalid JSON and unknown messages are logged and ignored', () => {
    const { FakeSocket, last } = fakeWebSocket();
    const logger = recordingLogger();
    const client = new WebSocketClient({ WebSocket: FakeSocket, logger });
    const got: string[] = [];
    client.on('progress', (d) => got.push(`progress ${d.progress} ${d.module}`));
    client.on('module_started', (d) => got.push(`started ${d.module}`));
    client.on('module_completed', (d) => got.push(`completed ${d.module} ${d.execution_time}`));
    client.on('intermediate_result', (d) => got.push(`intermediate ${JSON.stringify(d.data)}`));
    client.on('guardrail_violation', (d) => got.push(`violation ${d.violation.message}`));
    client.on('error_update', (d) => got.push(`error ${d.error}`));
    client.on('result', (d) => got.push(`result ${d.result.metrics.irr}`));
    const all: ServerMessage[] = [];
    client.on('message', (m) => all.push(m));
    client.connect();
    last().open();
    last().receive('{not json');
    last().receive('[1, 2]');
    last().receive(JSON.stringify({ type: 'toString' }));
    last().receive(update('module_started', { module: 'loan_generator' }));
    last().receive(update('progress', { progress: 45.5, module: 'loan_generator', message: 'Generating loans...' }));
    last().receive(update('module_completed', { module: 'loan_generator', execution_time: 1.25 }));
    last().receive(update('intermediate_result', { module: 'waterfall_engine', data: { tranches: [] } }));
    last().receive(update('guardrail_violation',
      { violation: { rule: 'max_ltv', severity: 'warning', message: 'Maximum LTV exceeded', details: { actual: 0.55 } } }));
    last().receive(update('error', { error: 'unknown simulation' }, ID2));
    last().receive(update('result', { result: { metrics: { irr: 0.15 } }, execution_time: 5.75 }));
    assert.deepEqual(got, [
      'started loan_generator',
      'progress 45.5 loan_generator',
      'completed loan_generator 1.25',
      'intermediate {"tranches":[]}',
      'violation Maximum LTV exceeded',
      'error unknown simulation',
      'result 0.15',
    ]);
    assert.equal(all.length, 7);
    const warnings = logger.lines.filter((l) => l.level === 'warn').map((l) => String(l.args[0]));
    assert.equal(warnings.length, 3);
    assert.match(warnings[0]!, /invalid JSON/);
    assert.equal(client.state, 'open'); // nothing above closed the connection
    client.disconnect();
  });

  test('a throwing handler does not stop the others', () => {
    const { FakeSocket, last } = fakeWebSocket();
    const logger = recordingLogger();
    const client = new WebSocketClient({ WebSocket: FakeSocket, logger });
    let second = 0;
    client.on('progress', () => {
      throw new Error('boom');
    });
    client.on('progress', () => second++);
    client.connect();
    last().open();
    last().receive(update('progress', { progress: 1, module: 'metrics', message: '' }));
    assert.equal(second, 1);
    assert.match(String(logger.lines.find((l) => l.level === 'error')?.args[0]), /'progress' handler threw/);
    client.disconnect();
  });

  test('reconnects with backoff, re-subscribes every active subscription, drops replayed duplicates', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    mock.method(Math, 'random', () => 1); // jitter at its maximum: delay = the full step
    const { FakeSocket, sockets, last } = fakeWebSocket();
    const client = new WebSocketClient({ WebSocket: FakeSocket, reconnectInterval: 100, maxReconnectInterval: 1000 });
    const events: string[] = [];
    client.on('open', (e) => events.push(`open reconnected=${e.reconnected}`));
    client.on('close', (e) => events.push(`close ${e.code} willReconnect=${e.willReconnect}`));
    client.on('reconnecting', (e) => events.push(`reconnecting ${e.attempt} ${e.delay}`));
    const started: string[] = [];
    client.on('module_started', (d) => started.push(`${d.simulation_id === ID ? 'A' : 'B'}:${d.module}`));
    const progress: number[] = [];
    client.on('progress', (d) => progress.push(d.progress));

    client.connect();
    last().open();
    client.subscribe(ID);
    client.subscribe(ID2);
    client.subscribe('323e4567-e89b-12d3-a456-426614174000');
    client.unsubscribe('323e4567-e89b-12d3-a456-426614174000');
    const a1 = update('module_started', { module: 'loan_generator', timestamp: 't1' });
    const p1 = update('progress', { progress: 10, module: 'loan_generator', message: '' });
    last().receive(a1);
    last().receive(p1);

    last().drop(1006);
    assert.equal(client.state, 'reconnecting');
    mock.timers.tick(99);
    assert.equal(sockets.length, 1);
    mock.timers.tick(1); // attempt 1 after 100 ms
    assert.equal(sockets.length, 2);
    last().drop(1006, 'connect ECONNREFUSED'); // attempt 1 fails
    mock.timers.tick(200); // attempt 2 after 200 ms
    assert.equal(sockets.length, 3);
    last().open();
    // both active subscriptions are sent again, nothing else
    assert.deepEqual(last().commands(), [
      { action: 'subscribe', simulation_id: ID },
      { action: 'subscribe', simulation_id: ID2 },
    ]);
    // the server replays: the same texts are not delivered twice, new ones are
    last().receive(a1);
    last().receive(p1);
    last().receive(update('module_started', { module: 'price_path_simulator', timestamp: 't2' }));
    last().receive(update('module_started', { module: 'loan_generator', timestamp: 't3' }, ID2));
    assert.deepEqual(started, ['A:loan_generator', 'A:price_path_simulator', 'B:loan_generator']);
    assert.deepEqual(progress, [10]);
    assert.deepEqual(events, [
      'open reconnected=false',
      'close 1006 willReconnect=true',
      'reconnecting 1 100',
      'close 1006 willReconnect=true',
      'reconnecting 2 200',
      'open reconnected=true',
    ]);
    client.disconnect();
  });

  test('disconnect() stops reconnecting, also while waiting to retry', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const { FakeSocket, sockets, last } = fakeWebSocket();
    const client = new WebSocketClient({ WebSocket: FakeSocket, reconnectInterval: 100 });
    const closes: boolean[] = [];
    client.on('close', (e) => closes.push(e.willReconnect));
    client.connect();
    last().open();
    last().drop();
    assert.equal(client.state, 'reconnecting');
    client.disconnect();
    assert.equal(client.state, 'closed');
    mock.timers.tick(24 * 3600 * 1000);
    assert.equal(sockets.length, 1);

    // disconnect() of an open connection: close with willReconnect false, never a new socket
    client.connect();
    last().open();
    client.disconnect();
    assert.equal(last().closedWith?.code, 1000);
    mock.timers.tick(24 * 3600 * 1000);
    assert.equal(sockets.length, 2);
    assert.deepEqual(closes, [true, false]);

    // disconnect() while connecting: the socket is dropped, it opens nothing
    client.connect();
    client.disconnect();
    mock.timers.tick(24 * 3600 * 1000);
    assert.equal(sockets.length, 3);
    assert.equal(client.state, 'closed');
  });

  test('maxReconnectAttempts: gives up, and waiters are rejected', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const { FakeSocket, sockets, last } = fakeWebSocket();
    const client = new WebSocketClient({ WebSocket: FakeSocket, reconnectInterval: 10, maxReconnectAttempts: 2 });
    const closes: boolean[] = [];
    client.on('close', (e) => closes.push(e.willReconnect));
    client.on('error', () => {});
    const waiting = client.waitForResult(ID);
    client.connect();
    last().drop(1006, 'connect ECONNREFUSED'); // the first connection fails
    for (let i = 0; i < 2; i++) {
      mock.timers.tick(60_000);
      last().drop(1006, 'connect ECONNREFUSED');
    }
    mock.timers.tick(60_000);
    assert.equal(sockets.length, 3); // the first try and 2 reconnection attempts
    assert.deepEqual(closes, [true, true, false]);
    assert.equal(client.state, 'closed');
    await assert.rejects(waiting, (err: unknown) => err instanceof WebSocketClientError && /gave up after 2/.test(err.message));
  });

  test('a handshake refused with 401 is reported and not retried', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const { FakeSocket, sockets, last } = fakeWebSocket();
    const client = new WebSocketClient({ WebSocket: FakeSocket });
    const errors: WebSocketClientError[] = [];
    client.on('error', (e) => errors.push(e));
    const closes: boolean[] = [];
    client.on('close', (e) => closes.push(e.willReconnect));
    client.connect();
    last().drop(1006, 'Unexpected server response: 401');
    mock.timers.tick(3600_000);
    assert.equal(sockets.length, 1);
    assert.equal(errors[0]?.status, 401);
    assert.deepEqual(closes, [false]);
    assert.equal(client.state, 'closed');
  });

  test('waitForResult resolves with the result, rejects on error and on timeout', async () => {
    const { FakeSocket, last } = fakeWebSocket();
    const client = new WebSocketClient({ WebSocket: FakeSocket });
    const ok = client.waitForResult(ID);
    const cancelled = client.waitForResult(ID2);
    client.connect();
    last().open();
    last().receive(update('result', { result: { metrics: { irr: 0.1 } }, execution_time: 1 }));
    last().receive(update('error', { error: 'cancelled', module: null }, ID2));
    assert.equal((await ok).result.metrics.irr, 0.1);
    await assert.rejects(cancelled, (err: unknown) => err instanceof SimulationError && err.cancelled);
    assert.deepEqual(client.subscriptions, []); // finished runs are no longer followed
    await assert.rejects(client.waitForResult(ID, { timeout: 5 }), /no result .* within 5 ms/);
    const late = client.waitForResult(ID2);
    client.disconnect();
    await assert.rejects(late, /disconnected/);
  });

  test('analysis updates: rows and results get their own events; waitForResult checks the sort', async () => {
    const { FakeSocket, last } = fakeWebSocket();
    const client = new WebSocketClient({ WebSocket: FakeSocket });
    const got: string[] = [];
    client.on('module_started', (d) => got.push(`started ${d.module}`));
    client.on('progress', (d) => got.push(`progress ${d.progress} ${d.module}`));
    client.on('intermediate_result', (d) => got.push(`intermediate ${d.module}`));
    client.on('analysis_row', (d) => got.push(`row ${d.module} ${JSON.stringify(d.data.row)}`));
    client.on('result', () => got.push('simulation result'));
    client.on('analysis_result', (d) => got.push(`analysis result ${d.result.kind} ${d.result.rows.length}`));
    const stress = client.waitForResult(ID, { analysis: 'stress' });
    const wrongSort = client.waitForResult(ID2);
    client.connect();
    last().open();
    last().receive(update('module_started', { module: 'stress:mvd_20' }));
    last().receive(update('intermediate_result', { module: 'metrics', data: { completed_scenarios: 10 } }));
    last().receive(update('intermediate_result', { module: 'stress:mvd_20', data: { row: { scenario: 'mvd_20' } } }));
    last().receive(update('progress', { progress: 100, module: 'analysis', message: 'Analysis complete' }));
    last().receive(update('result', { result: { kind: 'stress', rows: [{ scenario: 'base' }] }, execution_time: 1 }));
    last().receive(update('result', { result: { kind: 'tornado', rows: [] }, execution_time: 1 }, ID2));
    assert.deepEqual(got, [
      'started stress:mvd_20',
      'intermediate metrics',
      'row stress:mvd_20 {"scenario":"mvd_20"}',
      'progress 100 analysis',
      'analysis result stress 1',
      'analysis result tornado 0',
    ]);
    assert.equal((await stress).result.kind, 'stress');
    await assert.rejects(wrongSort, (err: unknown) => err instanceof WebSocketClientError
      && /is a tornado analysis: use waitForResult\(id, \{ analysis: true \}\)/.test(err.message));
    client.disconnect();
  });

  test('without a WebSocket implementation connect() says what to do', () => {
    const saved = (globalThis as { WebSocket?: unknown }).WebSocket;
    delete (globalThis as { WebSocket?: unknown }).WebSocket;
    try {
      assert.throws(() => new WebSocketClient().connect(), /no WebSocket implementation.*ws/);
    } finally {
      if (saved !== undefined) (globalThis as { WebSocket?: unknown }).WebSocket = saved;
    }
  });
});

describe('SimulationApi with a fake fetch', () => {
  function fakeFetch(status: number, body: string) {
    const calls: { url: string; init: FetchInitLike }[] = [];
    const fetch = async (url: string, init: FetchInitLike) => {
      calls.push({ url, init });
      return { ok: status >= 200 && status < 300, status, statusText: '', text: async () => body };
    };
    return { fetch, calls };
  }

  test('paths, query, headers and body', async () => {
    const { fetch, calls } = fakeFetch(200, '{"items":[],"next_cursor":null}');
    const api = new SimulationApi(new Configuration({ basePath: 'http://h:1/', apiKey: 'KEY', fetch,
      headers: { 'X-Extra': '1' } }));
    await api.listSimulations({ status: 'running', limit: 5, cursor: 'c d' });
    await api.createSimulation({ preset: '100m', overrides: { num_simulations: 10 } });
    await api.getSimulation('a/b');
    assert.equal(calls[0]!.url, 'http://h:1/api/simulations?status=running&limit=5&cursor=c%20d');
    assert.equal(calls[0]!.init.headers['X-API-Key'], 'KEY');
    assert.equal(calls[0]!.init.headers['X-Extra'], '1');
    assert.equal(calls[1]!.init.method, 'POST');
    assert.equal(calls[1]!.init.headers['Content-Type'], 'application/json');
    assert.deepEqual(JSON.parse(calls[1]!.init.body!), { preset: '100m', overrides: { num_simulations: 10 } });
    assert.equal(calls[2]!.url, 'http://h:1/api/simulations/a%2Fb');
  });

  test('errors: the server body, a non-JSON body, no answer', async () => {
    const body = JSON.stringify({ error: { code: 'invalid_config', message: 'bad', details: [
      { loc: ['price_path', 'volatility', 'red'], msg: 'must be <= 1' }] } });
    let api = new SimulationApi(new Configuration({ fetch: fakeFetch(422, body).fetch }));
    await assert.rejects(api.health(), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 422);
      assert.equal(err.code, 'invalid_config');
      assert.deepEqual(err.fieldErrors, { 'price_path.volatility.red': 'must be <= 1' });
      return true;
    });
    api = new SimulationApi(new Configuration({ fetch: fakeFetch(502, '<html>bad gateway</html>').fetch }));
    await assert.rejects(api.health(), { name: 'ApiError', status: 502, code: 'bad_response' });
    api = new SimulationApi(new Configuration({ fetch: async () => { throw new TypeError('fetch failed'); } }));
    await assert.rejects(api.health(), { name: 'ApiError', status: 0, code: 'network_error' });
  });
});
