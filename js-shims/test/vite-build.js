// Build one of the tiny framework apps in test/apps/ with Vite, the way a consumer would: in a
// throw-away project whose node_modules links this package by name (see consumerDir).
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { consumerDir, pkgDir } from './helpers.js';

export async function buildApp(name, { src = join(pkgDir, 'test', 'apps', name), minify = true, logLevel = 'warn', pkg = pkgDir } = {}) {
  const proj = await consumerDir(`mizan-${name}-`, pkg);
  try {
    await cp(src, proj.dir, { recursive: true });
    const { build } = await import('vite');
    const plugins = [];
    if (name.startsWith('svelte')) plugins.push((await import('@sveltejs/vite-plugin-svelte')).svelte());
    const outDir = join(proj.dir, 'dist');
    await build({
      root: proj.dir,
      configFile: false,
      logLevel,
      plugins,
      define: { __VUE_OPTIONS_API__: 'true', __VUE_PROD_DEVTOOLS__: 'false', __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false' },
      build: { outDir, emptyOutDir: true, minify, reportCompressedSize: false },
    });
    return { dist: outDir, remove: proj.remove };
  } catch (e) {
    await proj.remove();
    throw e;
  }
}
