// What test/browser.test.js runs inside headless Chromium (loaded by test/browser.html).
import * as api from '../src/index.js';
import { run } from './conformance-runner.js';
import { loadClientComponent } from '../src/kernel/client.js';
import { makeWitnesses, memoryTrap, sameAnswers, stackTrap } from './trap-scenarios.js';

function median(fn, n = 20000) {
  for (let i = 0; i < 2000; i++) fn();
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) fn();
    rounds.push(((performance.now() - t) * 1e6) / n);
  }
  return rounds.sort((a, b) => a - b)[2];
}

export async function main({ scenariosUrl, memoryTrapElements }) {
  const doc = await (await fetch(scenariosUrl)).json();
  const conformance = run(doc);
  const sessionScenarios = { registries: {}, scenarios: doc.scenarios.filter((s) => s.op === 'client-session-script') };
  const clientComponent = run(sessionScenarios, await loadClientComponent());

  let err;
  try {
    api.parseInvalidateHeader('a;k=%zz');
  } catch (e) {
    err = e;
  }
  const errorShape = {
    isError: err instanceof Error,
    isKernelError: err instanceof api.MizanKernelError,
    name: err?.name,
    code: err?.code,
    details: err?.details,
    message: err?.message,
  };

  const w = makeWitnesses();
  let gen = api.instanceGeneration();
  const mem = memoryTrap(memoryTrapElements);
  const memory = {
    code: mem?.code ?? null,
    cause: mem?.cause?.constructor?.name ?? null,
    message: mem?.message ?? null,
    newInstances: api.instanceGeneration() - gen,
    sameAnswers: sameAnswers(w),
    nextCall: api.stringify('1'),
  };
  gen = api.instanceGeneration();
  const st = stackTrap();
  const stack = {
    traps: st.trap,
    cause: st.sample?.cause?.constructor?.name ?? null,
    newInstances: api.instanceGeneration() - gen,
    sameAnswers: sameAnswers(w),
  };

  const params = { user_id: '5' };
  const timing = {
    stringifyNs: median(() => api.stringify('1')),
    deriveCacheKeyNs: median(() => api.deriveCacheKey('test-pin-secret-that-is-32bytes!', 'user', params)),
  };
  return { conformance, clientComponent, errorShape, memory, stack, timing, userAgent: navigator.userAgent };
}
