// Loads the per-feature conformance files (tests/conformance/README.md) for the Node and
// Chromium runners: `tests/conformance/<feature>/scenarios.json`, merged into one document.
// A new feature directory is picked up without touching the runners.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jsonEqual } from './json-equal.js';

export const ROOT = fileURLToPath(new URL('../../tests/conformance', import.meta.url));

const isFile = (p) => existsSync(p) && statSync(p).isFile();

/** `path` itself when it is a file, `path/file` when the directory is one feature, else every `path/<feature>/file`. */
export function featureFiles(path, file = 'scenarios.json') {
  if (isFile(path)) return [path];
  if (isFile(join(path, file))) return [join(path, file)];
  return readdirSync(path)
    .sort()
    .map((name) => join(path, name, file))
    .filter(isFile);
}

/**
 * One `{registries, scenarios}` document from every file `path` stands for. Two features may
 * carry the same registry name only with the same registry; no scenario id may appear twice.
 */
export function loadScenarios(path = process.env.MIZAN_SCENARIOS ?? ROOT) {
  const files = featureFiles(path);
  if (files.length === 0) throw new Error(`no scenarios.json under ${path}`);
  const registries = {};
  const scenarios = [];
  const ids = new Set();
  for (const f of files) {
    const doc = JSON.parse(readFileSync(f, 'utf8'));
    for (const [name, spec] of Object.entries(doc.registries ?? {})) {
      if (name in registries && !jsonEqual(registries[name], spec)) {
        throw new Error(`${f}: registry ${name} differs from another feature's registry of that name`);
      }
      registries[name] = spec;
    }
    for (const s of doc.scenarios) {
      if (ids.has(s.id)) throw new Error(`${f}: scenario id ${s.id} appears twice`);
      ids.add(s.id);
      scenarios.push(s);
    }
  }
  return { registries, scenarios };
}
