// The spec's TypeScript examples, verbatim from README.md: type-checked in strict mode against
// the built package's declarations (as browser code) and run against the real server.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';

import ts from 'typescript';
import { WebSocket as WsWebSocket } from 'ws';
import { parse as parseYaml } from 'yaml';

import { Configuration, SimulationApi } from '../src/index.js';
import { PACKAGE_DIR, REPO_ROOT, startServer, withTimeout, type TestServer } from './helpers.js';

const README = join(PACKAGE_DIR, 'README.md');
// The user's spec, vendored so the check never depends on what lies beside the checkout;
// when the shared copy is there too, the vendored one must still equal it.
const SPEC = join(PACKAGE_DIR, 'test', 'fixtures', 'websocket-api.md');
const SHARED_SPEC = join(REPO_ROOT, '..', 'shared', 'seeds', 'websocket-api.md');
const WORK = join(PACKAGE_DIR, 'dist-test', 'examples'); // inside the package: 'equihome-sim-sdk' resolves to it
const MODULES = ['loan_generator', 'price_path_simulator', 'exit_simulator', 'cashflow_aggregator',
  'fee_engine', 'waterfall_engine', 'metrics', 'guardrail_monitor'];

/** The first ```typescript block after the heading `title`. */
function block(markdown: string, title: string): string {
  const at = markdown.search(new RegExp(`^#+ ${title}\\s*$`, 'm'));
  assert.ok(at >= 0, `no heading "${title}"`);
  const m = /```typescript\n([\s\S]*?)```/.exec(markdown.slice(at));
  assert.ok(m, `no typescript block after "${title}"`);
  return m[1]!;
}

const readme = readFileSync(README, 'utf8');
const INTEGRATION = block(readme, 'TypeScript SDK Integration');
const EXAMPLE = block(readme, 'Running a Simulation and Monitoring Progress');
const ERRORS = block(readme, 'Error Handling');

/** Page functions the examples call; typed so that a wrongly typed `data` would not compile. */
const PAGE_DECLARATIONS = `import type { Result, TranchesData, RunningStatistics } from 'equihome-sim-sdk';
declare global {
  function updateProgressBar(progress: number): void;
  function updateStatus(text: string): void;
  function updateIntermediateResults(data: TranchesData | RunningStatistics): void;
  function displayFinalResults(result: Result): void;
  function displayResults(result: Result): void;
  function showErrorMessage(message: string): void;
  function showWarning(message: string): void;
}
export {};
`;

describe('the spec examples in README.md', () => {
  test('are the spec\'s blocks, character for character', () => {
    const spec = readFileSync(SPEC, 'utf8');
    if (existsSync(SHARED_SPEC)) assert.equal(spec, readFileSync(SHARED_SPEC, 'utf8'));
    assert.equal(INTEGRATION, block(spec, 'TypeScript SDK Integration'));
    assert.equal(EXAMPLE, block(spec, 'Running a Simulation and Monitoring Progress'));
    assert.equal(ERRORS, block(spec, 'Error Handling'));
  });

  test('type-check in strict mode as browser code; every handler parameter is typed', () => {
    mkdirSync(WORK, { recursive: true });
    const files = {
      page: join(WORK, 'page.d.ts'),
      integration: join(WORK, 'integration.ts'),
      example: join(WORK, 'example.ts'),
    };
    writeFileSync(files.page, PAGE_DECLARATIONS);
    writeFileSync(files.integration, INTEGRATION + ERRORS); // the error block uses the client above it
    writeFileSync(files.example, EXAMPLE);
    const program = ts.createProgram(Object.values(files), {
      strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext, lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: [], skipLibCheck: false,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${d.file.fileName.slice(WORK.length + 1)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
      return `${where} TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    // The spec's own untyped parameter `function cancelSimulation(simulationId)` is the only one.
    assert.deepEqual(diagnostics.map((d) => d.replace(/:\d+ /, ' ')),
      ["example.ts TS7006 Parameter 'simulationId' implicitly has an 'any' type."], diagnostics.join('\n'));

    // the parameter of every on(event, handler) has the event's type
    const checker = program.getTypeChecker();
    const seen: Record<string, string> = {};
    for (const file of [files.integration, files.example]) {
      const visit = (node: ts.Node): void => {
        if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)
          && node.expression.name.text === 'on' && node.arguments.length === 2) {
          const [name, handler] = node.arguments;
          if (name && ts.isStringLiteral(name) && handler && ts.isArrowFunction(handler) && handler.parameters[0]) {
            seen[name.text] = checker.typeToString(checker.getTypeAtLocation(handler.parameters[0]));
          }
        }
        ts.forEachChild(node, visit);
      };
      visit(program.getSourceFile(file)!);
    }
    assert.deepEqual(seen, {
      progress: 'ProgressMessage',
      result: 'ResultMessage',
      error_update: 'ErrorMessage',
      module_started: 'ModuleStartedMessage',
      module_completed: 'ModuleCompletedMessage',
      intermediate_result: 'IntermediateResultUpdate',
      guardrail_violation: 'GuardrailViolationMessage',
      error: 'WebSocketClientError',
      close: 'ConnectionCloseEvent',
    });
  });
});

// ------------------------------------------------------------------ running them

type Calls = Record<string, unknown[][]>;

/** Installs the page functions and a console that records; returns the records. */
function installPage() {
  const calls: Calls = {};
  const waiters: { name: string; check: (args: unknown[]) => boolean; resolve: (args: unknown[]) => void }[] = [];
  const g = globalThis as unknown as Record<string, unknown>;
  const names = ['updateProgressBar', 'updateStatus', 'updateIntermediateResults', 'displayFinalResults',
    'displayResults', 'showErrorMessage', 'showWarning'];
  const record = (name: string) => (...args: unknown[]) => {
    (calls[name] ??= []).push(args);
    for (const w of [...waiters]) {
      if (w.name === name && w.check(args)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(args);
      }
    }
  };
  for (const name of names) g[name] = record(name);
  const savedConsole = { log: console.log, warn: console.warn, error: console.error };
  console.log = record('console.log');
  console.warn = record('console.warn');
  console.error = record('console.error');
  return {
    calls,
    /** The next call of `name` whose arguments pass `check` (or an earlier one). */
    called(name: string, check: (args: unknown[]) => boolean = () => true, ms = 60_000): Promise<unknown[]> {
      const earlier = (calls[name] ?? []).find(check);
      if (earlier) return Promise.resolve(earlier);
      return withTimeout(new Promise((resolve) => waiters.push({ name, check, resolve })), ms,
        `${name} was not called`);
    },
    restore() {
      Object.assign(console, savedConsole);
      for (const name of names) delete g[name];
    },
  };
}

/** Transpiles a snippet to a module in the package (so its import of 'equihome-sim-sdk' resolves). */
async function load(name: string, source: string, replace: Record<string, string>, exports: string) {
  let js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext,
    target: ts.ScriptTarget.ES2022 } }).outputText;
  for (const [from, to] of Object.entries(replace)) js = js.split(from).join(to);
  const file = join(WORK, `${name}.mjs`);
  mkdirSync(WORK, { recursive: true });
  writeFileSync(file, `${js}\nexport { ${exports} };\n`);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return import(pathToFileURL(file).href) as Promise<any>;
}

describe('the spec examples against the real server', () => {
  let open: TestServer;    // --no-auth: the Examples code passes no key
  let keyed: TestServer;
  let installedWebSocket = false;

  before(async () => {
    [open, keyed] = await Promise.all([startServer({ apiKey: null }), startServer({ apiKey: 'example-key' })]);
    // Node 20 has no global WebSocket; the code is browser code, so give it one (Node >= 22 has its own)
    const g = globalThis as { WebSocket?: unknown };
    if (g.WebSocket === undefined) {
      g.WebSocket = WsWebSocket;
      installedWebSocket = true;
    }
  });

  after(async () => {
    if (installedWebSocket) delete (globalThis as { WebSocket?: unknown }).WebSocket;
    await Promise.all([open?.stop(), keyed?.stop()]);
  });

  test('"Running a Simulation and Monitoring Progress": every update type arrives, then a cancel', { timeout: 120_000 }, async () => {
    const page = installPage();
    try {
      const ex = await load('example-run', EXAMPLE, { 'localhost:8000': `localhost:${open.port}` },
        'runSimulation, cancelSimulation, cleanup, wsClient, api');
      const simulationId: string = await ex.runSimulation();
      assert.match(simulationId, /^[0-9a-f-]{36}$/);
      const [result] = await page.called('displayFinalResults') as [{ num_simulations: number; metrics: { irr: unknown } }];

      // progress: numbers, never decreasing, 100 at the end
      const progress = page.calls['updateProgressBar']!.map((a) => a[0] as number);
      assert.ok(progress.length >= 2, `progress ${progress}`);
      assert.ok(progress.every((p, i) => typeof p === 'number' && (i === 0 || p >= progress[i - 1]!)), `${progress}`);
      assert.equal(progress.at(-1), 100);
      // module_started / module_completed: every stage
      assert.deepEqual(page.calls['updateStatus']!.map((a) => a[0]), MODULES.map((m) => `Running ${m}...`));
      const logs = page.calls['console.log']!.map((a) => String(a[0]));
      const completed = logs.filter((l) => l.startsWith('Module completed: '));
      assert.deepEqual(completed.map((l) => l.split(' ')[2]), MODULES);
      assert.ok(completed.every((l) => /in \d+(\.\d+)?(e-?\d+)?s$/.test(l)), completed.join('\n'));
      // intermediate_result: the tranche table and running statistics
      const data = page.calls['updateIntermediateResults']!.map((a) => a[0] as Record<string, unknown>);
      assert.ok(data.some((d) => Array.isArray(d['tranches'])), 'no tranche table');
      assert.ok(data.some((d) => typeof d['completed_scenarios'] === 'number'), 'no running statistics');
      // guardrail_violation: no seed was given, so at least seed_missing
      const warnings = page.calls['showWarning']!.map((a) => a[0]);
      assert.ok(warnings.length >= 1 && warnings.every((w) => typeof w === 'string'), `${warnings}`);
      // result
      assert.equal(result.num_simulations, 1000); // the config's default
      assert.ok(result.metrics.irr === null || typeof result.metrics.irr === 'number');
      assert.ok(logs.includes('Simulation completed:'));
      assert.deepEqual(ex.wsClient.subscriptions, []); // the result handler unsubscribed

      // error_update: the example's cancelSimulation on a second run
      const second: string = await ex.runSimulation();
      ex.cancelSimulation(second);
      await page.called('showErrorMessage', (a) => a[0] === 'cancelled');
      const api = new SimulationApi(new Configuration({ basePath: open.httpUrl }));
      assert.equal((await api.getSimulation(second)).status, 'cancelled');
      assert.equal((await api.getSimulation(simulationId)).status, 'completed');
      assert.equal(page.calls['console.warn']?.filter((a) => a[0] !== 'Guardrail violation:').length ?? 0, 0);

      ex.cleanup();
      assert.equal(ex.wsClient.state, 'closed');
    } finally {
      page.restore();
    }
  });

  test('"TypeScript SDK Integration" + "Error Handling": open, subscribe, error_update, close', { timeout: 60_000 }, async () => {
    const page = installPage();
    try {
      const ex = await load('integration-run', INTEGRATION + ERRORS, { 'localhost:8000': `localhost:${open.port}` },
        'wsClient, cleanup');
      // on open it subscribes to the spec's made-up id, which this server does not know
      const [message] = await page.called('showErrorMessage');
      assert.equal(message, 'unknown simulation');
      assert.deepEqual(page.calls['console.error']![0], ['Simulation error:', 'unknown simulation']);
      ex.cleanup();
      const [, code, reason] = await page.called('console.log', (a) => a[0] === 'WebSocket connection closed:');
      assert.equal(code, 1000);
      assert.equal(typeof reason, 'string');
      assert.equal(ex.wsClient.state, 'closed');
    } finally {
      page.restore();
    }
  });

  test('"TypeScript SDK Integration" with its placeholder key: the wrong key is reported, no retry', { timeout: 60_000 }, async () => {
    const page = installPage();
    try {
      // 'YOUR_API_KEY' kept as written: the keyed server refuses it
      const ex = await load('integration-wrong-key', INTEGRATION + ERRORS, { 'localhost:8000': `localhost:${keyed.port}` },
        'wsClient, cleanup');
      const [, error] = await page.called('console.error', (a) => a[0] === 'WebSocket error:') as [string, { status?: number; message: string }];
      assert.equal(error.status, 401);
      await page.called('console.log', (a) => a[0] === 'WebSocket connection closed:');
      assert.equal(ex.wsClient.state, 'closed'); // autoReconnect: true, but a refused key is not retried
      assert.equal(page.calls['showErrorMessage'], undefined);
      ex.cleanup();
    } finally {
      page.restore();
    }
  });
});

describe('the analysis example in README.md', () => {
  test('type-checks in strict mode as Node code (ws, top-level await) against the built package', () => {
    mkdirSync(WORK, { recursive: true });
    const file = join(WORK, 'analysis.ts');
    writeFileSync(file, block(readme, 'Analyses: stress, tornado, breakeven, sweep'));
    const program = ts.createProgram([file], {
      strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext, lib: ['lib.es2022.d.ts'], types: ['node'],
      skipLibCheck: true,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    assert.deepEqual(diagnostics, []);
    // the handlers' parameters are the analysis types
    const checker = program.getTypeChecker();
    const seen: Record<string, string> = {};
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)
        && node.expression.name.text === 'on' && node.arguments.length === 2) {
        const [name, handler] = node.arguments;
        if (name && ts.isStringLiteral(name) && handler && ts.isArrowFunction(handler) && handler.parameters[0]) {
          seen[name.text] = checker.typeToString(checker.getTypeAtLocation(handler.parameters[0]));
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(program.getSourceFile(file)!);
    assert.deepEqual(seen, { module_started: 'ModuleStartedMessage', analysis_row: 'AnalysisRowMessage' });
  });
});

describe('models and operations', () => {
  test('src/models.ts is what scripts/generate-models.mjs makes from schemas/*.yaml', () => {
    const run = spawnSync(process.execPath, [join(PACKAGE_DIR, 'scripts', 'generate-models.mjs'), '--check'],
      { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr + run.stdout);
  });

  test('SimulationApi has a method for every operationId of openapi.yaml', () => {
    const openapi = parseYaml(readFileSync(join(REPO_ROOT, 'schemas', 'openapi.yaml'), 'utf8')) as {
      paths: Record<string, Record<string, { operationId?: string }>>;
    };
    const ids = Object.values(openapi.paths).flatMap((p) => Object.values(p))
      .map((op) => op?.operationId).filter((id): id is string => !!id && !id.startsWith('compat_')
        && !id.startsWith('preflight')); // CORS preflights are the browser's, not the SDK's
    assert.equal(ids.length, 22); // 7 simulations (scenarios too), 6 analyses, 4 loan tapes, 2 presets, 2 schemas, health
    const api = new SimulationApi() as unknown as Record<string, unknown>;
    for (const id of ids) assert.equal(typeof api[id], 'function', id);
  });
});
