// Builds the dashboard when dist/dashboard is missing or older than its sources.
// `node web/dashboard/build.mjs` (build if needed) or `node web/dashboard/build.mjs --force`.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const built = fileURLToPath(new URL('../../dist/dashboard/index.html', import.meta.url));

function newest(dir) {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export async function buildDashboard({ force = false } = {}) {
  const sources = Math.max(newest(join(here, 'src')), statSync(join(here, 'index.html')).mtimeMs, statSync(join(here, 'vite.config.ts')).mtimeMs);
  if (!force && existsSync(built) && statSync(built).mtimeMs >= sources) return false;
  const { build } = await import('vite');
  await build({ configFile: join(here, 'vite.config.ts') });
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  const did = await buildDashboard({ force: process.argv.includes('--force') });
  process.stdout.write(did ? `Dashboard built into dist/dashboard in ${Date.now() - started} ms.\n` : 'Dashboard is up to date.\n');
}
