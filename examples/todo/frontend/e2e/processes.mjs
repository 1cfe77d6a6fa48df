// What the browser test and scripts/run.sh start: a backend of the todo example (FastAPI or
// Axum) on a free port, a throwaway redis-server, headless Chromium. Every process started here
// is stopped by the `stop()` it comes with (and on exit).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const frontendDir = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const exampleDir = resolve(frontendDir, '..');
export const repo = resolve(exampleDir, '..', '..');

/** The repository's Python (scripts/python-env.sh makes it), else the PATH's. */
export const python = existsSync(join(repo, '.venv', 'bin', 'python')) ? join(repo, '.venv', 'bin', 'python') : 'python3';
/** An environment whose `python` has mizan-kernel: what mizan.toml's FastAPI source runs. */
export const pythonEnv = { ...process.env, PATH: `${join(repo, '.venv', 'bin')}:${process.env.PATH}` };

export const BACKENDS = {
  fastapi: {
    label: 'FastAPI',
    source: 'examples/todo/backend-python/app.py',
    command: (args) => [python, [join(exampleDir, 'backend-python', 'app.py'), ...args]],
  },
  axum: {
    label: 'Axum',
    source: 'examples/todo/backend-rust (bin todo-axum)',
    command: (args) => [join(repo, 'target', 'debug', 'todo-axum'), args],
  },
};

/** `cargo build` of the Axum binary (quick when it is up to date). */
export function buildAxum({ quiet = true } = {}) {
  const r = spawnSync('cargo', ['build', ...(quiet ? ['--quiet'] : []), '-p', 'mizan-todo', '--bin', 'todo-axum'], { cwd: repo, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('cargo build -p mizan-todo --bin todo-axum failed');
}

const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGTERM');
});

function track(child) {
  live.add(child);
  child.on('exit', () => live.delete(child));
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
}

/**
 * Start a backend on a free port of 127.0.0.1 serving `frontend` (a built dist directory).
 * `cache`: `memory`, `none` or a `redis://` URL. Resolves once it printed its URL.
 */
export async function startBackend(kind, { cache = 'memory', frontend, redisPrefix = `todo-${kind}:` } = {}) {
  const backend = BACKENDS[kind];
  if (!backend) throw new Error(`unknown backend ${kind} (fastapi or axum)`);
  const args = ['--port', '0', '--cache', cache, '--redis-prefix', redisPrefix];
  if (frontend) args.push('--frontend', frontend);
  const [cmd, argv] = backend.command(args);
  const child = spawn(cmd, argv, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  const stop = track(child);
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (process.env.TODO_BACKEND_LOG) process.stderr.write(d);
  });
  const url = await new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${backend.label} did not start in 60 s:\n${stderr}`)), 60_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /on (http:\/\/\S+?)\/?\s/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${backend.label} exited (${code}) before listening:\n${stderr}`));
    });
  });
  return { kind, label: backend.label, source: backend.source, cache, url, stop, stderr: () => stderr };
}

async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

function ping(port) {
  return new Promise((resolvePing) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      socket.destroy();
      resolvePing(String(d).startsWith('+PONG'));
    });
    socket.on('error', () => resolvePing(false));
  });
}

/** A throwaway redis-server (no persistence) on a free port; `null` when none is installed. */
export async function startRedis() {
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const exe = which.stdout.trim();
  if (!exe) return null;
  const port = await freePort();
  const child = spawn(exe, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const stop = track(child);
  for (let i = 0; i < 250; i++) {
    if (await ping(port)) return { url: `redis://127.0.0.1:${port}/0`, stop };
    await new Promise((r) => setTimeout(r, 20));
  }
  await stop();
  throw new Error('redis-server did not answer PING');
}

/** The flags headless Chromium needs on this kind of machine. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Headless Chromium (playwright-core) with a fresh user-data-dir per browser context. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
}

/** Vite's production build of the frontend into `outDir` (React at `/`, Vue at `/vue.html`). */
export async function buildFrontend(outDir, { mode = 'production', logLevel = 'warn' } = {}) {
  const { build } = await import('vite');
  await build({ root: frontendDir, mode, logLevel, build: { outDir, emptyOutDir: true, reportCompressedSize: false } });
  return outDir;
}
