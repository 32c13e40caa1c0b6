// Test helpers: start the real Python server, wait for client events with timeouts.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ApiError } from '../src/index.js';
import type { WebSocketClient, WebSocketClientEvent, WebSocketClientEventMap } from '../src/index.js';

/** The SDK package directory (tests run from dist-test/test/). */
export const PACKAGE_DIR = findUp(dirname(fileURLToPath(import.meta.url)), 'package.json');
/** The repository root (sdk/typescript/../..). */
export const REPO_ROOT = resolve(PACKAGE_DIR, '..', '..');

function findUp(start: string, file: string): string {
  let dir = start;
  while (!existsSync(join(dir, file))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no ${file} above ${start}`);
    dir = up;
  }
  return dir;
}

/** The Python that runs the server: $EQUIHOME_PYTHON, else the repository's .venv. */
export function python(): string {
  const fromEnv = process.env['EQUIHOME_PYTHON'];
  if (fromEnv) return fromEnv;
  const venv = join(REPO_ROOT, '.venv', 'bin', 'python');
  if (!existsSync(venv)) {
    throw new Error(`no Python at ${venv}: run scripts/setup.sh first, or set EQUIHOME_PYTHON`);
  }
  return venv;
}

export interface ServerOptions {
  /** API key to configure; null starts the server with --no-auth (loopback only). */
  apiKey: string | null;
  /** More API keys (another owner each). */
  extraKeys?: string[];
  /** Port to bind (0: a free one). */
  port?: number;
  /** SQLite file; default: a new one in a temporary directory. */
  db?: string;
  /** How long start-up may take, ms. */
  timeout?: number;
}

export interface TestServer {
  readonly port: number;
  readonly db: string;
  readonly httpUrl: string;
  readonly wsUrl: string;
  readonly process: ChildProcess;
  /** Log lines the server wrote (stderr), for failure messages. */
  log(): string;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (then SIGKILL after a while), resolved once the process is gone. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** A temporary directory removed when the test process exits. */
export function tempDir(prefix = 'equihome-sdk-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts `equihome serve` and resolves once it prints its URL (the port is read from it). */
export async function startServer(options: ServerOptions): Promise<TestServer> {
  const db = options.db ?? join(tempDir(), 'sims.db');
  const timeout = options.timeout ?? 60_000;
  const deadline = Date.now() + timeout;
  // Restarting on the port of a process just killed can race with the kernel: retry bind errors.
  for (;;) {
    try {
      return await startOnce(db, options, Math.max(1000, deadline - Date.now()));
    } catch (err) {
      const retry = options.port && /Address already in use|EADDRINUSE/i.test(String(err));
      if (!retry || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function startOnce(db: string, options: ServerOptions, timeout: number): Promise<TestServer> {
  const args = ['-m', 'equihome.cli', 'serve', '--host', '127.0.0.1', '--port', String(options.port ?? 0),
    '--db', db];
  if (options.apiKey === null) args.push('--no-auth');
  else args.push(`--api-key=${options.apiKey}`);  // one argument: a key may begin with '-'
  for (const key of options.extraKeys ?? []) args.push(`--api-key=${key}`);
  const child = spawn(python(), args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  live.add(child);
  let stderr = '';
  let stdout = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  const exited = new Promise<void>((res) => child.once('exit', () => {
    live.delete(child);
    res();
  }));
  const waitExit = (signal: NodeJS.Signals, grace: number) => async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<void>((res) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        res();
      }, grace);
    });
    await Promise.race([exited, forced]);
    clearTimeout(timer);
    await exited;
  };

  return new Promise<TestServer>((resolveStart, rejectStart) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rejectStart(new Error(`server did not start within ${timeout} ms\n${stderr}`));
    }, timeout);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      rejectStart(new Error(`server exited (${code ?? signal}) before it was ready\n${stderr}`));
    });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const m = /serving on http:\/\/[^\s:]+:(\d+)/.exec(stdout);
      if (!m) return;
      clearTimeout(timer);
      const port = Number(m[1]);
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      resolveStart({
        port,
        db,
        httpUrl: `http://localhost:${port}`,
        wsUrl: `ws://localhost:${port}`,
        process: child,
        log: () => stderr,
        kill: waitExit('SIGKILL', 10_000),
        stop: waitExit('SIGTERM', 10_000),
      });
    });
  });
}

/** Resolves with the next `event` (matching `filter`) of `client`; rejects after `timeout` ms. */
export function nextEvent<K extends WebSocketClientEvent>(client: WebSocketClient, event: K,
  filter: (data: WebSocketClientEventMap[K]) => boolean = () => true,
  timeout = 30_000): Promise<WebSocketClientEventMap[K]> {
  return new Promise((resolveEvent, rejectEvent) => {
    const timer = setTimeout(() => {
      off();
      rejectEvent(new Error(`no '${event}' event within ${timeout} ms`));
    }, timeout);
    const off = client.on(event, (data) => {
      if (!filter(data)) return;
      clearTimeout(timer);
      off();
      resolveEvent(data);
    });
  });
}

/** Rejects with `message` if `promise` is not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${message} (after ${ms} ms)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A logger that records instead of printing. */
export function recordingLogger() {
  const lines: { level: string; args: unknown[] }[] = [];
  return {
    lines,
    debug: (...args: unknown[]) => lines.push({ level: 'debug', args }),
    warn: (...args: unknown[]) => lines.push({ level: 'warn', args }),
    error: (...args: unknown[]) => lines.push({ level: 'error', args }),
  };
}

/** Reads `read()` every 100 ms until `done` holds for what it returns; throws after `ms`,
 * naming `what` and its last status. */
export async function pollUntil<T extends { status?: string }>(
  read: () => Promise<T>, done: (r: T) => boolean, what: string, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const rec = await read();
    if (done(rec)) return rec;
    if (Date.now() > deadline) throw new Error(`${what} still ${rec.status} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An `assert.rejects` check: an ApiError with this HTTP status and code, and a message. */
export function isApiError(status: number, code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof ApiError, `not an ApiError: ${String(err)}`);
    assert.equal(err.status, status, err.message);
    assert.equal(err.code, code, err.message);
    assert.equal(typeof err.message, 'string');
    return true;
  };
}
