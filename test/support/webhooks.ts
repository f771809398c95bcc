import { Webhook } from 'standardwebhooks';
import { expect, vi } from 'vitest';
import type { AppContext } from '../../src/app/context.ts';
import { deliverDue, dispatchOutbox } from '../../src/modules/webhooks-out/webhooks.service.ts';
import type { TestProject } from './harness.ts';
import type { Received } from './receiver.ts';

/** The two outgoing-webhook jobs until they are idle (the other jobs would act on other files' rows at this clock). */
export async function drainWebhooks(ctx: AppContext): Promise<void> {
  for (let i = 0; i < 50; i++) if ((await dispatchOutbox(ctx)) + (await deliverDue(ctx)) === 0) return;
}

export async function createEndpoint(p: TestProject, url: string, events: string[] = ['*']): Promise<{ id: string; secret: string }> {
  const r = await p.call('POST', '/v1/webhook-endpoints', { url, events });
  expect(r.status).toBe(201);
  return r.body as { id: string; secret: string };
}

/** Verifies a received delivery with the official Standard Webhooks library, at the server time `at` it was signed at. */
export function verifyOutgoing(at: Date, secret: string, r: Received): Record<string, unknown> {
  vi.useFakeTimers({ toFake: ['Date'] });
  try {
    vi.setSystemTime(at);
    return new Webhook(secret).verify(r.body, {
      'webhook-id': String(r.headers['webhook-id']),
      'webhook-timestamp': String(r.headers['webhook-timestamp']),
      'webhook-signature': String(r.headers['webhook-signature']),
    }) as Record<string, unknown>;
  } finally {
    vi.useRealTimers();
  }
}

export async function listDeliveries(p: TestProject, endpointId: string): Promise<Array<Record<string, any>>> {
  const r = await p.call('GET', `/v1/webhook-endpoints/${endpointId}/deliveries`);
  expect(r.status).toBe(200);
  return r.body.data as Array<Record<string, any>>;
}
