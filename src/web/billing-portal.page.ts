import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { AppError } from '../domain/errors.ts';
import { formatMoney } from '../domain/money.ts';
import type { AppContext } from '../app/context.ts';
import { getCatalog } from '../modules/catalog/catalog.service.ts';
import { portalKeys, rollApiKey } from '../modules/api-keys/api-keys.service.ts';
import { streamChangedLocally } from '../modules/stream/stream.service.ts';
import { checkoutFromLink, describeLink, openPortal, portalState } from '../modules/subscriptions/portal.service.ts';
import * as subsRepo from '../modules/subscriptions/subscriptions.repository.ts';
import { cancelSubscription, resumeSubscription } from '../modules/subscriptions/subscriptions.cancel.ts';
import { changePlan, replaceCard } from '../modules/subscriptions/subscriptions.change.ts';
import { sendInvoicePdf } from '../modules/invoices/invoices.routes.ts';
import { findCustomerInvoice, recentCustomerInvoices } from '../modules/invoices/invoices.service.ts';
import { AUTO_TOP_UP_CSS, applyAutoTopUpForm, autoTopUpSection } from './auto-top-up.form.ts';
import { esc, page } from './html.ts';
import { translator } from './i18n.ts';

const fmtDate = (d: Date | string | null | undefined) =>
  d ? new Date(d).toLocaleDateString('en-GB', { year: 'numeric', month: 'long', day: 'numeric', timeZone: 'UTC' }) : '—';

const NOTICES: Record<string, string> = {
  card_saved: 'Your card was saved.',
  recovered: 'Your card was saved and the open invoice is paid. Your subscription is active again.',
  retry_failed: 'Your card was saved, but the open invoice could not be charged. Try another card.',
  changed: 'Your plan was changed.',
  scheduled: 'Your plan will change at the end of the current period.',
  canceled: 'Your subscription will end at the end of the current period.',
  resumed: 'Your subscription will continue.',
  auto_top_up_saved: 'Auto top-up settings saved.',
};

/** The portal speaks English; the auto top-up section shares the hosted page's strings. */
const EN = translator('en');

/** The customer's API keys (no secrets); a key just rolled is shown once, here. */
async function keysSection(ctx: AppContext, token: string, projectId: string, customerId: string, rolled?: { id: string; key: string }) {
  const keys = await portalKeys(ctx, projectId, customerId);
  if (keys.length === 0) return '';
  const rows = keys
    .map(
      (k) => `<tr data-testid="api-key" data-key-id="${esc(k.id)}"><td>${esc(k.name ?? '—')}</td><td><code>${esc(k.preview)}</code></td><td>${esc(k.status)}</td><td>${
        k.status === 'active' && !k.rolled_to
          ? `<form method="post" action="/portal/${esc(token)}/api-keys/${esc(k.id)}/roll"><button type="submit" class="secondary" data-testid="roll">Roll key</button></form>`
          : ''
      }</td></tr>`,
    )
    .join('');
  const shown = rolled
    ? `<div class="alert success" role="status">Your new key — copy it now, it is shown only once:<br><code data-testid="new-key">${esc(rolled.key)}</code><br>The previous key stopped working.</div>`
    : '';
  return `<section class="card" aria-label="API keys" style="margin-top:1.5rem">
    <h2>API keys</h2>
    ${shown}
    <table data-testid="api-keys"><thead><tr><th>Name</th><th>Key</th><th>Status</th><th></th></tr></thead><tbody>${rows}</tbody></table>
    <p class="muted">Keys are stored hashed: a key is shown once, when it is created or rolled. Rolling replaces a key by a new one at once.</p>
  </section>`;
}

async function renderPortal(
  ctx: AppContext,
  token: string,
  projectId: string,
  customerId: string,
  returnUrl: string,
  msg?: { error?: string; notice?: string; rolled?: { id: string; key: string }; /** The auto top-up form as posted, shown again with its error. */ form?: unknown },
) {
  const [st, invoices] = await Promise.all([portalState(ctx, projectId, customerId), recentCustomerInvoices(ctx.db, projectId, customerId, 12)]);
  const c = st.catalog;
  const theme = c.theme ?? { name: c.name };
  const sub = st.subscription;
  const live = sub.status === 'trialing' || sub.status === 'active' || sub.status === 'past_due';
  const plan = sub.plan ? c.plans.find((p) => p.id === sub.plan) : undefined;
  const full = 'id' in sub ? sub : null;
  const badge = `<span class="badge" data-testid="status">${esc(sub.status.replace('_', ' '))}</span>`;
  const lines: string[] = [];
  // A plan that costs nothing has nothing to cancel and no charge to announce.
  const free = full !== null && full.price.amount * full.quantity === 0;
  if (full && live && free) {
    lines.push('<div class="amount" data-testid="price">Free</div>');
  } else if (full && live) {
    lines.push(`<div class="amount" data-testid="price">${esc(formatMoney({ amount: full.price.amount * full.quantity, currency: full.price.currency }))} <span class="muted">/ ${esc(full.interval)}</span></div>`);
    if (sub.status === 'trialing') lines.push(`<p>Free trial until <strong>${esc(fmtDate(full.trial_end))}</strong> (${esc(full.days_remaining)} days left).</p>`);
    if (sub.status === 'trialing' && !full.next_charge && !full.cancel_at_period_end) {
      lines.push('<p data-testid="no-charge">No card on file: nothing will be charged. The trial ends on its own unless you add a card.</p>');
    }
    if (full.next_charge) {
      lines.push(
        `<p data-testid="next-charge">Next charge: <strong>${esc(formatMoney(full.next_charge))}</strong> on ${esc(fmtDate(full.next_charge.at))}</p>`,
      );
    }
    if (full.cancel_at_period_end) lines.push(`<div class="alert info">Ends on ${esc(fmtDate(full.trial_end && sub.status === 'trialing' ? full.trial_end : full.current_period_end))}.</div>`);
    if (full.pending_plan) lines.push(`<div class="alert info">Changes to ${esc(full.pending_plan)} on ${esc(fmtDate(full.current_period_end))}.</div>`);
    if (sub.status === 'past_due') {
      lines.push('<div class="alert error" data-testid="past-due">Your last payment failed. Update your card below to pay the open invoice.</div>');
    }
  }
  const others = c.plans.filter((p) => p.active && p.id !== sub.plan && p.price.amount > 0 && (!plan || p.interval === plan.interval));
  const actions: string[] = [];
  if (full && live && sub.status !== 'past_due') {
    if (others.length > 0) {
      actions.push(`<form method="post" action="/portal/${esc(token)}/change">
        <label for="plan">Change plan</label>
        <select id="plan" name="plan">${others.map((p) => `<option value="${esc(p.id)}">${esc(p.name)} — ${esc(formatMoney(p.price))} / ${esc(p.interval)}</option>`).join('')}</select>
        <button type="submit" id="change">Change plan</button></form>`);
    }
    if (!free) actions.push(
      full.cancel_at_period_end
        ? `<form method="post" action="/portal/${esc(token)}/resume"><button type="submit" id="resume">Resume subscription</button></form>`
        : `<form method="post" action="/portal/${esc(token)}/cancel"><button type="submit" class="secondary" id="cancel">Cancel subscription</button></form>`,
    );
  }
  const payments = st.payments.length
    ? `<table data-testid="payments"><thead><tr><th>Date</th><th>Amount</th><th>Status</th><th>Period</th></tr></thead><tbody>${st.payments
        .map(
          (p) =>
            `<tr><td>${esc(fmtDate(p.created_at))}</td><td>${esc(formatMoney({ amount: p.amount, currency: p.currency }))}</td><td>${esc(p.status)}</td><td>${esc(p.period_start ? `${fmtDate(p.period_start)} – ${fmtDate(p.period_end)}` : '')}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p class="muted">No payments yet.</p>';
  const invoiceRows = invoices.length
    ? `<table data-testid="invoices"><thead><tr><th>Invoice</th><th>Date</th><th>Total</th></tr></thead><tbody>${invoices
        .map(
          (i) =>
            `<tr data-testid="invoice-row"><td><a class="link" href="/portal/${esc(token)}/invoices/${esc(i.id)}/pdf">${esc(i.number)}</a>${i.kind === 'credit_note' ? ' <span class="muted">credit note</span>' : ''}</td><td>${esc(fmtDate(i.issued_at))}</td><td>${esc(formatMoney({ amount: i.total, currency: i.currency }))}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p class="muted">No invoices yet.</p>';
  const body = `${AUTO_TOP_UP_CSS}
  ${msg?.error ? `<div class="alert error" role="alert" data-testid="error">${esc(msg.error)}</div>` : ''}
  ${msg?.notice ? `<div class="alert success" role="status" data-testid="notice">${esc(msg.notice)}</div>` : ''}
  <div class="grid">
  <section class="card" aria-label="Subscription">
    <h1>${esc(sub.plan_name ?? 'No plan')} ${badge}</h1>
    ${lines.join('\n')}
    ${actions.join('\n')}
  </section>
  <section class="card" aria-label="Payment method">
    <h2>Payment method</h2>
    <p data-testid="card">${st.card ? `${esc(st.card.brand)} •••• ${esc(st.card.last4)}` : 'No card on file.'}</p>
    <form method="post" action="/portal/${esc(token)}/card">
      <label for="card-number">${st.card ? 'Replace card' : 'Add a card'}</label>
      <input id="card-number" name="card" inputmode="numeric" autocomplete="cc-number" placeholder="4242 4242 4242 4242" required>
      <button type="submit" id="save-card">${sub.status === 'past_due' ? 'Save card and pay' : 'Save card'}</button>
    </form>
    <p class="muted">Sandbox mode: test cards only, such as <code>4242 4242 4242 4242</code>.</p>
  </section>
  </div>
  <section class="card" aria-label="Payments" style="margin-top:1.5rem">
    <h2>Payment history</h2>
    ${payments}
  </section>
  <section class="card" aria-label="Invoices" style="margin-top:1.5rem">
    <h2>Invoices</h2>
    ${invoiceRows}
  </section>
  <div style="margin-top:1.5rem">${await autoTopUpSection(ctx, { projectId, customerId, catalog: c, locale: 'en', t: EN }, `/portal/${token}/auto-top-up`, { form: msg?.form })}</div>
  ${await keysSection(ctx, token, projectId, customerId, msg?.rolled)}
  <p><a class="link" id="return" href="${esc(returnUrl)}">← Back to ${esc(theme.name ?? c.name ?? 'the app')}</a></p>`;
  return page({ title: `Billing — ${theme.name ?? 'Tollgate'}`, theme, lang: c.locale ?? 'en', body });
}

/** Hosted pages are not part of the API document. */
const HIDDEN = { schema: { hide: true } };

const CardForm = z.object({ card: z.string().max(40).default('') });
const PlanForm = z.object({ plan: z.string().max(64).default('') });

function notFound(reply: FastifyReply, what: string) {
  return reply.code(404).type('text/html; charset=utf-8').send(page({ title: 'Not found', body: `<div class="card"><h1>${esc(what)} not found</h1></div>` }));
}

/** Tollgate's own billing portal (`/portal/:token`, sandbox projects) and payment-link pages (`/pay/:id`). Not the hosted account page (`/p/:project/account`, src/web/hosted.pages.ts). */
export function registerBillingPortalPages(app: FastifyInstance, ctx: AppContext): void {
  const open = async (token: string, reply: FastifyReply) => {
    try {
      return await openPortal(ctx, token);
    } catch (err) {
      if (err instanceof AppError && err.status < 500) {
        reply
          .code(err.status)
          .type('text/html; charset=utf-8')
          .send(page({ title: 'Billing', body: `<div class="card"><h1>${esc(err.message)}</h1></div>` }));
        return null;
      }
      throw err;
    }
  };

  app.get<{ Params: { token: string }; Querystring: { notice?: string } }>('/portal/:token', HIDDEN, async (req, reply) => {
    const p = await open(req.params.token, reply);
    if (!p) return reply;
    const notice = req.query.notice ? NOTICES[req.query.notice] : undefined;
    return reply
      .type('text/html; charset=utf-8')
      .send(await renderPortal(ctx, p.session.id, p.session.project_id, p.session.customer_id, p.session.return_url, { notice }));
  });

  app.get<{ Params: { token: string; id: string } }>('/portal/:token/invoices/:id/pdf', HIDDEN, async (req, reply) => {
    const p = await open(req.params.token, reply);
    if (!p) return reply;
    const invoice = await findCustomerInvoice(ctx.db, p.session.project_id, p.session.customer_id, req.params.id);
    if (!invoice) return notFound(reply, 'Invoice');
    return sendInvoicePdf(reply, invoice);
  });

  const action = (name: string, run: (p: NonNullable<Awaited<ReturnType<typeof openPortal>>>, body: unknown) => Promise<string>) =>
    app.post<{ Params: { token: string } }>(`/portal/:token/${name}`, HIDDEN, async (req, reply) => {
      const p = await open(req.params.token, reply);
      if (!p) return reply;
      try {
        const notice = await run(p, req.body ?? {});
        return reply.redirect(`/portal/${p.session.id}?notice=${notice}`, 303);
      } catch (err) {
        if (err instanceof AppError && err.status < 500) {
          return reply
            .code(err.status)
            .type('text/html; charset=utf-8')
            .send(
              await renderPortal(ctx, p.session.id, p.session.project_id, p.session.customer_id, p.session.return_url, {
                error: err.message,
                ...(name === 'auto-top-up' ? { form: req.body } : {}),
              }),
            );
        }
        throw err;
      }
    });

  action('card', async (p, body) => {
    const { card } = CardForm.parse(body);
    const r = await ctx.db.tx((q) => replaceCard(ctx, q, { ...p.caller, ip: undefined }, p.session.customer_id, card));
    return r.recovered === true ? 'recovered' : r.recovered === false ? 'retry_failed' : 'card_saved';
  });
  action('change', async (p, body) => {
    const { plan } = PlanForm.parse(body);
    const r = await changePlan(ctx, ctx.db, p.caller, p.session.customer_id, { plan });
    return r.change === 'downgrade' ? 'scheduled' : 'changed';
  });
  action('auto-top-up', async (p, body) => {
    await applyAutoTopUpForm(ctx, { projectId: p.session.project_id, customerId: p.session.customer_id, catalog: (await getCatalog(ctx, p.session.project_id)).catalog, locale: 'en', t: EN }, body);
    return 'auto_top_up_saved';
  });
  action('cancel', async (p) => {
    await cancelSubscription(ctx, ctx.db, p.caller, p.session.customer_id, true);
    return 'canceled';
  });
  action('resume', async (p) => {
    await resumeSubscription(ctx, ctx.db, p.caller, p.session.customer_id);
    return 'resumed';
  });

  // Roll one of the customer's API keys: the new key is shown on this reply only (never in a URL).
  app.post<{ Params: { token: string; id: string } }>('/portal/:token/api-keys/:id/roll', HIDDEN, async (req, reply) => {
    const p = await open(req.params.token, reply);
    if (!p) return reply;
    const { session } = p;
    const render = (msg: Parameters<typeof renderPortal>[5]) => renderPortal(ctx, session.id, session.project_id, session.customer_id, session.return_url, msg);
    try {
      const rolled = await ctx.db.tx((q) => rollApiKey(ctx, q, { ...p.caller, ip: req.ip }, req.params.id, 0, { customerId: session.customer_id }));
      // Committed: this instance's SDK streams learn it now (the old key stops at once: grace 0).
      streamChangedLocally(ctx, session.project_id, [session.customer_id]);
      return reply.header('cache-control', 'no-store').type('text/html; charset=utf-8').send(await render({ rolled: { id: rolled.id, key: rolled.key } }));
    } catch (err) {
      if (err instanceof AppError && err.status < 500) {
        return reply.code(err.status).type('text/html; charset=utf-8').send(await render({ error: err.message }));
      }
      throw err;
    }
  });

  // Payment links: sell a plan or a pack to someone who is not a customer yet.
  const renderLink = async (l: subsRepo.PaymentLinkRow, error?: string, email = '') => {
    const d = await describeLink(ctx, l);
    if (!d) return null;
    const theme = d.catalog.theme ?? { name: d.catalog.name };
    return page({
      title: `${d.name} — ${theme.name ?? 'Tollgate'}`,
      theme,
      lang: d.catalog.locale ?? 'en',
      body: `<div class="card" style="max-width:460px;margin:auto">
        <h1>${esc(d.name)}</h1>
        <div class="amount">${esc(formatMoney(d.price))}${d.interval ? ` <span class="muted">/ ${esc(d.interval)}</span>` : ''}</div>
        ${d.headline ? `<p class="headline" data-testid="headline">${esc(d.headline)}</p><p class="muted">A customer who already had a trial pays the first period today; the next page says which before you pay.</p>` : ''}
        ${error ? `<div class="alert error" role="alert" data-testid="error">${esc(error)}</div>` : ''}
        <form method="post" action="/pay/${esc(l.id)}">
          <label for="email">E-mail</label>
          <input id="email" name="email" type="email" required value="${esc(email)}">
          <button type="submit" id="continue">Continue to payment</button>
        </form></div>`,
    });
  };

  app.get<{ Params: { id: string } }>('/pay/:id', HIDDEN, async (req, reply) => {
    const l = await subsRepo.findPaymentLink(ctx.db, req.params.id);
    const html = l?.active ? await renderLink(l) : null;
    if (!html) return notFound(reply, 'Payment link');
    return reply.type('text/html; charset=utf-8').send(html);
  });

  app.post<{ Params: { id: string } }>('/pay/:id', HIDDEN, async (req, reply) => {
    const l = await subsRepo.findPaymentLink(ctx.db, req.params.id);
    if (!l?.active) return notFound(reply, 'Payment link');
    const email = String((req.body as Record<string, unknown> | undefined)?.email ?? '');
    try {
      const out = await checkoutFromLink(ctx, l.id, email);
      return reply.redirect(out.url ?? `/pay/${l.id}/thanks`, 303);
    } catch (err) {
      if (err instanceof AppError && err.status < 500) {
        return reply.code(err.status).type('text/html; charset=utf-8').send(await renderLink(l, err.message, email));
      }
      throw err;
    }
  });

  app.get<{ Params: { id: string } }>('/pay/:id/thanks', HIDDEN, async (req, reply) => {
    const l = await subsRepo.findPaymentLink(ctx.db, req.params.id);
    if (!l) return notFound(reply, 'Payment link');
    return reply
      .type('text/html; charset=utf-8')
      .send(page({ title: 'Thank you', body: '<div class="card"><div class="alert success">Thank you — your payment is complete.</div></div>' }));
  });
}
