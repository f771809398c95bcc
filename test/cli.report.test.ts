import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_ENCRYPTION_KEY } from './support/harness.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-report-'));
const { DATABASE_URL: _ignored, ...base } = process.env;
const env = { ...base, TOLLGATE_DATA_DIR: dir, TOLLGATE_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, LOG_LEVEL: 'silent' };
const cli = (...args: string[]) => run(process.execPath, ['bin/tollgate.js', ...args], { env, timeout: 90_000 });
const fails = (...args: string[]) => cli(...args).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tollgate report vat', () => {
  it('prints the quarter of a project, as text or CSV; mistakes are one line and a non-zero exit', async () => {
    const id = `rep-${Date.now().toString(36)}`;
    await cli('projects', 'create', 'Report Shop', '--id', id);
    const text = await cli('report', 'vat', '--project', id, '--quarter', '2026-Q4');
    expect(text.stdout).toBe(`VAT 2026-Q4 for ${id}\n  no invoices in this quarter\n`);
    const csv = await cli('report', 'vat', '--project', id, '--quarter', '2026-Q4', '--csv');
    expect(csv.stdout).toBe('country,treatment,rate,currency,invoices,credit_notes,net,tax,gross\n');

    const badQuarter = await fails('report', 'vat', '--project', id, '--quarter', '2026-4');
    expect(badQuarter.code).toBe(2);
    expect(badQuarter.stderr.trim()).toBe("--quarter must look like 2026-Q4 (got '2026-4')");
    const noProject = await fails('report', 'vat', '--project', 'nope', '--quarter', '2026-Q4');
    expect(noProject.code).toBe(2);
    expect(noProject.stderr.trim()).toBe("project 'nope' not found");
    const usage = await fails('report', 'vat');
    expect(usage.code).toBe(1);
    expect(usage.stderr.trim()).toBe('usage: tollgate report vat --project <id> --quarter 2026-Q4 [--csv]');
  }, 180_000);
});
