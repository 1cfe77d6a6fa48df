// The conformance runner, the error shape and trap recovery in headless Chromium (Debian's
// `chromium`, driven by playwright-core), against a static server on 127.0.0.1.
// CHROMIUM=/path/to/chrome overrides the executable; the test is skipped when there is none.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { loadScenarios } from './conformance-files.js';
import { serve } from './static-server.js';

const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

// 64 MiB per wasm memory: plenty for the scenarios, small enough that one big input traps fast.
const MEMORY_CAP_PAGES = 1024;
const OOM_ELEMENTS = 5_000_000;

let server;
let browser;
let result;

before(async () => {
  if (!existsSync(executablePath)) return;
  const { chromium } = await import('playwright-core');
  // Every feature's scenarios (or MIZAN_SCENARIOS), merged, at one URL.
  const scenarios = { type: 'application/json', body: JSON.stringify(loadScenarios()) };
  server = await serve({ root, routes: { '/scenarios.json': scenarios } });
  browser = await chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--js-flags=--wasm-max-mem-pages=${MEMORY_CAP_PAGES}`,
    ],
  });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.url}/test/browser.html?oom=${OOM_ELEMENTS}`);
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  try {
    // Module scripts with top-level await finish after `load`: wait for the result.
    await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 120_000 });
    result = await page.evaluate(() => window.__result);
  } catch (e) {
    result = { fatal: `${e.message}\n${errors.join('\n')}` };
  }
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const skip = !existsSync(executablePath) && `no Chromium at ${executablePath}`;

test('conformance scenarios (chromium)', { skip }, () => {
  assert.equal(result.fatal, undefined, result.fatal);
  const { passed, failed, skipped, failures } = result.conformance;
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped (exact integers)` : '') + ' (chromium)');
  for (const f of failures) console.log(`FAIL ${f.id} [${f.op}]: ${f.message}`);
  assert.ok(passed > 0, 'no scenarios ran');
  assert.equal(failed, 0, failures.map((f) => `${f.id}: ${f.message}`).join('\n'));
  console.log(`chromium timing: stringify("1") ${result.timing.stringifyNs.toFixed(0)} ns, deriveCacheKey ${result.timing.deriveCacheKeyNs.toFixed(0)} ns (${result.userAgent})`);
});

test('client-session scenarios through the client component (chromium)', { skip }, () => {
  assert.equal(result.fatal, undefined, result.fatal);
  const { passed, failed, failures } = result.clientComponent;
  console.log(`${passed} passed, ${failed} failed (chromium, client component)`);
  assert.ok(passed > 0, 'no client-session scenarios ran');
  assert.equal(failed, 0, failures.map((f) => `${f.id}: ${f.message}`).join('\n'));
});

test('error shape (chromium)', { skip }, () => {
  assert.equal(result.fatal, undefined, result.fatal);
  assert.deepEqual(
    { ...result.errorShape, message: undefined },
    { isError: true, isKernelError: true, name: 'MizanKernelError', code: 'invalid-header', details: { position: 4 }, message: undefined },
  );
});

test('out-of-memory trap and recovery (chromium)', { skip }, () => {
  assert.equal(result.fatal, undefined, result.fatal);
  const m = result.memory;
  assert.equal(m.code, 'trap', JSON.stringify(m));
  assert.equal(m.cause, 'RuntimeError');
  assert.equal(m.newInstances, 1);
  assert.equal(m.sameAnswers, true);
  assert.equal(m.nextCall, '1');
});

test('stack-exhaustion trap and recovery (chromium)', { skip }, () => {
  assert.equal(result.fatal, undefined, result.fatal);
  const s = result.stack;
  console.log(`stack exhaustion (chromium): ${s.traps} traps, ${s.newInstances} new instances`);
  assert.ok(s.traps > 0, JSON.stringify(s));
  assert.ok(s.newInstances >= 1);
  assert.equal(s.sameAnswers, true);
});
