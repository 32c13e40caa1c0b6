// SimulationApi against the real server: every REST operation, pagination, typed errors.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import { ApiError, Configuration, SimulationApi, type SimulationRecord } from '../src/index.js';
import { isApiError, pollUntil, python, REPO_ROOT, startServer, type TestServer } from './helpers.js';

const KEY = 'rest-test-key';
const SMALL = { fund_size: 100000000, fund_term: 10, vintage_year: 2023, num_simulations: 50, monte_carlo_seed: 7 };
const BIG = { ...SMALL, num_simulations: 20000 };

/** Polls the record until `done` (REST only has no push); bounded by `ms`. */
function until(api: SimulationApi, id: string, done: (r: SimulationRecord) => boolean, ms = 60_000) {
  return pollUntil(() => api.getSimulation(id), done, `simulation ${id}`, ms);
}

describe('SimulationApi against the server', () => {
  let server: TestServer;
  let api: SimulationApi;

  before(async () => {
    server = await startServer({ apiKey: KEY });
    api = new SimulationApi(new Configuration({ basePath: server.httpUrl, apiKey: KEY }));
  });
  after(() => server?.stop());

  test('health needs no key', async () => {
    const anonymous = new SimulationApi(new Configuration({ basePath: server.httpUrl }));
    const health = await anonymous.health();
    assert.equal(health.status, 'ok');
    assert.equal(typeof health.version, 'string');
    assert.ok(health.queued >= 0 && health.running >= 0);
  });

  test('a wrong or missing key is an ApiError 401 unauthorized', async () => {
    const wrong = new SimulationApi(new Configuration({ basePath: server.httpUrl, apiKey: 'nope' }));
    await assert.rejects(wrong.listSimulations(), isApiError(401, 'unauthorized'));
    await assert.rejects(wrong.createSimulation({ config: SMALL }), isApiError(401, 'unauthorized'));
    const none = new SimulationApi(new Configuration({ basePath: server.httpUrl }));
    await assert.rejects(none.listPresets(), isApiError(401, 'unauthorized'));
  });

  test('create, get, result, list with pagination, delete', async () => {
    const created: SimulationRecord[] = [];
    for (let i = 0; i < 3; i++) {
      created.push(await api.createSimulation({ config: SMALL, name: `page-${i}` }));
    }
    const first = created[0]!;
    assert.equal(first.status, 'queued');
    assert.equal(first.id, first.simulation_id);
    assert.equal(first.name, 'page-0');
    assert.equal(first.config.num_simulations, 50);

    for (const sim of created) await until(api, sim.id, (r) => r.status === 'completed');
    const rec = await api.getSimulation(first.id);
    assert.equal(rec.progress, 100);
    assert.ok(rec.execution_time !== null && rec.execution_time >= 0);
    assert.match(rec.finished_at ?? '', /Z$/);
    const result = await api.getSimulationResult(first.id);
    assert.equal(result.num_simulations, 50);
    assert.equal(result.seed, 7);
    assert.ok('irr' in result.metrics);

    // newest first, two per page, following next_cursor
    const page1 = await api.listSimulations({ limit: 2, status: 'completed' });
    assert.deepEqual(page1.items.map((r) => r.name), ['page-2', 'page-1']);
    assert.notEqual(page1.next_cursor, null);
    const page2 = await api.listSimulations({ limit: 2, status: 'completed', cursor: page1.next_cursor });
    assert.deepEqual(page2.items.map((r) => r.name), ['page-0']);
    assert.equal(page2.next_cursor, null);
    const all: string[] = [];
    for await (const sim of api.iterateSimulations({ limit: 1, status: 'completed' })) all.push(sim.name ?? '');
    assert.deepEqual(all, ['page-2', 'page-1', 'page-0']);
    await assert.rejects(api.listSimulations({ limit: 0 }), isApiError(400, 'bad_request'));

    await api.deleteSimulation(first.id);
    await assert.rejects(api.getSimulation(first.id), isApiError(404, 'not_found'));
    await assert.rejects(api.deleteSimulation(first.id), isApiError(404, 'not_found'));
    // a basePath that already ends with /api is used as it is
    const withApi = new SimulationApi(new Configuration({ basePath: `${server.httpUrl}/api/`, apiKey: KEY }));
    assert.equal((await withApi.getSimulation(created[1]!.id)).id, created[1]!.id);
  });

  test('getScenarios: the per-scenario arrays equal a local Python run bit for bit', async () => {
    const sim = await api.createSimulation({ config: SMALL });
    await until(api, sim.id, (r) => r.status === 'completed');
    const all = await api.getScenarios(sim.id);
    assert.equal(all.num_simulations, 50);
    assert.equal(all.seed, 7);
    // the same config and seed run in this repository's Python: the same float64s, null for NaN
    const script = 'import json, math, sys, equihome\n'
      + 'r = equihome.simulate(json.loads(sys.argv[1]))\n'
      + 'print(json.dumps({k: [None if math.isnan(x) else x for x in v.tolist()] for k, v in r.scenarios.items()}))';
    const local = spawnSync(python(), ['-c', script, JSON.stringify(SMALL)], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(local.status, 0, local.stderr);
    const expected = JSON.parse(local.stdout) as Record<string, (number | null)[]>;
    assert.deepEqual(Object.keys(all.metrics), Object.keys(expected));
    assert.deepEqual(all.metrics, expected);
    assert.ok(all.metrics['lp_irr']!.every((v) => typeof v === 'number'));

    const some = await api.getScenarios(sim.id, { metrics: ['lp_tvpi', 'lp_irr'] });
    assert.deepEqual(Object.keys(some.metrics), ['lp_tvpi', 'lp_irr']);
    assert.deepEqual(some.metrics['lp_irr'], expected['lp_irr']);
    await assert.rejects(api.getScenarios(sim.id, { metrics: ['lp_irr', 'irr_p99'] }), (err: unknown) => {
      isApiError(400, 'bad_request')(err);
      assert.match((err as ApiError).message, /'irr_p99'.*lp_irr, gross_irr/);
      return true;
    });
    assert.throws(() => api.getScenarios(sim.id, { metrics: [] }), TypeError);
    await assert.rejects(api.getScenarios('6f1c0000-0000-4000-8000-000000000000'), isApiError(404, 'not_found'));
    await api.deleteSimulation(sim.id);
  });

  test('cancel: 202 with the record, then 409 conflict; no result for a cancelled run', async () => {
    const sim = await api.createSimulation({ config: BIG });
    await assert.rejects(api.getSimulationResult(sim.id), isApiError(409, 'conflict'));
    await assert.rejects(api.getScenarios(sim.id), isApiError(409, 'conflict'));
    const rec = await api.cancelSimulation(sim.id);
    assert.equal(rec.id, sim.id);
    assert.ok(['queued', 'running', 'cancelled'].includes(rec.status));
    const done = await until(api, sim.id, (r) => r.status !== 'queued' && r.status !== 'running');
    assert.equal(done.status, 'cancelled');
    assert.equal(done.error, 'cancelled');
    await assert.rejects(api.cancelSimulation(sim.id), isApiError(409, 'conflict'));
    await assert.rejects(api.getSimulationResult(sim.id), isApiError(409, 'conflict'));
    await api.deleteSimulation(sim.id);
  });

  test('invalid config: 422 with one detail per field', async () => {
    await assert.rejects(api.createSimulation({ config: { fund_term: 45, hurdle_rate: 7 } }), (err: unknown) => {
      isApiError(422, 'invalid_config')(err);
      const e = err as ApiError;
      assert.deepEqual(Object.keys(e.fieldErrors).sort(), ['fund_term', 'hurdle_rate']);
      assert.match(e.fieldErrors['fund_term']!, /fund_term/);
      return true;
    });
    await assert.rejects(api.createSimulation({ preset: 'no-such-preset' }), isApiError(422, 'invalid_config'));
  });

  test('presets and schemas', async () => {
    const presets = await api.listPresets();
    assert.ok(presets.items.length >= 1);
    const name = presets.items[0]!.name;
    const preset = await api.getPreset(name);
    assert.equal(preset.name, name);
    assert.equal(typeof preset.config.fund_size, 'number');
    await assert.rejects(api.getPreset('no-such-preset'), isApiError(404, 'not_found'));
    const fromPreset = await api.createSimulation({ preset: name, overrides: { num_simulations: 10 }, name: 'from preset' });
    assert.equal(fromPreset.config.num_simulations, 10);
    await api.deleteSimulation(fromPreset.id);

    const config = await api.getConfigSchema();
    assert.equal(config.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.ok(isObject(config.properties) && 'fund_size' in config.properties);
    const result = await api.getResultSchema();
    assert.ok(isObject(result.properties) && 'metrics' in result.properties);
  });

  test('an aborted request rejects with the abort reason', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await assert.rejects(api.listSimulations({}, { signal: controller.signal }), /stop/);
  });
});

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}
