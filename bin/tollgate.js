#!/usr/bin/env node
// Runs the TypeScript CLI through tsx so `npx tollgate ...` works from a clone without a build (and from any directory).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
