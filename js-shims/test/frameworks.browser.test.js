// One page per framework (React, Vue, Svelte 5), built with Vite at test time and served by the
// in-process Mizan app, in headless Chromium: clicking a button that mutates refetches exactly
// the affected instance (server request counts) and the page shows the new data.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startApp } from './mizan-app.js';
import { buildApp } from './vite-build.js';

const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const skip = !existsSync(executablePath) && `no Chromium at ${executablePath}`;
let browser;

before(async () => {
  if (skip) return;
  const { chromium } = await import('playwright-core');
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
    ],
  });
});

after(async () => {
  await browser?.close();
});

const text = (page, sel) => page.locator(sel).innerText();

for (const framework of ['react', 'vue', 'svelte']) {
  test(`${framework}: a click that mutates refetches exactly the affected instance (chromium)`, { skip, timeout: 120_000 }, async () => {
    const built = await buildApp(framework);
    const app = await startApp({ staticRoot: built.dist });
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text()));
    page.on('response', (r) => r.status() >= 400 && !r.url().endsWith('/favicon.ico') && errors.push(`${r.status()} ${r.url()}`));
    try {
      await page.goto(`${app.url}/`);
      await page.waitForFunction(
        () => ['list-1', 'list-2', 'list-3'].every((id) => document.querySelector(`ul#${id}`)) && document.getElementById('user')?.textContent === 'Rana',
        null,
        { timeout: 60_000 },
      );
      assert.equal(await text(page, '#list-2'), 'bread');
      const first = app.counts();
      assert.deepEqual(first, {
        'session/': 1,
        'ctx/todos/?list_id=1': 1,
        'ctx/todos/?list_id=2': 1,
        'ctx/todos/?list_id=3': 1,
        'ctx/user/?user_id=5': 1,
      });
      const rendersBefore = await page.evaluate(() => ({ ...window.__renders }));

      await page.click('#add');
      await page.waitForFunction(() => document.querySelector('#list-2')?.textContent === 'breadjam', null, { timeout: 30_000 });
      await page.waitForFunction(() => document.querySelector('#list-2')?.dataset.fetching === 'false' && !document.querySelector('#add').disabled);
      await new Promise((r) => setTimeout(r, 150));
      assert.deepEqual(app.counts(), {
        ...first,
        'call/add_todo': 1,
        'ctx/todos/?list_id=2': 2,
      });
      assert.equal(app.calls[0].csrf, 'csrf-token-123');
      assert.deepEqual(
        [await text(page, '#list-1'), await text(page, '#list-2'), await text(page, '#list-3'), await text(page, '#user')],
        ['milk', 'bread\njam', 'eggs', 'Rana'],
      );
      const renders = await page.evaluate(() => ({ ...window.__renders }));
      // Lists 1 and 3 did not re-render (and the user did not) — only list 2 did.
      assert.equal(renders['list-1'], rendersBefore['list-1'], JSON.stringify({ rendersBefore, renders }));
      assert.equal(renders['list-3'], rendersBefore['list-3']);
      if (renders.user !== undefined) assert.equal(renders.user, rendersBefore.user);
      assert.ok(renders['list-2'] > rendersBefore['list-2']);
      assert.deepEqual(errors, []);
      console.log(`${framework}: requests ${JSON.stringify(app.counts())}; renders ${JSON.stringify(renders)}`);
    } finally {
      await page.close();
      await app.close();
      await built.remove();
    }
  });
}
