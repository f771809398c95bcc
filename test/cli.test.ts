import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

  it('issue 13: init writes a catalog that pushes as is; push --dry-run shows the diff and changes nothing; projects and keys list, keys revoke; --json', async () => {
    const pid = `cli2-${Date.now().toString(36)}`;
    const created = JSON.parse((await cli('projects', 'create', 'Tiers Co', '--id', pid, '--json')).stdout);
    expect(created.project).toEqual({ id: pid, name: 'Tiers Co' });
    expect(created.secret_key).toMatch(/^sk_test_/);
    expect(created.publishable_key).toMatch(/^pk_test_/);

    const file = join(dir, 'tiers.catalog.json');
    expect((await cli('init', '--template', 'tiers', '--out', file)).stdout).toContain(`Wrote the tiers catalog template to ${file}.`);
    expect(readFileSync(file, 'utf8')).toContain('"//"');
    const version = async () => (JSON.parse((await cli('projects', 'list', '--json')).stdout).projects as { id: string; catalog_version: number }[]).find((p) => p.id === pid)?.catalog_version;
    expect(await version()).toBe(0);

    const dry = await cli('push', file, '--project', pid, '--dry-run');
    expect(dry.stdout).toContain('3 features, 3 plans, 0 credit packs, 0 products (dry run, nothing pushed).');
    expect(dry.stdout).toContain(`Changes against ${pid}'s catalog version 0:`);
    for (const line of ['+ feature api_calls', '+ plan free', '+ plan pro', '+ plan team', '~ free_plan: (none) → "free"']) expect(dry.stdout).toContain(line);
    expect(await version()).toBe(0);

    expect((await cli('push', file, '--project', pid)).stdout).toContain(`Pushed catalog version 1 to ${pid}.`);
    expect(await version()).toBe(1);

    // Raise Pro's price and drop Team: the dry run names exactly that, as text and JSON, and pushes nothing.
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    doc.plans = doc.plans.filter((p: { id: string }) => p.id !== 'team');
    doc.plans[1].price.amount = 2900;
    writeFileSync(file, JSON.stringify(doc));
    const dry2 = await cli('push', file, '--project', pid, '--dry-run');
    expect(dry2.stdout.split('\n').slice(1)).toEqual([`Changes against ${pid}'s catalog version 1:`, '  ~ plan pro', '      price: 1900 EUR → 2900 EUR', '  - plan team', `To push exactly these changes (refused if the catalog changes first): tollgate push ${file} --project ${pid} --expect-version 1`, '']);
    const dryJson = JSON.parse((await cli('push', file, '--project', pid, '--dry-run', '--json')).stdout);
    expect(dryJson).toMatchObject({ dry_run: true, project: pid, current_version: 1, counts: { plans: 2 }, stripe: [] });
    expect(dryJson.diff.items).toEqual([
      { section: 'plans', id: 'pro', change: 'changed', fields: [{ field: 'price', before: { amount: 1900, currency: 'eur' }, after: { amount: 2900, currency: 'eur' } }] },
      { section: 'plans', id: 'team', change: 'removed' },
    ]);
    expect(await version()).toBe(1);

    const listed = await cli('projects', 'list');
    expect(listed.stdout).toMatch(new RegExp(`^${pid}\\s+Tiers Co\\s+catalog v1\\s+created \\d{4}-`, 'm'));

    const keys = JSON.parse((await cli('keys', 'list', '--project', pid, '--json')).stdout);
    expect(keys.project).toBe(pid);
    expect(keys.keys).toHaveLength(2);
    const secret = keys.keys.find((k: { kind: string }) => k.kind === 'secret');
    expect(secret).toMatchObject({ scopes: ['full', 'secrets:reveal'], revoked_at: null });
    expect(secret.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(JSON.stringify(keys)).not.toContain(created.secret_key);

    const revoked = await cli('keys', 'revoke', secret.id, '--project', pid);
    expect(revoked.stdout).toMatch(new RegExp(`^Revoked key ${secret.id} \\(secret, `));
    const text = (await cli('keys', 'list', '--project', pid)).stdout;
    expect(text).toMatch(new RegExp(`^${secret.id}\\s+secret\\s+full,secrets:reveal\\s+created \\S+\\s+revoked \\d{4}-`, 'm'));
    expect(text).toMatch(/^\S+\s+publishable\s+\S+\s+created \S+\s+active/m);

    const unknownKey = await cli('keys', 'revoke', 'key_nope', '--project', pid, '--json').catch((e: { stderr: string; code: number }) => e);
    expect((unknownKey as { code: number }).code).toBe(2);
    expect(JSON.parse((unknownKey as { stderr: string }).stderr)).toEqual({ error: { code: 'key_not_found', message: `key 'key_nope' not found in project '${pid}'` } });
    const unknownProject = await cli('keys', 'list', '--project', 'nope', '--json').catch((e: { stderr: string; code: number }) => e);
    expect((unknownProject as { code: number }).code).toBe(2);
    expect(JSON.parse((unknownProject as { stderr: string }).stderr)).toEqual({ error: { code: 'project_not_found', message: "project 'nope' not found" } });
    const unknownFlag = await cli('projects', 'list', '--bogus', '--json').catch((e: { stderr: string; code: number }) => e);
    expect((unknownFlag as { code: number }).code).toBe(1);
    expect(JSON.parse((unknownFlag as { stderr: string }).stderr).error.code).toBe('usage_error');
  }, 240_000);
});
