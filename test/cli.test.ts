import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_ENCRYPTION_KEY } from './support/harness.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-'));
const env = {
  ...process.env,
  TOLLGATE_DATA_DIR: dir,
  TOLLGATE_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
  LOG_LEVEL: 'silent',
};
const cli = (...args: string[]) => run(process.execPath, ['bin/tollgate.js', ...args], { env, timeout: 90_000 });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tollgate CLI', () => {
  const id = `cli-${Date.now().toString(36)}`;
  it('creates a project and prints its keys once, then makes more keys and pushes a catalog file', async () => {
    const created = await cli('projects', 'create', 'CLI Shop', '--id', id);
    expect(created.stdout).toContain(`Project ${id} created.`);
    expect(created.stdout).toMatch(/secret key:\s+sk_test_[A-Za-z0-9]{32}/);
    const again = await cli('projects', 'create', 'CLI Shop', '--id', id).catch((e: { stderr: string; code: number }) => e);
    expect((again as { code: number }).code).toBe(2);
    expect((again as { stderr: string }).stderr).toContain('already exists');

    const nope = await cli('keys', 'create', '--project', 'nope').catch((e: { stderr: string; code: number }) => e);
    expect((nope as { code: number }).code).toBe(2);
    expect((nope as { stderr: string }).stderr.trim()).toBe("project 'nope' not found");

    const key = await cli('keys', 'create', '--project', id, '--scopes', 'read');
    expect(key.stdout.trim()).toMatch(/^sk_test_/);

    const file = join(dir, 'catalog.json');
    writeFileSync(file, JSON.stringify({ credit_packs: [{ id: 'small', name: 'Small', credits: 5, price: { amount: 300, currency: 'eur' } }] }));
    const dry = await cli('push', file, '--project', id, '--dry-run');
    expect(dry.stdout).toContain('1 credit packs');
    expect(dry.stdout).toContain('nothing pushed');
    const pushed = await cli('push', file, '--project', id);
    expect(pushed.stdout).toContain(`Pushed catalog version 1 to ${id}`);

    writeFileSync(file, JSON.stringify({ credit_packs: [{ id: 'small', name: 'Small', credits: -5, price: { amount: 300, currency: 'eur' } }] }));
    const bad = await cli('push', file, '--project', id).catch((e: { stderr: string; code: number }) => e);
    expect((bad as { code: number }).code).toBe(2);
    expect((bad as { stderr: string }).stderr).toContain('credit_packs.0.credits');
  }, 180_000); // each command starts its own process and opens the embedded database (~4 s)
});
