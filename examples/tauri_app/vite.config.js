import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  // @mizan/kernel-wasm is linked from ../../js-shims (file:), whose own node_modules hold a React
  // for its tests: one React for the whole page.
  resolve: { dedupe: ['react', 'react-dom'] },
  // The kernel glue awaits its WebAssembly at the top level; WebKitGTK supports it.
  build: { target: 'es2022' },
  clearScreen: false,
});
