import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { runDueJobs } from '../src/jobs/runner.ts';
import { addClockOffset } from '../src/modules/projects/projects.repository.ts';
import { invalidateProject } from '../src/modules/projects/projects.service.ts';
import { advanceDueSubscriptions } from '../src/modules/subscriptions/subscriptions.renewal.ts';
import { NEEDS_PG, onPostgres } from './support/engine.ts';
import { createHarness, type Harness } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const catalog: CatalogInput = {
  plans: [{ id: 'basic', name: 'Basic', price: { amount: 1000, currency: 'eur' }, included_credits: 10 }],
};

describe.skipIf(!onPostgres)(`issue 17 item 3: runners racing (${NEEDS_PG})`, () => {
  it('two runners advancing the same subscriptions at once apply each renewal exactly once', async () => {
    const p = await h.project({ catalog });
    const customers = Array.from({ length: 12 }, (_, i) => `r${i}`);
    for (const c of customers) {
      const cs = await p.call('POST', '/v1/checkout', { customer_id: c, plan: 'basic', success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' });
      await p.call('POST', `/v1/test_helpers/checkout/${cs.body.session_id}/pay`, { card: '4242424242424242' });
    }
    // 95 days: three renewals each (day 31, 59, 90 from 1 March), claimed by runners competing row by row.
    await addClockOffset(h.db, p.id, 95 * 86_400_000);
    await invalidateProject(h.tg.ctx, p.id);
    const loop = async () => {
      let total = 0;
      for (;;) {
        const n = await advanceDueSubscriptions(h.tg.ctx, 2);
        if (n === 0) return total;
        total += n;
      }
    };
    const [a, b] = await Promise.all([loop(), loop(), runDueJobs(h.tg.ctx), runDueJobs(h.tg.ctx)]);
    const steps = (a ?? 0) + (b ?? 0);
    expect(steps).toBeLessThanOrEqual(customers.length * 3);
    const pays = await h.db.query<{ customer_id: string; n: number; periods: number }>(
      `SELECT customer_id, count(*)::int AS n, count(DISTINCT period_start)::int AS periods FROM payments
       WHERE project_id = $1 AND status = 'succeeded' GROUP BY customer_id ORDER BY customer_id`,
      [p.id],
    );
    expect(pays.rows).toHaveLength(customers.length);
    for (const r of pays.rows) expect(r).toMatchObject({ n: 4, periods: 4 });
    const credits = await h.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ledger_entries WHERE project_id = $1 AND kind = 'subscription_credits'`,
      [p.id],
    );
    expect(credits.rows[0]?.n).toBe(customers.length * 4);
    const subs = await h.db.query<{ period_index: number; cycles_billed: number }>(
      'SELECT period_index, cycles_billed FROM subscriptions WHERE project_id = $1',
      [p.id],
    );
    for (const s of subs.rows) expect(s).toEqual({ period_index: 3, cycles_billed: 4 });
  });
});
