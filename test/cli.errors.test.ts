import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorMessage, exitCode, main } from '../src/cli.ts';

// In-process: main(argv) throws what the entry point turns into a message and an exit code.
const dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-err-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
async function fails(...argv: string[]): Promise<{ code: number; message: string }> {
  try {
    await main(argv);
  } catch (err) {
    return { code: exitCode(err), message: errorMessage(err) };
  }
  throw new Error(`expected ${argv.join(' ')} to fail`);
}

describe('tollgate CLI mistakes', () => {
  it('rejects an unknown flag as a usage error (exit 1), naming it', async () => {
    const r = await fails('keys', 'create', '--project', 'x', '--bogus');
    expect(r.code).toBe(1);
    expect(r.message).toContain("Unknown option '--bogus'");
    expect(r.message).not.toContain('    at ');
  });
  it('rejects an unknown scope before touching the database (exit 2)', async () => {
    const r = await fails('keys', 'create', '--project', 'x', '--scopes', 'read,bogus');
    expect(r).toEqual({ code: 2, message: "unknown scope(s) 'bogus'; valid scopes: full, read, secrets:reveal" });
  });
  it('says a catalog file is missing or not JSON (exit 2), without a stack trace', async () => {
    const missing = await fails('push', join(dir, 'nope.json'), '--project', 'x');
    expect(missing.code).toBe(2);
    expect(missing.message).toBe(`cannot read ${join(dir, 'nope.json')}: no such file`);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"credit_packs": [');
    const bad = await fails('push', broken, '--project', 'x');
    expect(bad.code).toBe(2);
    expect(bad.message).toMatch(/broken\.json is not valid JSON: /);
  });
  it('asks for the missing --project (exit 1)', async () => {
    const r = await fails('push', join(dir, 'c.json'));
    expect(r).toEqual({ code: 1, message: 'usage: tollgate push <catalog.json> --project <id> [--dry-run]' });
  });
});
