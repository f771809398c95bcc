import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { invalidateProject, projectsRepository } from '../src/modules/projects/projects.service.ts';
import { createTollgate } from '../src/server.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

async function setLimits(p: TestProject, rate_limit: Record<string, number>) {
  await projectsRepository.updateProjectSettings(h.db, p.id, { settings: { rate_limit } });
  await invalidateProject(h.tg.ctx, p.id);
}
const keyCount = async (p: TestProject) =>
  (
    await h.db.query<{ count: number }>(
      "SELECT c.count FROM rate_limit_counters c JOIN api_keys k ON c.bucket = 'k:' || k.id WHERE k.project_id = $1 AND k.kind = 'secret'",
      [p.id],
    )
  ).rows.map((r) => Number(r.count));

describe('rate limits counted locally up to the slack', () => {
  it('requests within a tenth of the limit cost no store write; past it, the count is written in one batch', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.ava!.catalog });
    await setLimits(p, { per_key_per_second: 200 });
    h.clock.advance(1000);
    // slack = 20: twenty requests are admitted and nothing is written.
    for (let i = 0; i < 20; i++) expect((await p.call('GET', '/v1/catalog')).status).toBe(200);
    expect(await keyCount(p)).toEqual([]);
    // The 21st asks the store: the whole local count (21) is written at once.
    expect((await p.call('GET', '/v1/catalog')).status).toBe(200);
    expect(await keyCount(p)).toEqual([21]);
    // The limit still holds exactly on one instance.
    let ok = 21;
    for (let i = 0; i < 200; i++) if ((await p.call('GET', '/v1/catalog')).status === 200) ok++;
    expect(ok).toBe(200);
  });

  it('three instances together stay within the limit plus the slack of each', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.ava!.catalog });
    await setLimits(p, { per_key_per_second: 100 });
    const others = [await createTollgate({ config: h.config, db: h.db, clock: h.clock, runner: false }), await createTollgate({ config: h.config, db: h.db, clock: h.clock, runner: false })];
    try {
      h.clock.advance(1000);
      const calls = [
        () => p.call('GET', '/v1/catalog').then((r) => r.status),
        ...others.map((tg) => () => tg.app.inject({ method: 'GET', url: '/v1/catalog', headers: { authorization: `Bearer ${p.key}` } }).then((r) => r.statusCode)),
      ];
      let ok = 0;
      for (let i = 0; i < 100; i++) for (const call of calls) if ((await call()) === 200) ok++;
      expect(ok).toBeGreaterThanOrEqual(100);
      expect(ok).toBeLessThanOrEqual(100 + 3 * 10);
    } finally {
      for (const tg of others) await tg.close();
    }
  });
});
