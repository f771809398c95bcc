import type { AppContext } from '../../app/context.ts';
import * as paymentsRepo from './payments.repository.ts';
import type { ProviderEventHandler } from '../../app/registry.ts';
import { projectNow } from '../projects/projects.service.ts';
import { recordProviderEvent } from '../webhooks-in/inbox.service.ts';
import { errorBody, paypalApi, paypalError, rawJson } from '../../providers/paypal/paypal.client.ts';
import { captureOf } from '../../providers/paypal/paypal.provider.ts';
import { providerCall } from '../providers/provider-call.ts';

type Json = Record<string, any>;

/**
 * Captures the approved PayPal order behind a session. Every path (the buyer's return, the
 * CHECKOUT.ORDER.APPROVED webhook) sends the same PayPal-Request-Id, so PayPal captures once and
 * replays its answer; an order already captured is read back instead.
 */
export async function capturePaypalOrder(ctx: AppContext, session: paymentsRepo.CheckoutSessionRow): Promise<Json> {
  if (!session.provider_ref) throw new Error(`session ${session.id} has no PayPal order`);
  const api = paypalApi(await providerCall(ctx, session.project_id, 'paypal'));
  try {
    return rawJson(
      await api.orders.captureOrder({ id: session.provider_ref, paypalRequestId: `tollgate-capture-${session.id}`, prefer: 'return=representation' }),
    );
  } catch (err) {
    if (errorBody(err)?.details?.[0]?.issue === 'ORDER_ALREADY_CAPTURED') {
      return rawJson(await api.orders.getOrder({ id: session.provider_ref }));
    }
    throw paypalError(err, 'capturing the PayPal order');
  }
}

const EVENT_OF_STATUS: Record<string, string> = {
  COMPLETED: 'PAYMENT.CAPTURE.COMPLETED',
  PENDING: 'PAYMENT.CAPTURE.PENDING',
  DECLINED: 'PAYMENT.CAPTURE.DENIED',
  FAILED: 'PAYMENT.CAPTURE.DENIED',
};

export type ReturnOutcome =
  | { redirect: string }
  | { error: string; status: number; back: string | null };

/**
 * The buyer is back from PayPal: capture, then complete the checkout through the inbox like a
 * webhook would (a later PAYMENT.CAPTURE.COMPLETED finds the session complete and changes nothing).
 */
export async function completePaypalReturn(ctx: AppContext, sessionId: string): Promise<ReturnOutcome> {
  const s = await paymentsRepo.findSession(ctx.db, sessionId);
  if (s?.provider !== 'paypal') return { error: 'Checkout session not found', status: 404, back: null };
  if (s.status === 'complete') return { redirect: s.success_url };
  const now = await projectNow(ctx, s.project_id);
  if (s.status === 'expired' || s.expires_at.getTime() <= now.getTime()) {
    return { error: 'This checkout session has expired', status: 410, back: s.cancel_url };
  }
  let order: Json;
  try {
    order = await capturePaypalOrder(ctx, s);
  } catch (err) {
    ctx.log.warn({ err, session: s.id }, 'PayPal capture failed');
    return { error: 'PayPal could not complete the payment. No money was taken; please try again.', status: 502, back: s.cancel_url };
  }
  const capture = captureOf(order);
  const type = capture ? EVENT_OF_STATUS[String(capture.status)] : undefined;
  if (!capture || !type) return { error: 'PayPal did not capture the payment.', status: 402, back: s.cancel_url };
  const eventId = `capture-${capture.id}-${capture.status}`;
  await recordProviderEvent(ctx, 'paypal', s.project_id, {
    eventId,
    type,
    occurredAt: now,
    payload: { id: eventId, event_type: type, resource_type: 'capture', resource: { ...capture, custom_id: capture.custom_id ?? s.id } },
  });
  if (capture.status === 'DECLINED' || capture.status === 'FAILED') {
    return { error: 'PayPal declined the payment.', status: 402, back: s.cancel_url };
  }
  return { redirect: s.success_url };
}

// The buyer approved but may never come back: capture from the webhook instead. The capture is a
// call to PayPal, so it runs after the inbox transaction, and its outcome comes back through the inbox
// as a capture event (as on the buyer's return): applied once whichever path arrives first.
export const onPaypalOrderApproved: ProviderEventHandler<'order.approved'> = async (ctx, q, ev, event) => {
  if (ev.provider !== 'paypal') return { ignored: 'order approval from another provider' };
  const session = await paymentsRepo.lockSessionByRef(q, ev.projectId, 'paypal', event.orderRef);
  if (!session) return { ignored: `unknown PayPal order ${event.orderRef}` };
  if (session.status !== 'open') return { ignored: `session already ${session.status}` };
  // Past its time the reservation behind the session may be gone: take no money.
  if (session.expires_at.getTime() <= (await projectNow(ctx, session.project_id)).getTime()) return { ignored: 'session expired' };
  return {
    outside: async () => {
      const capture = captureOf(await capturePaypalOrder(ctx, session));
      if (!capture) throw new Error(`PayPal order ${event.orderRef} has no capture`);
      const status = String(capture.status);
      const type = EVENT_OF_STATUS[status];
      if (!type) throw new Error(`PayPal capture ${capture.id} is ${status}`);
      const eventId = `capture-${capture.id}-${status}`;
      await recordProviderEvent(ctx, 'paypal', session.project_id, {
        eventId,
        type,
        occurredAt: ev.occurredAt,
        payload: { id: eventId, event_type: type, resource_type: 'capture', resource: { ...capture, custom_id: capture.custom_id ?? session.id } },
      });
    },
  };
};
