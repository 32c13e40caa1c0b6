// Loan tapes through the SDK against the real server: uploadLoanTape (201, the rows read back),
// a bad tape's 422 naming every row, listLoanTapes, getLoanTape, deleteLoanTape, another key's
// tape, and a simulation on `tape:<id>` equal to the same run made locally with the rows inline.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ApiError, Configuration, SimulationApi, type SimulationRecord } from '../src/index.js';
import { isApiError, pollUntil, python, REPO_ROOT, startServer, type TestServer } from './helpers.js';

const KEY = 'tapes-test-key';
const OTHER = 'tapes-other-key';
const CSV = readFileSync(join(REPO_ROOT, 'examples', 'loan_tape.csv'), 'utf8');
const POSITION = { as_of: '2026-06', called_to_date: 60_000_000, cash: 2_000_000 };
const BAD = 'loan_id,origination_date,advance,origination_value,zone\n'
  + 'L1,2024-01-15,-5,500000,green\n'
  + 'L2,2024-01-15,200000,500000,purple\n'
  + 'L1,2024-03-01,100000,400000,red\n';

/** Polls the record until it has finished; bounded by `ms`. */
function finished(api: SimulationApi, id: string, ms = 60_000): Promise<SimulationRecord> {
  return pollUntil(() => api.getSimulation(id),
    (rec) => rec.status !== 'queued' && rec.status !== 'running', `simulation ${id}`, ms);
}

describe('loan tapes through SimulationApi', () => {
  let server: TestServer;
  let api: SimulationApi;
  let other: SimulationApi;

  before(async () => {
    server = await startServer({ apiKey: KEY, extraKeys: [OTHER] });
    api = new SimulationApi(new Configuration({ basePath: server.httpUrl, apiKey: KEY }));
    other = new SimulationApi(new Configuration({ basePath: server.httpUrl, apiKey: OTHER }));
  });
  after(() => server?.stop());

  test('upload, list, read back, delete', async () => {
    const created = await api.uploadLoanTape(CSV);
    assert.equal(created.rows, 500);
    assert.deepEqual(created.errors, []);
    const { items } = await api.listLoanTapes();
    const item = items.find((t) => t.id === created.id);
    assert.ok(item, 'the new tape is listed');
    assert.equal(item.rows, 500);
    assert.match(item.created_at, /Z$/);
    const tape = await api.getLoanTape(created.id);
    assert.equal(tape.loans.length, 500);
    assert.equal(tape.bytes, item.bytes);
    // the CSV's first row: EQ-00001,2023-06-03,373000,1199585,orange,Stafford,0.35,0.055,15,,...
    assert.deepEqual(tape.loans[0], {
      loan_id: 'EQ-00001', origination_date: '2023-06-03', advance: 373000, origination_value: 1199585,
      zone: 'orange', suburb: 'Stafford', appreciation_share: 0.35, interest_rate: 0.055,
      term_years: 15, status: 'active',
    });
    assert.equal(tape.loans.reduce((sum, l) => sum + l.advance, 0),
      CSV.trim().split('\n').slice(1).reduce((sum, line) => sum + Number(line.split(',')[2]), 0));
    await api.deleteLoanTape(created.id);
    assert.ok(!(await api.listLoanTapes()).items.some((t) => t.id === created.id));
    await assert.rejects(api.getLoanTape(created.id), isApiError(404, 'not_found'));
    await assert.rejects(api.deleteLoanTape(created.id), isApiError(404, 'not_found'));
  });

  test('a bad tape is a 422 naming every bad row, column and value; nothing is stored', async () => {
    const before = (await api.listLoanTapes()).items.length;
    await assert.rejects(api.uploadLoanTape(BAD), (err: unknown) => {
      isApiError(422, 'invalid_loan_tape')(err);
      const problems = (err as ApiError).tapeProblems;
      assert.deepEqual(problems.map((p) => [p.row, p.column, p.value]),
        [[1, 'advance', '-5'], [2, 'zone', 'purple'], [3, 'loan_id', 'L1']]);
      assert.equal(problems[0]!.msg, "row 1, advance: must be a number > 0, got '-5'");
      assert.equal(problems[2]!.msg, "row 3, loan_id: must be unique (duplicate of row 1), got 'L1'");
      assert.deepEqual(problems[1]!.loc, ['loans', 2, 'zone']);
      return true;
    });
    assert.equal((await api.listLoanTapes()).items.length, before);
    assert.throws(() => api.uploadLoanTape(42 as unknown as string), TypeError);
  });

  test("another key's tape is not found, and not usable in a run", async () => {
    const { id } = await api.uploadLoanTape(CSV);
    await assert.rejects(other.getLoanTape(id), isApiError(404, 'not_found'));
    await assert.rejects(other.deleteLoanTape(id), isApiError(404, 'not_found'));
    assert.deepEqual((await other.listLoanTapes()).items, []);
    await assert.rejects(other.createSimulation({
      preset: '100m', overrides: { num_simulations: 20, portfolio: { loans: `tape:${id}`, ...POSITION } },
    }), (err: unknown) => {
      isApiError(422, 'invalid_config')(err);
      assert.match((err as ApiError).fieldErrors['portfolio.loans'] ?? '', new RegExp(`no loan tape '${id}'`));
      return true;
    });
    await api.deleteLoanTape(id);
  });

  test('a simulation on tape:<id> equals the local run with the rows inline', async () => {
    const { id } = await api.uploadLoanTape(CSV);
    const sim = await api.createSimulation({
      preset: '100m',
      overrides: { num_simulations: 20, monte_carlo_seed: 11, portfolio: { loans: `tape:${id}`, ...POSITION } },
    });
    assert.equal(sim.config.portfolio?.loans, `tape:${id}`);
    assert.equal((await finished(api, sim.id)).status, 'completed');
    const result = await api.getSimulationResult(sim.id);
    const script = [
      'import json, sys, equihome',
      'from equihome.io.loan_tape import load_loan_tape',
      "rows = load_loan_tape('examples/loan_tape.csv').to_rows()",
      'over = json.loads(sys.argv[1])',
      "over['portfolio']['loans'] = rows",
      "cfg = equihome.load_config('100m', over)",
      "print(json.dumps(json.loads(equihome.simulate(cfg).to_json())['statistics']))",
    ].join('\n');
    const overrides = { num_simulations: 20, monte_carlo_seed: 11, portfolio: { loans: null, ...POSITION } };
    const local = spawnSync(python(), ['-c', script, JSON.stringify(overrides)], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(local.status, 0, local.stderr);
    assert.deepEqual(result.statistics, JSON.parse(local.stdout));
    // a file path is never read by the server
    await assert.rejects(api.createSimulation({
      preset: '100m', overrides: { portfolio: { loans: '/etc/passwd', ...POSITION } },
    }), (err: unknown) => {
      isApiError(422, 'invalid_config')(err);
      assert.equal((err as ApiError).fieldErrors['portfolio.loans'],
        "portfolio.loans: a server run takes rows or tape:<id>, not a file path, got '/etc/passwd'");
      return true;
    });
  });
});
