import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AppError } from '../domain/errors.ts';
import { describeSummary } from '../domain/pricing.ts';
import type { AppContext } from '../app/context.ts';
import { getShownCatalog } from '../modules/catalog/catalog.service.ts';
import { sessionSummary } from '../modules/payments/checkout.service.ts';
import * as paymentsRepo from '../modules/payments/payments.repository.ts';
import { projectNow } from '../modules/projects/projects.service.ts';
import { payCheckoutSession } from '../modules/payments/sandbox-checkout.service.ts';
import { esc, page } from './html.ts';

const PayForm = z.object({
  card: z.string().max(40).default(''),
  exp: z.string().max(10).optional(),
  cvc: z.string().max(10).optional(),
  name: z.string().max(200).optional(),
  email: z.string().max(320).optional(),
});

function describe(s: paymentsRepo.CheckoutSessionRow): string {
  const name = String(s.details.name ?? s.item_id);
  if (s.item_type === 'credit_pack') return `${name} pack — ${String(s.details.credits)} credits`;
  if (s.item_type === 'plan') return `${name} plan`;
  const count = Number(s.details.count);
  return Number.isInteger(count) && count > 0 ? `Order of ${count} item${count === 1 ? '' : 's'}` : `Order ${s.item_id}`;
}

async function render(ctx: AppContext, s: paymentsRepo.CheckoutSessionRow, error?: string, values: Record<string, string> = {}) {
  const { catalog } = await getShownCatalog(ctx, s.project_id);
  const theme = catalog.theme ?? { name: catalog.name };
  // One source: the session's price summary, the figures the API returns and the charge uses.
  const shown = describeSummary(sessionSummary(s), catalog.locale ?? 'en');
  const now = await projectNow(ctx, s.project_id);
  const expired = s.status === 'expired' || s.expires_at.getTime() <= now.getTime();
  let body: string;
  if (s.status === 'complete') {
    body = `<div class="card"><div class="alert success">This payment is complete.</div>
      <a class="button" href="${esc(s.success_url)}">Continue</a></div>`;
  } else if (expired) {
    body = `<div class="card"><div class="alert error">This checkout session has expired.</div>
      <a class="button secondary" href="${esc(s.cancel_url)}">Return</a></div>`;
  } else {
    const lines = shown.lines
      .map((l) => `<tr><td>${esc(l.label)}</td><td class="num">${esc(l.amount)}</td></tr>`)
      .join('');
    const discount = shown.discount ? `<tr data-testid="discount"><td>${esc(shown.discount.label)}</td><td class="num">${esc(shown.discount.amount)}</td></tr>` : '';
    const tax = shown.tax ? `<tr data-testid="tax"><td>${esc(shown.tax.label)}</td><td class="num">${esc(shown.tax.amount)}</td></tr>` : '';
    const needsEmail = !s.customer_id && !s.customer_email;
    body = `<div class="grid">
  <section class="card" aria-label="Order summary">
    <h1>${esc(describe(s))}</h1>
    <div class="muted">${esc(theme.name ?? catalog.name ?? s.project_id)}</div>
    <div class="amount" data-testid="amount">${esc(shown.due_today)}<span class="muted"> today</span></div>
    <p class="headline" data-testid="headline">${esc(shown.headline)}</p>
    ${shown.recurring ? `<p class="muted" data-testid="recurring">${esc(shown.recurring)}</p>` : ''}
    <table class="lines" data-testid="lines"><tbody>${lines}${discount}${tax}
      <tr class="total"><th>${esc(shown.total_label)}</th><th class="num" data-testid="due-today">${esc(shown.due_today)}</th></tr></tbody></table>
    <p class="muted">Sandbox mode: no real money moves. Test cards: <code>4242 4242 4242 4242</code> pays,
    <code>4000 0000 0000 0002</code> is declined, <code>4000 0000 0000 9995</code> has insufficient funds;
    <code>4000 0025 0000 0003</code> and <code>4000 0027 6000 0016</code> pay with a card issued in France and Germany.</p>
  </section>
  <section class="card" aria-label="Payment">
    <h2>Pay with card</h2>
    ${error ? `<div class="alert error" role="alert" data-testid="error">${esc(error)}</div>` : ''}
    <form method="post" action="/checkout/${esc(s.id)}/pay">
      ${needsEmail ? `<label for="email">E-mail</label><input id="email" name="email" type="email" required value="${esc(values.email ?? '')}">` : ''}
      <label for="card">Card number</label>
      <input id="card" name="card" inputmode="numeric" autocomplete="cc-number" placeholder="4242 4242 4242 4242" required value="${esc(values.card ?? '')}">
      <div class="row">
        <div><label for="exp">Expiry</label><input id="exp" name="exp" placeholder="12 / 34" value="${esc(values.exp ?? '')}"></div>
        <div><label for="cvc">CVC</label><input id="cvc" name="cvc" placeholder="123" value="${esc(values.cvc ?? '')}"></div>
      </div>
      <label for="name">Name on card</label><input id="name" name="name" autocomplete="cc-name" value="${esc(values.name ?? '')}">
      <button type="submit" id="pay">${esc(shown.button)}</button>
    </form>
    <a class="button secondary" id="cancel" href="/checkout/${esc(s.id)}/cancel">Cancel</a>
  </section>
</div>`;
  }
  return page({ title: `Checkout — ${theme.name ?? 'Tollgate'}`, theme, lang: catalog.locale ?? 'en', body });
}

const NOT_FOUND = page({ title: 'Not found', body: '<div class="card"><h1>Checkout session not found</h1></div>' });

/** The sandbox's hosted checkout page; the unguessable session id is the capability. */
export function registerCheckoutPages(app: FastifyInstance, ctx: AppContext): void {
  const sandboxSession = async (id: string) => {
    const s = await paymentsRepo.findSession(ctx.db, id);
    return s?.provider === 'sandbox' ? s : undefined;
  };

  app.get<{ Params: { id: string } }>('/checkout/:id', async (req, reply) => {
    const s = await sandboxSession(req.params.id);
    if (!s) return reply.code(404).type('text/html').send(NOT_FOUND);
    return reply.type('text/html; charset=utf-8').send(await render(ctx, s));
  });

  app.post<{ Params: { id: string } }>('/checkout/:id/pay', async (req, reply) => {
    const s = await sandboxSession(req.params.id);
    if (!s) return reply.code(404).type('text/html').send(NOT_FOUND);
    const form = PayForm.safeParse(req.body ?? {});
    const values = form.success ? (form.data as Record<string, string>) : {};
    try {
      const paid = await payCheckoutSession(ctx, s.id, { card: values.card ?? '', email: values.email || null });
      return reply.redirect(paid.success_url, 303);
    } catch (err) {
      if (err instanceof AppError && err.status < 500) {
        const fresh = (await paymentsRepo.findSession(ctx.db, s.id)) ?? s;
        return reply.code(err.status).type('text/html; charset=utf-8').send(await render(ctx, fresh, err.message, values));
      }
      throw err;
    }
  });

  app.get<{ Params: { id: string } }>('/checkout/:id/cancel', async (req, reply) => {
    const s = await paymentsRepo.findSession(ctx.db, req.params.id);
    if (!s) return reply.code(404).type('text/html').send(NOT_FOUND);
    return reply.redirect(s.cancel_url, 303);
  });
}
