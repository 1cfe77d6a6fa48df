import { fileURLToPath } from 'node:url';
import { defineConfig, searchForWorkspaceRoot } from 'vite';
import react from '@vitejs/plugin-react';
import vue from '@vitejs/plugin-vue';

// `npm run dev` forwards the API to a running backend (port 8000 unless TODO_BACKEND says otherwise).
const backend = process.env.TODO_BACKEND ?? 'http://127.0.0.1:8000';

export default defineConfig(({ mode }) => ({
  plugins: [react(), vue()],
  resolve: {
    // @mizan/kernel-wasm is linked from the repository's js-shims folder (package.json), which has
    // react and vue of its own (for its tests): one copy of each, this project's, in the page.
    // Not needed when the package is installed from its tarball.
    dedupe: ['react', 'react-dom', 'vue'],
  },
  build: {
    // `--mode tauri` (a Tauri app's frontendDist) builds beside the HTTP build, not over it.
    outDir: mode === 'tauri' ? 'dist-tauri' : 'dist',
    rolldownOptions: { input: { react: 'index.html', vue: 'vue.html' } },
  },
  server: {
    proxy: { '/api': backend, '/auth': backend },
    // The linked package's files (its kernel.core.wasm) are outside this project: let the dev
    // server send them.
    fs: { allow: [searchForWorkspaceRoot(process.cwd()), fileURLToPath(new URL('../../../js-shims', import.meta.url))] },
  },
}));
