import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SDK_DIR = fileURLToPath(new URL('../../sdk/', import.meta.url));

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Builds sdk/dist (the package as it is published: tsc's ESM + .d.ts) when it is missing or older
 * than a file of sdk/src, sdk/package.json or sdk/tsconfig.json. The SDK tests import the build.
 */
export function ensureSdkBuilt(): void {
  const built = join(SDK_DIR, 'dist', 'index.js');
  if (existsSync(built)) {
    const sources = Math.max(
      newestMtime(join(SDK_DIR, 'src')),
      statSync(join(SDK_DIR, 'package.json')).mtimeMs,
      statSync(join(SDK_DIR, 'tsconfig.json')).mtimeMs,
    );
    if (statSync(built).mtimeMs >= sources) return;
  }
  execFileSync(process.execPath, [join(SDK_DIR, 'build.mjs')], { stdio: 'inherit' });
}
