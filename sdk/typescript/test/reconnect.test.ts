// The server is killed (SIGKILL) in the middle of a 20,000-scenario run and started again on the
// same port and database: the client reconnects, re-subscribes and still receives the result
// (the server re-runs unfinished simulations and replays state to subscribers). A client that
// called disconnect() meanwhile never comes back.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { WebSocket } from 'ws';

import { Configuration, SimulationApi, WebSocketClient, type ConnectionCloseEvent } from '../src/index.js';
import { nextEvent, recordingLogger, startServer, type TestServer } from './helpers.js';

const KEY = 'reconnect-test-key';
const CONFIG = { fund_size: 100000000, fund_term: 10, vintage_year: 2023, num_simulations: 20000 };
const servers: TestServer[] = [];
const clients: WebSocketClient[] = [];

after(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
});

test('server restarted mid-run: reconnect, re-subscribe, result; disconnect() stays disconnected', { timeout: 170_000 }, async () => {
  const first = await startServer({ apiKey: KEY });
  servers.push(first);
  const api = new SimulationApi(new Configuration({ basePath: first.httpUrl, apiKey: KEY }));
  const options = { baseUrl: first.wsUrl, apiKey: KEY, WebSocket, reconnectInterval: 100,
    maxReconnectInterval: 1000, logger: recordingLogger() };

  const follower = new WebSocketClient(options); // keeps following through the restart
  const quitter = new WebSocketClient(options);  // calls disconnect() while the server is down
  clients.push(follower, quitter);

  const events: string[] = [];
  follower.on('open', (e) => events.push(`open${e.reconnected ? ' (reconnected)' : ''}`));
  follower.on('close', (e) => events.push(`close willReconnect=${e.willReconnect}`));
  const startedRuns: string[] = [];
  follower.on('module_started', (d) => {
    if (d.module === 'loan_generator') startedRuns.push(d.timestamp);
  });
  let quitterOpens = 0;
  let quitterAttemptsAfterDisconnect = 0;
  let quitterDisconnected = false;
  quitter.on('open', () => quitterOpens++);
  quitter.on('reconnecting', () => {
    if (quitterDisconnected) quitterAttemptsAfterDisconnect++;
  });

  const sim = await api.createSimulation({ config: CONFIG });
  const result = follower.waitForResult(sim.id, { timeout: 150_000 });
  result.catch(() => {}); // awaited below; avoid an unhandled rejection if the test fails first
  quitter.subscribe(sim.id);
  const bothOpen = Promise.all([nextEvent(follower, 'open'), nextEvent(quitter, 'open')]);
  follower.connect();
  quitter.connect();
  await bothOpen;
  assert.equal(quitterOpens, 1);

  // wait until the run is really running, then kill the server without warning
  const running = await nextEvent(follower, 'progress', (d) => d.simulation_id === sim.id && d.progress > 0, 60_000);
  assert.ok(running.progress < 100, 'the run finished before the server could be killed');
  const lost = Promise.all([
    nextEvent(follower, 'close'),
    nextEvent(follower, 'reconnecting'),
    nextEvent(quitter, 'reconnecting'),
  ]);
  await first.kill();
  const [close] = await lost as [ConnectionCloseEvent, unknown, unknown];
  assert.equal(close.willReconnect, true);
  assert.equal(follower.state === 'reconnecting' || follower.state === 'connecting', true);

  // the quitter gives up while the server is down
  quitter.disconnect();
  quitterDisconnected = true;
  assert.equal(quitter.state, 'closed');
  assert.deepEqual(quitter.subscriptions, []);

  // same port, same database: the server re-queues the unfinished run
  const reopened = nextEvent(follower, 'open', (e) => e.reconnected, 60_000);
  const second = await startServer({ apiKey: KEY, port: first.port, db: first.db });
  servers.push(second);
  await reopened;
  assert.deepEqual(follower.subscriptions, [sim.id]); // re-subscribed

  const done = await result;
  assert.equal(done.simulation_id, sim.id);
  assert.equal(done.result.num_simulations, 20000);
  assert.equal(startedRuns.length, 2, `loan_generator started ${startedRuns.length}x`); // the server re-ran it
  const rec = await api.getSimulation(sim.id);
  assert.equal(rec.status, 'completed');
  assert.deepEqual(await api.getSimulationResult(sim.id), done.result);
  assert.deepEqual(events.slice(0, 2), ['open', 'close willReconnect=true']);
  assert.equal(events.at(-1), 'open (reconnected)');

  // The quitter: had it kept trying, an attempt would have reached the server within
  // maxReconnectInterval (1 s) of its return; give it 1.5 s more on top of the whole re-run.
  const quitterCameBack = await nextEvent(quitter, 'open', () => true, 1500).then(() => true, () => false);
  assert.equal(quitterCameBack, false, 'the disconnected client reconnected');
  assert.equal(quitterOpens, 1);
  assert.equal(quitterAttemptsAfterDisconnect, 0);
  assert.equal(quitter.state, 'closed');
  follower.disconnect();
});
