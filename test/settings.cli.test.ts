import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorMessage, exitCode, main } from '../src/cli.ts';
import { TEST_ENCRYPTION_KEY } from './support/harness.ts';

// In-process: the commands run against a fresh embedded database (or DATABASE_URL when set).
const dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-settings-'));
const saved = { ...process.env };
const project = `settings-${Date.now().toString(36)}`;

async function cli(...argv: string[]): Promise<string> {
  const out: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await main(argv);
    expect(code).toBe(0);
  } finally {
    process.stdout.write = write;
  }
  return out.join('');
}

async function fails(...argv: string[]): Promise<{ code: number; message: string }> {
  try {
    await cli(...argv);
  } catch (err) {
    return { code: exitCode(err), message: errorMessage(err) };
  }
  throw new Error(`expected ${argv.join(' ')} to fail`);
}

beforeAll(async () => {
  Object.assign(process.env, { TOLLGATE_DATA_DIR: dir, TOLLGATE_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, LOG_LEVEL: 'silent' });
  await cli('projects', 'create', 'Settings Co', '--id', project, '--json');
}, 120_000);
afterAll(() => {
  process.env = saved;
  rmSync(dir, { recursive: true, force: true });
});

describe('tollgate settings', () => {
  it('shows the defaults, sets rate limits, branding, locale and origins, and resets them', async () => {
    const shown = JSON.parse(await cli('settings', 'show', '--project', project, '--json'));
    expect(shown.rate_limit.per_key_per_second).toBeNull();
    expect(shown.branding).toEqual({ name: null, primary_color: null, logo_url: null });

    const set = JSON.parse(
      await cli(
        'settings', 'set', '--project', project, '--json',
        '--rate-limit-per-key', '20', '--rate-limit-per-customer', '0',
        '--brand-name', 'Settings Co', '--brand-color', '#112233', '--logo-url', 'https://cdn.example.com/l.png',
        '--locale', 'de-DE', '--cors-origins', 'https://a.example.com,https://b.example.com',
      ),
    );
    expect(set).toMatchObject({
      project,
      rate_limit: { per_key_per_second: 20, per_customer_per_second: 0 },
      branding: { name: 'Settings Co', primary_color: '#112233', logo_url: 'https://cdn.example.com/l.png' },
      locale: 'de-DE',
      cors_origins: ['https://a.example.com', 'https://b.example.com'],
    });
    const text = await cli('settings', 'show', '--project', project);
    expect(text).toContain('rate limit per key       20/s');
    expect(text).toContain('rate limit per customer  unlimited');
    expect(text).toContain('locale                   de-DE');

    const reset = JSON.parse(await cli('settings', 'set', '--project', project, '--json', '--rate-limit-per-key', 'default', '--locale', 'default', '--cors-origins', 'none'));
    expect(reset.rate_limit).toMatchObject({ per_key_per_second: null, per_customer_per_second: 0 });
    expect(reset.locale).toBeNull();
    expect(reset.cors_origins).toEqual([]);
    expect(reset.branding.name).toBe('Settings Co');
  }, 60_000);

  it('says what is wrong in one line, with the flag, and a non-zero exit', async () => {
    expect(await fails('settings', 'set', '--project', project, '--rate-limit-per-key', 'fast')).toEqual({
      code: 2,
      message: `--rate-limit-per-key must be a whole number of requests per second (0 = unlimited) or "default" (got 'fast')`,
    });
    expect(await fails('settings', 'set', '--project', project, '--brand-color', 'red')).toEqual({ code: 2, message: '--brand-color must be a color such as "#4f46e5"' });
    expect(await fails('settings', 'set', '--project', project, '--cors-origins', 'https://a.example.com/path')).toMatchObject({ code: 2 });
    expect((await fails('settings', 'set', '--project', project)).code).toBe(1);
    expect((await fails('settings', 'set', '--project', project, '--bogus', 'x')).message).toContain("Unknown option '--bogus'");
    expect(await fails('settings', 'show', '--project', 'no-such-project')).toEqual({ code: 2, message: "project 'no-such-project' not found" });
    const after = JSON.parse(await cli('settings', 'show', '--project', project, '--json'));
    expect(after.branding.primary_color).toBe('#112233');
  }, 60_000);

  it('keys list shows when each key was last used', async () => {
    const listed = JSON.parse(await cli('keys', 'list', '--project', project, '--json'));
    expect(listed.keys.length).toBeGreaterThan(0);
    for (const k of listed.keys) expect(k).toHaveProperty('last_used_at', null);
    const text = await cli('keys', 'list', '--project', project);
    expect(text).toContain('last used never');
  }, 60_000);
});
