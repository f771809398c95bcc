import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { type Receiver, startReceiver } from './support/receiver.ts';

let h: Harness;
let receiver: Receiver;
beforeAll(async () => {
  h = await createHarness({ clock: new ManualClock('2031-03-01T10:00:00Z'), config: { webhookAllowPrivate: true, webhookTimeoutMs: 400 } });
  receiver = await startReceiver();
});
afterAll(async () => {
  await h?.close();
  await receiver?.close();
});

describe('issue 17 item 6: the outgoing dead letter follows the project test clock', () => {
  it('a receiver failing for ~3 days of test clock gets every retry, then the delivery fails, with no real time passing', async () => {
    const p = await h.project();
    receiver.reply('/down', { status: 500, body: 'down' });
    const ep = await p.call('POST', '/v1/webhook-endpoints', { url: receiver.url('/down'), events: ['credits.deducted'] }, { 'idempotency-key': 'ep' });
    expect(ep.status).toBe(201);
    await p.call('POST', '/v1/customers/dl/credits/grant', { amount: 10 }, { 'idempotency-key': 'g' });
    await p.call('POST', '/v1/customers/dl/credits/deduct', { amount: 1 }, { 'idempotency-key': 'd' });
    const realStart = h.clock.now().getTime();
    const state = async () =>
      (
        await h.db.query<{ status: string; attempts: number; next_attempt_at: Date | null }>(
          'SELECT status, attempts, next_attempt_at FROM webhook_deliveries WHERE project_id = $1',
          [p.id],
        )
      ).rows;
    // Each step moves the test clock to the next retry (one second past it) and runs the due jobs.
    const first = await p.call('POST', '/v1/test-helpers/clock/advance', { seconds: 1 }, { 'idempotency-key': 'adv-start' });
    const start = new Date(first.body.now).getTime();
    let now = start;
    for (let i = 0; i < 15 && (await state())[0]?.status === 'pending'; i++) {
      const due = (await state())[0]?.next_attempt_at as Date;
      const to = new Date(Math.max(due.getTime(), now) + 1000).toISOString();
      const r = await p.call('POST', '/v1/test-helpers/clock/advance', { to }, { 'idempotency-key': `adv-${i}` });
      expect(r.status).toBe(200);
      now = new Date(r.body.now).getTime();
    }
    // The schedule spans 75.6 h (plus up to 10 % jitter per retry), on the project clock.
    const hours = (now - start) / 3_600_000;
    expect(hours).toBeGreaterThan(75);
    expect(hours).toBeLessThan(84);
    expect((await state()).map(({ status, attempts }) => ({ status, attempts }))).toEqual([{ status: 'failed', attempts: 10 }]);
    expect(h.clock.now().getTime()).toBe(realStart);
    expect(receiver.received('/down')).toHaveLength(10);
    const ids = new Set(receiver.received('/down').map((r) => r.headers['webhook-id']));
    expect(ids.size).toBe(1);
  });
});
