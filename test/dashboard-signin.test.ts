import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOperator, SIGN_IN_LIMITS } from '../src/modules/dashboard/operators.service.ts';
import { createHarness, type Harness } from './support/harness.ts';

const PASSWORD = 'correct horse battery staple';
let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await createOperator(h.tg.ctx, { email: 'ops@example.com', password: PASSWORD });
  await createOperator(h.tg.ctx, { email: 'other@example.com', password: PASSWORD });
});
afterAll(async () => h?.close());

const login = (email: string, password: string, ip: string) =>
  h.inject({ method: 'POST', url: '/dashboard/api/login', payload: { email, password }, remoteAddress: ip });

describe('issue 11 item 17: dashboard sign-in is throttled', () => {
  it('per account: after 5 failures even the right password gets 429 with Retry-After, until the window ends', async () => {
    for (let i = 0; i < SIGN_IN_LIMITS.perAccount; i++) {
      // From a different address each time: the account limit holds across addresses.
      expect((await login('ops@example.com', 'wrong password', `10.0.1.${i}`)).status).toBe(401);
    }
    const blocked = await login('OPS@example.com', PASSWORD, '10.0.1.99');
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('rate_limited');
    expect(blocked.body.error.message).toMatch(/^Too many failed sign-ins for this account; try again in \d+ s$/);
    const retry = Number(blocked.headers['retry-after']);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(15 * 60);
    // Another account from the same address is not affected.
    expect((await login('other@example.com', PASSWORD, '10.0.1.99')).status).toBe(200);
    // The count lives in PostgreSQL, not in this process.
    const rows = await h.db.query<{ count: number }>("SELECT count FROM rate_limit_counters WHERE bucket = 'signin:account:ops@example.com'");
    expect(Number(rows.rows[0]?.count)).toBe(SIGN_IN_LIMITS.perAccount);
    h.clock.advance(retry * 1000);
    expect((await login('ops@example.com', PASSWORD, '10.0.1.99')).status).toBe(200);
  });

  it('per address: 20 failures from one address on any e-mails get 429 for every account from it', async () => {
    for (let i = 0; i < SIGN_IN_LIMITS.perAddress; i++) {
      expect((await login(`guess${i}@example.com`, 'wrong password', '10.0.2.1')).status).toBe(401);
    }
    const blocked = await login('other@example.com', PASSWORD, '10.0.2.1');
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.message).toContain('for this address');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await login('other@example.com', PASSWORD, '10.0.2.2')).status).toBe(200);
  });
});
