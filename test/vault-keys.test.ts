import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli.ts';
import { ManualClock } from '../src/clock.ts';
import { type Config, ConfigError, loadConfig, parseEncryptionKeys } from '../src/config.ts';
import { type Db, openDb } from '../src/db/db.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { pushCatalog } from '../src/modules/catalog/catalog.service.ts';
import { createProject } from '../src/modules/projects/projects.service.ts';
import { rotateSecrets } from '../src/modules/vault/vault.service.ts';
import { createTollgate } from '../src/server.ts';
import { TEST_ENCRYPTION_KEY, testConfig } from './support/harness.ts';

// Key changes are tested on a database of their own (always an in-memory PGlite): a database
// encrypted under other keys would rightly refuse to start every other test file.
const K1 = TEST_ENCRYPTION_KEY;
const K1_WRONG = `k1:${Buffer.alloc(32, 9).toString('base64')}`;
const K2 = `k2:${Buffer.alloc(32, 3).toString('base64')}`;
const withKeys = (value: string): Config => ({ ...testConfig(), databaseUrl: undefined, encryptionKeys: parseEncryptionKeys(value) });

let db: Db;
const clock = new ManualClock('2026-03-01T10:00:00Z');
beforeAll(async () => {
  db = await openDb({ dataDir: 'memory://' });
});
afterAll(async () => db?.close());

async function start(keys: string) {
  return createTollgate({ config: withKeys(keys), db, clock, runner: false });
}

async function reveal(tg: Awaited<ReturnType<typeof start>>, key: string, customer: string, name = 'vapi_api_key') {
  const r = await tg.app.inject({ method: 'POST', url: `/v1/customers/${customer}/secrets/${name}/reveal`, headers: { authorization: `Bearer ${key}` } });
  return JSON.parse(r.body).value as string | undefined;
}

describe('encryption keys', () => {
  it('a wrong or missing key is a clear start-up error; the newest key encrypts, all decrypt, and rotation is resumable', async () => {
    // First start: a canary is written under k1, then five secrets and provider-less settings.
    const first = await start(K1);
    const { secretKey } = await createProject(first.ctx, { id: 'keys-test', name: 'Keys' });
    await pushCatalog(first.ctx, 'keys-test', DEMO_CATALOGS.ava!.catalog);
    const key = secretKey.key;
    for (let i = 0; i < 5; i++) {
      const r = await first.app.inject({
        method: 'PUT',
        url: `/v1/customers/c${i}/secrets/vapi_api_key`,
        headers: { authorization: `Bearer ${key}` },
        payload: { value: `sk-rotate-${i}-abcdef` },
      });
      expect(r.statusCode).toBe(200);
    }
    await first.close();

    // The same id with other bytes, and an unrelated key: both refuse to start, naming the problem.
    await expect(start(K1_WRONG)).rejects.toThrow(ConfigError);
    await expect(start(K1_WRONG)).rejects.toThrow(/key 'k1' is not the key this database was encrypted with/);
    await expect(start(K2)).rejects.toThrow(/none of the configured keys \(k2\) can decrypt this database/);
    expect(loadMissingKeyError()).toMatch(/TOLLGATE_ENCRYPTION_KEY is required with DATABASE_URL/);

    // k2 first, k1 after it: new secrets go under k2, old ones still decrypt.
    const both = await start(`${K2},${K1}`);
    const put = await both.app.inject({
      method: 'PUT',
      url: '/v1/customers/c9/secrets/vapi_api_key',
      headers: { authorization: `Bearer ${key}` },
      payload: { value: 'sk-new-under-k2-0' },
    });
    expect(JSON.parse(put.body).key_id).toBe('k2');
    expect(await reveal(both, key, 'c0')).toBe('sk-rotate-0-abcdef');

    // Removing k1 while secrets still use it is refused at start-up.
    await both.close();
    await expect(start(K2)).rejects.toThrow(/encrypted under key\(s\) k1, which are not configured/);
    const again = await start(`${K2},${K1}`);

    // An interrupted rotation (after its first batch of 2) keeps what it did; running it again finishes.
    let batches = 0;
    await expect(
      rotateSecrets(again.ctx, {
        batchSize: 2,
        onProgress: () => {
          batches++;
          throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    expect(batches).toBe(1);
    const mid = await db.query<{ key_id: string; n: number }>('SELECT key_id, count(*)::int AS n FROM vault_secrets GROUP BY key_id ORDER BY key_id');
    expect(mid.rows).toEqual([
      { key_id: 'k1', n: 3 },
      { key_id: 'k2', n: 3 },
    ]);
    const progress: number[] = [];
    let total = -1;
    const r = await rotateSecrets(again.ctx, { batchSize: 2, onStart: (t) => (total = t), onProgress: (d) => progress.push(d) });
    expect(total).toBe(3);
    expect(r).toMatchObject({ total: 3, rotated: 3, failed: [] });
    expect(progress.at(-1)).toBe(3);
    const after = await db.query<{ key_id: string }>('SELECT DISTINCT key_id FROM vault_secrets');
    expect(after.rows).toEqual([{ key_id: 'k2' }]);
    expect((await rotateSecrets(again.ctx)).total).toBe(0);
    await again.close();

    // Now k1 can go: k2 alone starts and decrypts everything.
    const last = await start(K2);
    for (let i = 0; i < 5; i++) expect(await reveal(last, key, `c${i}`)).toBe(`sk-rotate-${i}-abcdef`);
    expect(await reveal(last, key, 'c9')).toBe('sk-new-under-k2-0');
    await last.close();

    // A database without canaries (written before they existed): a stored secret is the check.
    await db.query('DELETE FROM encryption_canaries');
    await expect(start(`k2:${Buffer.alloc(32, 4).toString('base64')}`)).rejects.toThrow(/cannot decrypt the stored secrets/);
    const restored = await start(K2);
    expect((await db.query('SELECT key_id FROM encryption_canaries')).rows).toEqual([{ key_id: 'k2' }]);
    await restored.close();
  });
});

describe('tollgate vault rotate', () => {
  it('re-encrypts the secrets of an embedded database under the newest key and reports it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-rotate-'));
    const saved = { ...process.env };
    try {
      const seed = await createTollgate({ config: { ...withKeys(K1), dataDir: dir }, clock, runner: false });
      const { secretKey } = await createProject(seed.ctx, { id: 'cli-rotate', name: 'CLI' });
      for (const c of ['a', 'b', 'c']) {
        await seed.app.inject({
          method: 'PUT',
          url: `/v1/customers/${c}/secrets/vapi_api_key`,
          headers: { authorization: `Bearer ${secretKey.key}` },
          payload: { value: `sk-cli-${c}-000000` },
        });
      }
      await seed.close();
      delete process.env.DATABASE_URL;
      Object.assign(process.env, { TOLLGATE_DATA_DIR: dir, TOLLGATE_ENCRYPTION_KEY: `${K2},${K1}`, LOG_LEVEL: 'silent' });
      const out: string[] = [];
      const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
        out.push(String(chunk));
        return true;
      });
      let code: number;
      try {
        code = await main(['vault', 'rotate', '--batch', '2']);
      } finally {
        spy.mockRestore();
      }
      expect(code).toBe(0);
      expect(out.join('')).toContain("Re-encrypted 3 of 3 secret(s) under key 'k2'.");
    } finally {
      process.env = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function loadMissingKeyError(): string {
  try {
    loadConfig({ DATABASE_URL: 'postgres://127.0.0.1/none' } as NodeJS.ProcessEnv);
    return 'no error';
  } catch (err) {
    return (err as Error).message;
  }
}
