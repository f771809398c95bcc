import { AppError, ConflictError, InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import type { AppContext } from '../../app/context.ts';
import * as paymentsRepo from './payments.repository.ts';
import { getProject, projectNow } from '../projects/projects.service.ts';
import { cardToken, firstCharge, normaliseCard } from '../../providers/sandbox/cards.ts';
import { sendSandboxEvent } from './sandbox-events.ts';

export class CardDeclinedError extends AppError {
  constructor(declineCode: string, message: string) {
    super('card_declined', message, { decline_code: declineCode });
  }
}

/**
 * Pays an open sandbox session as the hosted page does: charge the test card, then send the
 * signed `checkout.session.completed` webhook through the public route and wait for it.
 * A declined card changes nothing.
 */
export async function payCheckoutSession(
  ctx: AppContext,
  sessionId: string,
  input: { card: string; email?: string | null; projectId?: string },
): Promise<paymentsRepo.CheckoutSessionRow> {
  const session = await paymentsRepo.findSession(ctx.db, sessionId, input.projectId);
  if (!session) throw new NotFoundError('checkout session', sessionId);
  if (session.provider !== 'sandbox') throw new InvalidRequestError('Only sandbox sessions can be paid here', 'session_id');
  if (session.status === 'complete') throw new ConflictError('This checkout session is already complete', { status: 'complete' });
  const now = await projectNow(ctx, session.project_id);
  if (session.status === 'expired' || session.expires_at.getTime() <= now.getTime()) {
    throw new ConflictError('This checkout session has expired', { status: 'expired' });
  }
  if (!session.customer_id && !session.customer_email && !input.email) {
    throw new InvalidRequestError('An e-mail address is required', 'email');
  }
  const outcome = firstCharge(input.card);
  if (!outcome.ok) throw new CardDeclinedError(outcome.code, outcome.message);
  const project = await getProject(ctx, session.project_id);
  const paymentRef = `pi_sbx_${session.id.slice(3)}`;
  await sendSandboxEvent(
    ctx,
    project,
    'checkout.session.completed',
    {
      id: session.id,
      object: 'checkout.session',
      mode: session.mode,
      payment_status: 'paid',
      payment_intent: session.mode === 'payment' ? paymentRef : null,
      amount_total: session.amount,
      currency: session.currency,
      customer: session.customer_id,
      customer_email: session.customer_email ?? input.email ?? null,
      payment_method: { token: cardToken(input.card), brand: outcome.brand, last4: outcome.last4, country: outcome.country },
    },
    `evt_sbx_cs_${session.id.slice(3)}`,
  );
  const after = await paymentsRepo.findSession(ctx.db, sessionId);
  if (!after) throw new NotFoundError('checkout session', sessionId);
  return after;
}
