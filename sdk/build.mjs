/**
 * Builds the package into dist/: ESM + .d.ts with tsc, plus the generated schema types
 * (a .d.ts source file, which tsc does not copy). Run by `npm run build` and before `npm pack`.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(here('./dist'), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', here('./tsconfig.json')], { stdio: 'inherit' });
copyFileSync(here('./src/schema.d.ts'), here('./dist/schema.d.ts'));
