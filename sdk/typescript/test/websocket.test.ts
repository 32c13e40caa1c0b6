// WebSocketClient against the real server (Node 20: the `ws` class is injected).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { WebSocket } from 'ws';

import {
  Configuration,
  SimulationApi,
  SimulationError,
  WebSocketClient,
  type ServerMessage,
  type WebSocketClientOptions,
} from '../src/index.js';
import { nextEvent, recordingLogger, startServer, type TestServer } from './helpers.js';

const KEY = 'ws-test-key';
const CONFIG = { fund_size: 100000000, fund_term: 10, vintage_year: 2023, num_simulations: 500 };
const MODULES = ['loan_generator', 'price_path_simulator', 'exit_simulator', 'cashflow_aggregator',
  'fee_engine', 'waterfall_engine', 'metrics', 'guardrail_monitor'];

describe('WebSocketClient against the server', () => {
  let server: TestServer;
  let api: SimulationApi;
  const clients: WebSocketClient[] = [];
  const client = (options: WebSocketClientOptions = {}) => {
    const c = new WebSocketClient({ baseUrl: server.wsUrl, apiKey: KEY, WebSocket, ...options });
    clients.push(c);
    return c;
  };

  before(async () => {
    server = await startServer({ apiKey: KEY });
    api = new SimulationApi(new Configuration({ basePath: server.httpUrl, apiKey: KEY }));
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await server?.stop();
  });

  test('a run: every update type arrives, typed, in order; waitForResult gives the result', { timeout: 60_000 }, async () => {
    const ws = client();
    const opened = nextEvent(ws, 'open');
    ws.connect();
    assert.equal((await opened).reconnected, false);
    const sim = await api.createSimulation({ config: CONFIG });

    const seen: ServerMessage[] = [];
    ws.on('message', (m) => seen.push(m));
    const progress: number[] = [];
    ws.on('progress', (d) => {
      assert.equal(typeof d.message, 'string');
      assert.ok(MODULES.includes(d.module));
      progress.push(d.progress);
    });
    const started: string[] = [];
    ws.on('module_started', (d) => started.push(d.module));
    const completed: [string, number][] = [];
    ws.on('module_completed', (d) => completed.push([d.module, d.execution_time]));
    const intermediate: string[] = [];
    ws.on('intermediate_result', (d) => {
      if (d.module === 'waterfall_engine') {
        for (const t of d.data.tranches) assert.equal(typeof t.name, 'string');
        intermediate.push('tranches');
      } else {
        assert.equal(typeof d.data['completed_scenarios'], 'number');
        intermediate.push('statistics');
      }
    });
    const violations: string[] = [];
    ws.on('guardrail_violation', (d) => {
      assert.ok(['info', 'warning', 'error'].includes(d.violation.severity));
      violations.push(d.violation.rule);
    });
    const errors: string[] = [];
    ws.on('error_update', (d) => errors.push(d.error));

    const done = await ws.waitForResult(sim.id, { timeout: 50_000 });
    assert.equal(done.simulation_id, sim.id);
    assert.equal(done.result.num_simulations, 500);
    assert.ok(done.execution_time >= 0);

    assert.ok(seen.every((m) => m.simulation_id === sim.id && /Z$/.test(m.timestamp)));
    assert.ok(progress.length >= 2 && progress.every((p, i) => i === 0 || p >= progress[i - 1]!), `${progress}`);
    assert.equal(progress.at(-1), 100);
    assert.deepEqual(started, MODULES);
    assert.deepEqual(completed.map(([m]) => m), MODULES);
    assert.ok(completed.every(([, t]) => typeof t === 'number' && t >= 0));
    assert.ok(intermediate.includes('tranches') && intermediate.includes('statistics'), `${intermediate}`);
    assert.ok(violations.includes('seed_missing'), `${violations}`); // no seed in the config
    assert.deepEqual(errors, []);
    assert.equal(seen.at(-1)?.type, 'result');
    assert.deepEqual(ws.subscriptions, []); // a finished run is no longer followed
    // the same result as REST
    assert.deepEqual(await api.getSimulationResult(sim.id), done.result);

    // a late subscriber gets the state replayed, result included; subscribe before connect() is queued
    const late = client();
    const lateStarted: string[] = [];
    late.on('module_started', (d) => lateStarted.push(d.module));
    const replayed = late.waitForResult(sim.id, { timeout: 20_000 });
    late.connect();
    assert.deepEqual((await replayed).result, done.result);
    assert.deepEqual(lateStarted, MODULES);
    late.disconnect();
    ws.disconnect();
  });

  test('cancelSimulation: error_update "cancelled", waitForResult rejects, the record says cancelled', { timeout: 60_000 }, async () => {
    const ws = client();
    ws.connect();
    const sim = await api.createSimulation({ config: { ...CONFIG, num_simulations: 20000 } });
    const result = ws.waitForResult(sim.id, { timeout: 50_000 });
    const running = nextEvent(ws, 'progress', (d) => d.simulation_id === sim.id && d.progress > 0);
    const cancelled = nextEvent(ws, 'error_update', (d) => d.simulation_id === sim.id);
    await running;
    ws.cancelSimulation(sim.id);
    const update = await cancelled;
    assert.equal(update.error, 'cancelled');
    assert.ok('module' in update && (update.module === null || MODULES.includes(update.module)));
    await assert.rejects(result, (err: unknown) => err instanceof SimulationError && err.cancelled
      && err.simulationId === sim.id);
    const rec = await api.getSimulation(sim.id);
    assert.equal(rec.status, 'cancelled');
    assert.equal(rec.error, 'cancelled');
    ws.disconnect();
  });

  test('an unknown simulation: error_update from the server, waitForResult rejects, connection stays open', { timeout: 30_000 }, async () => {
    const ws = client();
    ws.connect();
    const unknown = '00000000-0000-4000-8000-000000000000';
    const update = nextEvent(ws, 'error_update');
    await assert.rejects(ws.waitForResult(unknown, { timeout: 20_000 }),
      (err: unknown) => err instanceof SimulationError && /unknown simulation/.test(err.message));
    assert.equal((await update).simulation_id, unknown);
    assert.equal(ws.state, 'open');
    ws.disconnect();
  });

  test('a wrong key: error (401) and close, no reconnection', { timeout: 30_000 }, async () => {
    const logger = recordingLogger();
    const ws = client({ apiKey: 'wrong-key', reconnectInterval: 10, logger });
    const reconnecting: number[] = [];
    ws.on('reconnecting', (e) => reconnecting.push(e.attempt));
    const error = nextEvent(ws, 'error');
    const closed = nextEvent(ws, 'close');
    ws.connect();
    assert.equal((await error).status, 401);
    const close = await closed;
    assert.equal(close.willReconnect, false);
    assert.equal(ws.state, 'closed');
    assert.deepEqual(reconnecting, []);
  });
});
