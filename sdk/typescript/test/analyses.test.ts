// Analyses through the SDK against the real server: createAnalysis for every kind with typed
// records and results, 422 naming the field, the WebSocket stream of an analysis (a
// module_started per variant, its rows, its result), cancel, and ownership.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { WebSocket } from 'ws';

import {
  ApiError,
  Configuration,
  SimulationApi,
  SimulationError,
  WebSocketClient,
  WebSocketClientError,
  type AnalysisKind,
  type AnalysisRecord,
  type AnalysisRow,
  type BreakevenResult,
  type ModuleName,
  type StressResult,
  type StressRow,
  type StressScenario,
  type SweepResult,
  type TornadoResult,
  type TornadoRow,
  type WebSocketClientOptions,
} from '../src/index.js';
import { isApiError, nextEvent, pollUntil, startServer, type TestServer } from './helpers.js';

const KEY = 'analyses-test-key';
const OTHER = 'analyses-other-key';
const SMALL = { num_simulations: 60, monte_carlo_seed: 5 };
const CUSTOM: StressScenario = {
  name: 'custom',
  price_shock: { start_month: 6, decline: -0.25, decline_months: 12 },
  hazard_multipliers: { start_month: 6, months: 12, refinance: 0.3 },
  overrides: { recovery_rates: { red: 0.6 } },
};

/** A stress row that ran (not a failed scenario's `{scenario, error}`). */
function ran(row: StressResult['rows'][number]): StressRow {
  assert.ok(!('error' in row), `scenario ${row.scenario} failed`);
  return row;
}

/** Polls the record until `done`; bounded by `ms`. */
function until(api: SimulationApi, id: string, done: (r: AnalysisRecord) => boolean, ms = 120_000) {
  return pollUntil(() => api.getAnalysis(id), done, `analysis ${id}`, ms);
}

describe('analyses against the server', () => {
  let server: TestServer;
  let api: SimulationApi;
  let other: SimulationApi;
  const clients: WebSocketClient[] = [];
  const client = (options: WebSocketClientOptions = {}) => {
    const c = new WebSocketClient({ baseUrl: server.wsUrl, apiKey: KEY, WebSocket, ...options });
    clients.push(c);
    c.connect();
    return c;
  };

  before(async () => {
    server = await startServer({ apiKey: KEY, extraKeys: [OTHER] });
    api = new SimulationApi(new Configuration({ basePath: server.httpUrl, apiKey: KEY }));
    other = new SimulationApi(new Configuration({ basePath: server.httpUrl, apiKey: OTHER }));
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await server?.stop();
  });

  test('stress with a custom scenario: typed record, typed rows and fans', { timeout: 120_000 }, async () => {
    const rec = await api.createAnalysis({
      kind: 'stress', preset: '100m', overrides: SMALL, name: 'committee stress',
      params: { scenarios: ['mvd_20', CUSTOM], statistic: 'lp_tvpi:p50' },
    });
    assert.equal(rec.kind, 'stress');
    assert.equal(rec.analysis_id, rec.id);
    assert.equal(rec.simulation_id, rec.id);
    assert.equal(rec.name, 'committee stress');
    assert.deepEqual(rec.params.scenarios, ['mvd_20', CUSTOM]); // typed: StressParams
    assert.ok(['queued', 'running'].includes(rec.status));

    const done = await until(api, rec.id, (r) => r.status === 'completed');
    assert.equal(done.progress, 100);
    const result: StressResult = await api.getAnalysisResult(rec.id, { kind: 'stress' });
    assert.equal(result.kind, 'stress');
    assert.equal(result.statistic, 'lp_tvpi:p50');
    assert.equal(result.num_simulations, 60);
    assert.equal(result.seed, 5);
    assert.equal(result.columns[0], 'scenario');
    assert.deepEqual(result.rows.map((r) => r.scenario), ['base', 'mvd_20', 'custom']);
    const [base, mvd, custom] = result.rows.map(ran);
    assert.equal(base!.change, 0);
    assert.ok(mvd!.irr_p50! < base!.irr_p50!, 'a 20 % market decline lowers the median LP IRR');
    assert.ok(custom!.tvpi_p50! > 0 && typeof custom!.change_se === 'number');
    assert.ok(Array.isArray(custom!.guardrails));
    assert.deepEqual(result.params.scenarios.map((s) => s.name), ['mvd_20', 'custom']);
    assert.equal(result.params.scenarios[1]!.price_shock?.decline, -0.25);
    const fan = result.fans['custom'];
    assert.ok(fan !== undefined && !Array.isArray(fan));
    assert.equal(fan.nav.p50.length, result.fans.years.length);

    // the untyped call gives the union; `kind` narrows it
    const any = await api.getAnalysisResult(rec.id);
    assert.ok(any.kind === 'stress');
    assert.deepEqual(any.rows, result.rows);
    // asking for another kind is refused, so the type never lies
    await assert.rejects(api.getAnalysisResult(rec.id, { kind: 'tornado' }), isApiError(200, 'bad_response'));
    const record = await api.getAnalysis(rec.id);
    assert.ok(record.kind === 'stress' && record.params.statistic === 'lp_tvpi:p50');
  });

  test('tornado over the WebSocket: module_started per variant, rows, typed result', { timeout: 120_000 }, async () => {
    const ws = client();
    await nextEvent(ws, 'open');
    const rec = await api.createAnalysis({
      kind: 'tornado', preset: '100m', overrides: SMALL,
      params: { parameters: { hurdle_rate: 0.01, appreciation_rates: 0.01, avg_loan_ltv: [0.3, 0.4] } },
    });
    assert.equal(rec.kind, 'tornado');
    const started: ModuleName[] = [];
    const completed: ModuleName[] = [];
    const rows: AnalysisRow[] = [];
    const progress: [number, ModuleName][] = [];
    let simulationEvents = 0;
    ws.on('module_started', (d) => d.simulation_id === rec.id && started.push(d.module));
    ws.on('module_completed', (d) => d.simulation_id === rec.id && completed.push(d.module));
    ws.on('progress', (d) => d.simulation_id === rec.id && progress.push([d.progress, d.module]));
    ws.on('analysis_row', (d) => {
      assert.ok(d.module.startsWith('tornado:'));
      rows.push(d.data.row);
    });
    ws.on('intermediate_result', () => simulationEvents++);
    ws.on('result', () => simulationEvents++);
    const done = await ws.waitForResult(rec.id, { analysis: 'tornado', timeout: 100_000 });
    const result: TornadoResult = done.result;

    const variants = ['hurdle_rate', 'appreciation_rates', 'avg_loan_ltv'].flatMap((p) => [`tornado:${p}:low`, `tornado:${p}:high`]);
    assert.deepEqual(started, ['tornado:base', ...variants]);
    assert.deepEqual(completed, started);
    assert.deepEqual(rows[0], { parameter: 'base' }); // the base's row, then one per input
    assert.deepEqual(new Set(rows.slice(1).map((r) => (r as TornadoRow).parameter)),
      new Set(['hurdle_rate', 'appreciation_rates', 'avg_loan_ltv']));
    assert.equal(simulationEvents, 0, 'analysis updates never reach the simulation events');
    assert.deepEqual(progress.at(-1), [100, 'analysis']);

    assert.equal(result.statistic, 'lp_irr:p50');
    assert.equal(result.rows.length, 3);
    const swings = result.rows.map((r) => r.swing!);
    assert.deepEqual(swings, [...swings].sort((a, b) => b - a));
    assert.ok(swings[0]! > 0);
    const ltv = result.rows.find((r) => r.parameter === 'avg_loan_ltv')!;
    assert.deepEqual([ltv.low, ltv.high], [0.3, 0.4]);
    const zones = result.rows.find((r) => r.parameter === 'appreciation_rates')!;
    assert.ok(typeof zones.low === 'object' && typeof zones.high === 'object');
    assert.deepEqual(Object.keys(zones.low).sort(), ['green', 'orange', 'red']);
    assert.ok(Math.abs(zones.high.red - zones.low.red - 0.02) < 1e-12); // base -+ 0.01
    assert.equal(result.base_value, result.rows[0]!.stat_base);
    assert.deepEqual(await api.getAnalysisResult(rec.id, { kind: 'tornado' }), result);
  });

  test('breakeven and sweep: typed results; listAnalyses pages every kind', { timeout: 120_000 }, async () => {
    const be = await api.createAnalysis({
      kind: 'breakeven', preset: '100m', overrides: SMALL,
      params: { parameter: 'appreciation_rates', bounds: [0, 0.15], target: { statistic: 'lp_irr:p50', value: 'hurdle' } },
    });
    const sw = await api.createAnalysis({
      kind: 'sweep', preset: '100m', overrides: SMALL, params: { grid: { avg_loan_ltv: [0.3, 0.4] } },
    });
    assert.deepEqual(be.params.bounds, [0, 0.15]);
    assert.deepEqual(sw.params.grid, { avg_loan_ltv: [0.3, 0.4] });
    const ws = client();
    const breakeven: BreakevenResult = (await ws.waitForResult(be.id, { analysis: 'breakeven', timeout: 100_000 })).result;
    assert.ok(breakeven.converged);
    assert.ok(Math.abs(breakeven.value - breakeven.target) <= 1e-5);
    assert.ok(breakeven.x > 0 && breakeven.x < 0.15);
    assert.equal(breakeven.iterations, breakeven.rows.length);
    assert.deepEqual(breakeven.rows.map((r) => r.iteration), breakeven.rows.map((_, i) => i));
    const any = await ws.waitForResult(sw.id, { analysis: true, timeout: 100_000 });
    assert.ok(any.result.kind === 'sweep');
    const sweep: SweepResult = any.result;
    assert.deepEqual(sweep.grid_keys, ['avg_loan_ltv']);
    assert.deepEqual(sweep.rows.map((r) => r['avg_loan_ltv']), [0.3, 0.4]);
    assert.ok(sweep.rows.some((r) => r.efficient));
    assert.ok(sweep.rows.every((r) => typeof r.irr_p50 === 'number'));

    const kinds = new Set<AnalysisKind>();
    for await (const r of api.iterateAnalyses({ limit: 1 })) kinds.add(r.kind);
    assert.deepEqual([...kinds].sort(), ['breakeven', 'stress', 'sweep', 'tornado']);
    const page = await api.listAnalyses({ status: 'completed', limit: 2 });
    assert.equal(page.items.length, 2);
    assert.equal(typeof page.next_cursor, 'string');
    assert.deepEqual((await api.listSimulations()).items, []); // analyses are not simulations
  });

  test('waitForResult checks the sort of run it was asked for', { timeout: 60_000 }, async () => {
    // one connection per wait: the server replays a finished run once per connection
    const an = await api.createAnalysis({ kind: 'stress', preset: '100m', overrides: SMALL, params: { scenarios: ['rates_up'] } });
    const sim = await api.createSimulation({ preset: '100m', overrides: SMALL });
    await assert.rejects(client().waitForResult(an.id, { timeout: 50_000 }),
      (err: unknown) => err instanceof WebSocketClientError && /is a stress analysis/.test(err.message));
    await assert.rejects(client().waitForResult(an.id, { analysis: 'sweep', timeout: 50_000 }),
      (err: unknown) => err instanceof WebSocketClientError && /not sweep/.test(err.message));
    await assert.rejects(client().waitForResult(sim.id, { analysis: true, timeout: 50_000 }),
      (err: unknown) => err instanceof WebSocketClientError && /is a simulation/.test(err.message));
    const stress = await client().waitForResult(an.id, { analysis: 'stress', timeout: 50_000 });
    assert.deepEqual(stress.result.rows.map((r) => r.scenario), ['base', 'rates_up']);
    const simulation = await client().waitForResult(sim.id, { timeout: 50_000 });
    assert.equal(simulation.result.num_simulations, 60);
  });

  test('a 422 names the field: config, scenario and params errors', async () => {
    await assert.rejects(api.createAnalysis({
      kind: 'stress', preset: '100m', overrides: SMALL,
      params: { scenarios: [{ name: 'deep', price_shock: { decline: -2 } }] },
    }), (err: unknown) => {
      isApiError(422, 'invalid_config')(err);
      const e = err as ApiError;
      assert.ok('scenarios.0.price_shock.decline' in e.fieldErrors, JSON.stringify(e.details));
      return true;
    });
    await assert.rejects(api.createAnalysis({
      kind: 'tornado', preset: '100m', params: { parameters: { no_such_field: 0.1 } },
    }), (err: unknown) => {
      isApiError(422, 'invalid_params')(err);
      const e = err as ApiError;
      assert.match(e.message, /parameters\.no_such_field/);
      assert.deepEqual(e.details?.map((d) => d.loc), [['params']]);
      return true;
    });
    await assert.rejects(api.createAnalysis({ kind: 'sweep', preset: '100m', overrides: { fund_term: 0 } }),
      (err: unknown) => isApiError(422, 'invalid_config')(err) && 'fund_term' in (err as ApiError).fieldErrors);
  });

  test('cancel a running analysis: error_update names the variant, waitForResult rejects', { timeout: 120_000 }, async () => {
    const rec = await api.createAnalysis({
      kind: 'tornado', preset: '100m', overrides: { num_simulations: 3000, monte_carlo_seed: 5 },
      params: { parameters: { hurdle_rate: 0.01, loan_term: 2 } },
    });
    const ws = client();
    const waiting = ws.waitForResult(rec.id, { analysis: 'tornado', timeout: 100_000 });
    await nextEvent(ws, 'module_started', (d) => d.simulation_id === rec.id, 60_000);
    const cancelled = await api.cancelAnalysis(rec.id);
    assert.equal(cancelled.kind, 'tornado');
    assert.ok(['running', 'cancelled'].includes(cancelled.status));
    await assert.rejects(waiting, (err: unknown) => {
      assert.ok(err instanceof SimulationError && err.cancelled, String(err));
      assert.ok('module' in err.update && typeof err.update.module === 'string' && err.update.module.startsWith('tornado:'),
        JSON.stringify(err.update));
      return true;
    });
    assert.equal((await until(api, rec.id, (r) => r.status !== 'running')).status, 'cancelled');
    await assert.rejects(api.getAnalysisResult(rec.id), isApiError(409, 'conflict'));
    await assert.rejects(api.cancelAnalysis(rec.id), isApiError(409, 'conflict'));
    await api.deleteAnalysis(rec.id);
    await assert.rejects(api.getAnalysis(rec.id), isApiError(404, 'not_found'));
  });

  test('another key: the analysis does not exist (404), over REST and the WebSocket', { timeout: 60_000 }, async () => {
    const rec = await api.createAnalysis({ kind: 'stress', preset: '100m', overrides: SMALL, params: { scenarios: ['mvd_20'] } });
    await assert.rejects(other.getAnalysis(rec.id), isApiError(404, 'not_found'));
    await assert.rejects(other.getAnalysisResult(rec.id), isApiError(404, 'not_found'));
    await assert.rejects(other.cancelAnalysis(rec.id), isApiError(404, 'not_found'));
    await assert.rejects(other.deleteAnalysis(rec.id), isApiError(404, 'not_found'));
    assert.deepEqual((await other.listAnalyses()).items, []);
    await assert.rejects(api.getSimulation(rec.id), isApiError(404, 'not_found')); // not a simulation either
    const foreign = client({ apiKey: OTHER });
    await assert.rejects(foreign.waitForResult(rec.id, { analysis: true, timeout: 20_000 }),
      (err: unknown) => err instanceof SimulationError && !('module' in err.update));
    const mine = await client().waitForResult(rec.id, { analysis: 'stress', timeout: 50_000 });
    assert.equal(mine.result.rows.length, 2);
  });
});
