// `npm pack` makes a package that installs and imports on its own: no runtime dependencies,
// only dist/, src/ and the README, ES module entry with type declarations.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { PACKAGE_DIR, tempDir } from './helpers.js';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

test('npm pack: the tarball installs into a scratch project and imports', { timeout: 120_000 }, () => {
  const dir = tempDir('equihome-sdk-pack-');
  // dist/ is fresh (npm test builds first), so skip the prepack build here
  const pack = spawnSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir],
    { cwd: PACKAGE_DIR, encoding: 'utf8', timeout: 60_000 });
  assert.equal(pack.status, 0, pack.stderr);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  const files = info!.files.map((f) => f.path).sort();
  for (const f of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/websocket.js', 'dist/models.d.ts']) {
    assert.ok(files.includes(f), `${f} missing from the tarball`);
  }
  assert.deepEqual(files.filter((f) => !/^(dist|src)\/|^package\.json$|^README\.md$/.test(f)), []);

  // a scratch project: unpack as node_modules/equihome-sim-sdk (zero dependencies: nothing else to install)
  const app = join(dir, 'app');
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  const untar = spawnSync('tar', ['-xzf', join(dir, info!.filename), '-C', join(app, 'node_modules')], { encoding: 'utf8' });
  assert.equal(untar.status, 0, untar.stderr);
  renameSync(join(app, 'node_modules', 'package'), join(app, 'node_modules', 'equihome-sim-sdk'));
  const manifest = JSON.parse(readFileSync(join(app, 'node_modules', 'equihome-sim-sdk', 'package.json'), 'utf8'));
  assert.equal(manifest.name, 'equihome-sim-sdk');
  assert.equal(manifest.dependencies, undefined);
  assert.equal(manifest.exports['.'].types, './dist/index.d.ts');

  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  writeFileSync(join(app, 'main.js'), `
    import { Configuration, SimulationApi, WebSocketClient, ApiError } from 'equihome-sim-sdk';
    const api = new SimulationApi(new Configuration({ basePath: 'http://localhost:8000' }));
    const ws = new WebSocketClient({ baseUrl: 'ws://localhost:8000', apiKey: 'k' });
    console.log(JSON.stringify({ rest: api.configuration.apiBasePath, ws: ws.url,
      methods: typeof api.createSimulation, error: new ApiError(401, 'unauthorized', 'x').status }));
  `);
  const run = spawnSync(process.execPath, ['main.js'], { cwd: app, encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), { rest: 'http://localhost:8000/api', ws: 'ws://localhost:8000/ws?api_key=k',
    methods: 'function', error: 401 });
});
