#!/usr/bin/env node
// `npx mizan-generate [--config mizan.toml] [--check]`: typed clients from the Mizan IR.
//
// Every decision — reading mizan.toml, the source command, the generated text, which files are
// stale — is the code generator's (the `mizan-codegen` Rust crate compiled to a WebAssembly
// component, dist/codegen.*; no per-platform binary). This file only runs the source command
// and reads and writes files, exactly as `mizan generate` does natively, so both write the same
// bytes. Exit status: 0 done (or up to date), 1 stale files under --check, 2 an error.
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { generator } from '../dist/codegen.js';

const USAGE = `usage: mizan-generate [--config mizan.toml] [--check]

Generates typed clients from the Mizan IR as mizan.toml says (targets stage1, react, vue,
svelte, python, rust; see docs/CODEGEN.md). --check writes nothing and exits 1 when a
generated file is missing or stale, listing them.`;

class Failure extends Error {}

/** A component error (`{code, message, details}`) as one message, with every graph problem. */
function explain(e) {
  const err = e?.payload ?? e;
  if (!err || typeof err.code !== 'string') return e instanceof Error ? e.message : String(e);
  let text = `${err.code}: ${err.message}`;
  const problems = err.details ? JSON.parse(err.details).problems : undefined;
  for (const p of (problems ?? []).slice(1)) text += `\n  also: ${p}`;
  return text;
}

function parseArgs(argv) {
  const opts = { config: 'mizan.toml', check: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') opts.check = true;
    else if (a === '--config') opts.config = argv[++i] ?? '';
    else if (a.startsWith('--config=')) opts.config = a.slice('--config='.length);
    else if (a === '-h' || a === '--help') opts.help = true;
    else throw new Failure(`unknown argument ${a}\n${USAGE}`);
  }
  if (!opts.config) throw new Failure(`--config needs a file\n${USAGE}`);
  return opts;
}

/** The IR text from the configured source; paths relative to mizan.toml's directory. */
async function readIr(project, base) {
  const source = project.source();
  if (source.tag === 'path') {
    const path = resolve(base, source.val);
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      throw new Failure(`${path}: ${e.message}`);
    }
  }
  const { program, args, cwd, env } = source.val;
  const what = project.describeSource();
  const run = spawnSync(program, args, {
    cwd: resolve(base, cwd),
    env: { ...process.env, ...Object.fromEntries(env) },
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 256 * 1024 * 1024,
  });
  if (run.error) throw new Failure(`cannot run ${what}: ${run.error.message}`);
  if (run.status !== 0) throw new Failure(`${what} failed (${run.signal ? `signal ${run.signal}` : `exit status: ${run.status}`})`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(run.stdout);
  } catch {
    throw new Failure(`${what} printed text that is not UTF-8`);
  }
}

async function main(argv) {
  const opts = parseArgs(argv);
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  let toml;
  try {
    toml = await readFile(opts.config, 'utf8');
  } catch (e) {
    throw new Failure(`${opts.config}: ${e.message}`);
  }
  let project;
  try {
    project = generator.Project.parse(toml);
  } catch (e) {
    throw new Failure(`${opts.config}: ${explain(e)}`);
  }
  const base = dirname(resolve(opts.config));
  const ir = await readIr(project, base);
  let files;
  try {
    files = project.generate(ir);
  } catch (e) {
    throw new Failure(`IR from ${project.describeSource()}: ${explain(e)}`);
  }
  const existing = [];
  for (const path of project.candidates()) {
    try {
      existing.push({ path, contents: await readFile(resolve(base, path), 'utf8') });
    } catch {
      // not there: nothing to compare
    }
  }
  const stale = generator.reconcile(files, existing).filter((c) => c.kind !== 'unchanged');
  if (opts.check) {
    if (stale.length === 0) {
      console.log(`${files.length} generated files are up to date`);
      return 0;
    }
    for (const c of stale) console.log(`stale: ${c.path} (would ${c.kind})`);
    console.error(`${stale.length} of ${files.length} generated files are stale: run \`mizan-generate --config ${opts.config}\``);
    return 1;
  }
  for (const c of stale) {
    const path = resolve(base, c.path);
    if (c.kind === 'delete') {
      await rm(path);
    } else {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, files.find((f) => f.path === c.path).contents);
    }
    console.log(`${c.kind}: ${c.path}`);
  }
  console.log(`${files.length} generated files, ${stale.length} changed`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`error: ${e instanceof Failure ? e.message : e?.stack ?? e}`);
    process.exit(2);
  },
);
