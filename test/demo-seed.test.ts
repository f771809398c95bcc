import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { seedDemo } from '../src/demo/seed.ts';
import { ConflictError } from '../src/domain/errors.ts';
import { createProject } from '../src/modules/projects/projects.service.ts';
import { createHarness, type Harness } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

async function keyCount(project: string): Promise<number> {
  const r = await h.db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM api_keys WHERE project_id = $1', [project]);
  return Number(r.rows[0]?.n);
}

describe('issue 11 item 14: no hidden keys', () => {
  it('creating an existing project is a conflict and mints no key', async () => {
    const p = await h.project();
    const before = await keyCount(p.id);
    await expect(createProject(h.tg.ctx, { id: p.id, name: 'Again' })).rejects.toBeInstanceOf(ConflictError);
    expect(await keyCount(p.id)).toBe(before);
  });

  it('restarts without TOLLGATE_DEMO_KEY add no demo keys; every key made is shown once', async () => {
    h.tg.ctx.config.demoKey = undefined;
    const first = await seedDemo(h.tg.ctx);
    expect(first.map((d) => d.project)).toEqual(Object.keys(DEMO_CATALOGS));
    const counts: number[] = [];
    for (const d of first) {
      expect(d.secretKey).toMatch(/^sk_test_/);
      expect(d.publishableKey).toMatch(/^pk_test_/);
      // The two keys shown are all the keys there are.
      counts.push(await keyCount(d.project));
      expect(counts.at(-1)).toBe(2);
      const r = await h.inject({ method: 'GET', url: '/v1/project', headers: { authorization: `Bearer ${d.secretKey}` } });
      expect(r.status).toBe(200);
    }
    for (let restart = 0; restart < 2; restart++) {
      const again = await seedDemo(h.tg.ctx);
      for (const [i, d] of again.entries()) {
        expect(d).toMatchObject({ secretKey: null, publishableKey: null });
        expect(await keyCount(d.project)).toBe(counts[i]);
      }
    }
  });

  it('with TOLLGATE_DEMO_KEY the fixed keys stay valid across restarts and add no rows', async () => {
    const h2 = await createHarness({ config: { demoKey: 'sk_test_demo' } });
    try {
      const first = await seedDemo(h2.tg.ctx);
      const counts = await Promise.all(first.map(async (d) => {
        const r = await h2.db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM api_keys WHERE project_id = $1', [d.project]);
        return Number(r.rows[0]?.n);
      }));
      for (let restart = 0; restart < 2; restart++) {
        const again = await seedDemo(h2.tg.ctx);
        for (const [i, d] of again.entries()) {
          expect(d.secretKey).toBe(`sk_test_demo_${d.project}`);
          const r = await h2.db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM api_keys WHERE project_id = $1', [d.project]);
          expect(Number(r.rows[0]?.n)).toBe(counts[i]);
        }
      }
      const ok = await h2.inject({ method: 'GET', url: '/v1/project', headers: { authorization: 'Bearer sk_test_demo_aurisvoice' } });
      expect(ok.status).toBe(200);
    } finally {
      await h2.close();
    }
  });
});
