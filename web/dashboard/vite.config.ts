import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

// React through esbuild's automatic JSX runtime (no plugin needed for a production build).
export default defineConfig({
  root: here,
  base: '/dashboard/',
  esbuild: { jsx: 'automatic' },
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../../dist/dashboard/', import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1000,
  },
});
