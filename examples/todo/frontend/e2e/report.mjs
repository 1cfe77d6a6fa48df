// scripts/run.sh's account of a run: each step with its requests, what each user saw, their
// client caches, where the screenshots are.
import { fetched } from './scenario.mjs';

const pad = (s, n) => String(s).padEnd(n);

function describe(r) {
  const what = r.fn ? `${r.path} ${r.fn}` : r.path;
  const parts = [`${pad(r.method, 4)} ${pad(what, 34)} ${r.status ?? '…'}`];
  if (r.cache) parts.push(`origin cache ${r.cache}`);
  if (r.invalidate) parts.push(`invalidate ${JSON.stringify(r.invalidate)}`);
  if (r.merge) parts.push(`merge ${r.merge.join(', ')}`);
  return parts.join('   ');
}

const list = (todos) => (todos.length ? todos.map((t) => `${t.done ? '☑' : '☐'} ${t.title} (${t.author})`).join(', ') : '(empty)');

export function printReport(report, { backend, cache, pageLabel }, log = console.log) {
  log(`The todo example on ${backend.label} (${backend.source}), origin cache: ${cache}, ${pageLabel} page`);
  log(`at ${report.url}${report.page === '/' ? '' : report.page.slice(1)}\n`);
  report.steps.forEach((step, i) => {
    log(`${i + 1}. ${step.who} ${step.what}${step.optimistic ? ` — optimistic: ${step.optimistic}` : ''}`);
    for (const r of step.requests) log(`     ${describe(r)}`);
    const calls = step.requests.filter((r) => r.fn);
    if (calls.length) {
      const refetched = fetched(step.requests);
      const others = ['global', 'todos', 'shared'].filter((c) => !refetched.includes(c));
      log(`   → refetched only ${refetched.join(', ') || 'nothing'}; not ${others.join(', ')}`);
    }
    if (step.requestsWhileAliceAdded) {
      log(`   (while alice added, bob's page made ${step.requestsWhileAliceAdded.length} requests: nothing is pushed;`);
      log(`    his shared list still showed: ${step.sharedBefore.join(', ')})`);
    }
  });
  log('\nWhat each user saw at the end:');
  for (const [name, saw] of Object.entries(report.saw)) {
    log(`  ${pad(name, 6)} signed in as ${saw.me}`);
    log(`         own list:    ${list(saw.mine)}`);
    log(`         shared list: ${list(saw.shared)}`);
  }
  log('\nEach client cache (window.mizan.dehydrate() in the page):');
  for (const [name, cache] of Object.entries(report.caches)) {
    const parts = cache.instances.map((i) => `${i.context} ${JSON.stringify(i.data)}`);
    log(`  ${name}:`);
    for (const p of parts) log(`    ${p}`);
  }
  if (Object.keys(report.screenshots).length) {
    log('\nScreenshots:');
    for (const [name, path] of Object.entries(report.screenshots)) log(`  ${name}: ${path}`);
  }
}
