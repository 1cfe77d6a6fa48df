#!/usr/bin/env node
// Run the todo example: start a backend serving the built frontend, drive two users through it in
// headless Chromium and print what happened; with --serve, keep it running for a person.
// scripts/run.sh builds everything first and calls this.
//
//   node e2e/run.mjs [--backend fastapi|axum] [--cache memory|redis|none] [--page react|vue]
//                    [--screenshots DIR] [--serve] [--port N]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BACKENDS, buildAxum, frontendDir, launchChromium, repo, startBackend, startRedis } from './processes.mjs';
import { printReport } from './report.mjs';
import { runScenario } from './scenario.mjs';

const { values: opts } = parseArgs({
  options: {
    backend: { type: 'string', default: 'fastapi' },
    cache: { type: 'string', default: 'memory' },
    page: { type: 'string', default: 'react' },
    screenshots: { type: 'string', default: join(repo, 'target', 'todo-example') },
    serve: { type: 'boolean', default: false },
  },
});
if (!BACKENDS[opts.backend]) throw new Error(`--backend is fastapi or axum, not ${opts.backend}`);
if (!['memory', 'redis', 'none'].includes(opts.cache)) throw new Error(`--cache is memory, redis or none, not ${opts.cache}`);
const page = { react: '/', vue: '/vue.html' }[opts.page];
if (!page) throw new Error(`--page is react or vue, not ${opts.page}`);

const stops = [];
async function stopAll() {
  for (const stop of stops.splice(0).reverse()) await stop();
}
process.on('SIGINT', () => stopAll().then(() => process.exit(130)));
process.on('SIGTERM', () => stopAll().then(() => process.exit(143)));

try {
  let cache = opts.cache;
  if (cache === 'redis') {
    const redis = await startRedis();
    if (!redis) throw new Error('--cache redis needs redis-server (apt-get install redis-server)');
    stops.push(redis.stop);
    cache = redis.url;
  }
  if (opts.backend === 'axum') buildAxum();
  const backend = await startBackend(opts.backend, { cache, frontend: join(frontendDir, 'dist') });
  stops.push(backend.stop);
  const browser = await launchChromium();
  try {
    const report = await runScenario(browser, backend.url, { page, screenshots: opts.screenshots });
    console.log();
    printReport(report, { backend, cache: opts.cache === 'redis' ? `redis (${cache})` : opts.cache, pageLabel: opts.page === 'vue' ? 'Vue' : 'React' });
    const errors = Object.entries(report.errors).filter(([, e]) => e.length);
    for (const [name, e] of errors) console.log(`\n${name}'s page reported errors:\n  ${e.join('\n  ')}`);
    if (errors.length) process.exitCode = 1;
  } finally {
    await browser.close();
  }
  if (opts.serve) {
    console.log(`\nServing at ${backend.url}/ (React) and ${backend.url}/vue.html (Vue); Ctrl-C stops it.`);
    console.log('Sign in with any name; a second browser (or a private window) is a second user.');
    await new Promise(() => {});
  }
} finally {
  if (!opts.serve) await stopAll();
}
