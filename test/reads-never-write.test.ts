import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

describe('reads never write', () => {
  it('GET of an unknown customer id is 404 customer_not_found and creates nothing', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    for (const path of [
      '/v1/customers/user_42/credits',
      '/v1/customers/user_42/credits/transactions',
      '/v1/customers/user_42/subscription',
      '/v1/customers/user_42/cart',
      '/v1/customers/user_42/api-keys',
      '/v1/customers/user_42/export',
    ]) {
      const r = await p.call('GET', path);
      expect(r.status, path).toBe(404);
      expect(r.body.error.code, path).toBe('customer_not_found');
    }
    const rows = await h.db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM customers WHERE project_id = $1', [p.id]);
    expect(Number(rows.rows[0]?.n)).toBe(0);
  });

  it('another project cannot read or create a customer by id', async () => {
    const a = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const b = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    expect((await a.call('POST', '/v1/customers', { id: 'user_42' })).status).toBe(201);
    const r = await b.call('GET', '/v1/customers/user_42/credits');
    expect(r.status).toBe(404);
    const rows = await h.db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM customers WHERE project_id = $1', [b.id]);
    expect(Number(rows.rows[0]?.n)).toBe(0);
  });
});
