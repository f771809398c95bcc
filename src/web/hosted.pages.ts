import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Catalog } from '../domain/catalog.ts';
import { formatMoney, type Money } from '../domain/money.ts';
import type { AppContext } from '../app/context.ts';
import { getShownCatalog, publicPlans } from '../modules/catalog/catalog.service.ts';
import { balanceOf, history } from '../modules/credits/credits.service.ts';
import { resolveCustomerSession } from '../modules/customer-sessions/customer-sessions.service.ts';
import { customersRepository } from '../modules/customers/customers.service.ts';
import { sendInvoicePdf } from '../modules/invoices/invoices.routes.ts';
import { findCustomerInvoice, type InvoiceRow, invoiceOfSession, recentCustomerInvoices } from '../modules/invoices/invoices.service.ts';
import * as paymentsRepo from '../modules/payments/payments.repository.ts';
import { AppError } from '../domain/errors.ts';
import { AUTO_TOP_UP_CSS, applyAutoTopUpForm, autoTopUpSection } from './auto-top-up.form.ts';
import { esc, page } from './html.ts';
import { type Locale, pickLocale, translator } from './i18n.ts';

interface HostedQuery {
  session?: string;
  locale?: string;
  checkout?: string;
  canceled?: string;
  subscribed?: string;
  auto_top_up?: string;
}

interface Opened {
  token: string;
  projectId: string;
  customerId: string;
  catalog: Catalog;
  locale: Locale;
  t: ReturnType<typeof translator>;
  money: (m: Money) => string;
}

/** JSON for an inline script: cannot close the script element. */
function inlineJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c');
}

function send(reply: FastifyReply, status: number, html: string) {
  // The session token travels in the URL: keep it out of caches and Referer headers.
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .type('text/html; charset=utf-8')
    .send(html);
}

/** Opens a hosted page with its customer session; undefined after replying 401 with a localized page. */
async function open(ctx: AppContext, req: FastifyRequest<{ Params: { project: string }; Querystring: HostedQuery }>, reply: FastifyReply) {
  const token = typeof req.query.session === 'string' ? req.query.session : '';
  const session = token ? await resolveCustomerSession(ctx, token) : undefined;
  if (!session || session.project_id !== req.params.project) {
    const t = translator(pickLocale(req.query.locale, req.headers['accept-language']));
    await send(
      reply,
      401,
      page({
        title: t('session_expired'),
        body: `<div class="card" data-testid="expired"><h1>${esc(t('session_expired'))}</h1><p class="muted">${esc(t('session_expired_help'))}</p></div>`,
      }),
    );
    return undefined;
  }
  const [{ catalog }, customer] = await Promise.all([
    getShownCatalog(ctx, session.project_id),
    customersRepository.findCustomer(ctx.db, session.project_id, session.customer_id),
  ]);
  const locale = pickLocale(req.query.locale, customer?.metadata?.locale, catalog.locale, req.headers['accept-language']);
  const opened: Opened = {
    token,
    projectId: session.project_id,
    customerId: session.customer_id,
    catalog,
    locale,
    t: translator(locale),
    money: (m) => formatMoney(m, locale),
  };
  return opened;
}

function themeOf(c: Catalog) {
  return { name: c.theme?.name ?? c.name ?? 'Tollgate', primary_color: c.theme?.primary_color, logo_url: c.theme?.logo_url };
}

/** The browser half: buys through POST /v1/checkout with the session token, polls the balance on return. */
function script(o: Opened, extra: Record<string, unknown>): string {
  const cfg = { token: o.token, customer: o.customerId, t: { processing: o.t('still_processing'), received: o.t('payment_received'), error: o.t('error') }, ...extra };
  return `<script type="application/json" id="tg-config">${inlineJson(cfg)}</script>
<script>
(() => {
  const cfg = JSON.parse(document.getElementById('tg-config').textContent);
  const auth = { authorization: 'Bearer ' + cfg.token };
  const alertBox = document.getElementById('status');
  function show(kind, text) {
    alertBox.className = 'alert ' + kind; alertBox.textContent = text; alertBox.hidden = false;
  }
  // A pay-what-you-want pack: the typed amount (major units) in minor units, or null when it is not
  // a number of the currency's precision within the pack's range. Credits: per major unit, rounded down.
  function pwywAmount(box) {
    const raw = box.querySelector('input').value.trim().replace(',', '.');
    const exp = Number(box.dataset.exp);
    if (!/^[0-9]+([.][0-9]+)?$/.test(raw)) return null;
    const [whole, frac = ''] = raw.split('.');
    if (frac.replace(/0+$/, '').length > exp) return null;
    const minor = Number(whole) * 10 ** exp + Number((frac + '0'.repeat(exp)).slice(0, exp) || '0');
    if (!Number.isSafeInteger(minor) || minor < Number(box.dataset.min) || minor > Number(box.dataset.max)) return null;
    return minor;
  }
  function pwywUpdate(box) {
    const minor = pwywAmount(box);
    const err = box.querySelector('.field-error');
    err.hidden = minor !== null;
    box.querySelector('input').setAttribute('aria-invalid', String(minor === null));
    box.querySelector('.pwyw-credits').textContent = minor === null ? '0' : String(Math.floor((minor * Number(box.dataset.perUnit)) / 10 ** Number(box.dataset.exp)));
    return minor;
  }
  document.querySelectorAll('[data-pwyw]').forEach((box) => {
    box.querySelector('input').addEventListener('input', () => pwywUpdate(box));
  });
  document.querySelectorAll('button[data-item]').forEach((b) => {
    b.addEventListener('click', async () => {
      const box = b.closest('.pack') && b.closest('.pack').querySelector('[data-pwyw]');
      const amount = box ? pwywUpdate(box) : null;
      if (box && amount === null) { box.querySelector('input').focus(); return; }
      b.disabled = true;
      const here = new URL(location.href);
      here.searchParams.delete('checkout'); here.searchParams.delete('canceled');
      const back = here.toString();
      const body = { customer_id: cfg.customer, success_url: back + '&checkout={CHECKOUT_SESSION_ID}', cancel_url: back + '&canceled=1' };
      body[b.dataset.kind] = b.dataset.item;
      if (box) body.amount = amount;
      try {
        const res = await fetch('/v1/checkout', {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': crypto.randomUUID() },
          body: JSON.stringify(body),
        });
        const out = await res.json();
        if (!res.ok) throw new Error(out.error ? out.error.message : res.statusText);
        if (out.url) { location.assign(out.url); return; }
        location.assign(back + '&subscribed=1');
      } catch (err) {
        show('error', cfg.t.error + ': ' + err.message);
        b.disabled = false;
      }
    });
  });
  if (cfg.pending) {
    const started = Date.now();
    const tick = async () => {
      try {
        const res = await fetch('/v1/customers/' + encodeURIComponent(cfg.customer) + '/credits', { headers: auth });
        if (res.ok) {
          const c = await res.json();
          if (c.balance !== cfg.balance) {
            document.getElementById('balance').textContent = c.balance;
            show('success', cfg.t.received);
            return;
          }
        }
      } catch {}
      if (Date.now() - started > 120000) { show('info', cfg.t.processing); return; }
      setTimeout(tick, 1000);
    };
    setTimeout(tick, 1000);
  }
})();
</script>`;
}

/** What a return from checkout says: paid, still processing (webhook not landed yet) or not paid. */
async function checkoutStatus(ctx: AppContext, o: Opened, q: HostedQuery): Promise<{ html: string; pending: boolean }> {
  // A plan whose trial needs no card starts at once: nothing to pay, nothing to wait for.
  if (q.subscribed) return { html: `<div class="alert success" data-testid="subscribed">${esc(o.t('subscribed'))}</div>`, pending: false };
  if (q.canceled) return { html: `<div class="alert info" data-testid="canceled">${esc(o.t('payment_canceled'))}</div>`, pending: false };
  if (!q.checkout) return { html: '', pending: false };
  const s = await paymentsRepo.findSession(ctx.db, q.checkout.slice(0, 64), o.projectId);
  if (!s || s.customer_id !== o.customerId) return { html: '', pending: false };
  if (s.status === 'complete') {
    const invoice = await invoiceOfSession(ctx.db, o.projectId, s.id);
    const link = invoice
      ? ` <a class="link" data-testid="session-invoice" href="${esc(invoicePdfUrl(o, invoice.id))}">${esc(o.t('download_invoice', { number: invoice.number }))}</a>`
      : '';
    return { html: `<div class="alert success" data-testid="paid">${esc(o.t('payment_received'))}${link}</div>`, pending: false };
  }
  if (s.status === 'open') return { html: `<div class="alert info" data-testid="processing">${esc(o.t('payment_processing'))}</div>`, pending: true };
  return { html: `<div class="alert error">${esc(o.t('payment_not_completed'))}</div>`, pending: false };
}

/** A document's PDF on the hosted pages, opened with the same customer session. */
function invoicePdfUrl(o: Opened, id: string): string {
  return `/p/${encodeURIComponent(o.projectId)}/invoices/${encodeURIComponent(id)}/pdf?session=${encodeURIComponent(o.token)}`;
}

/** The customer's invoices and credit notes, each with its PDF. */
function invoicesSection(o: Opened, rows: InvoiceRow[]): string {
  const dateFmt = new Intl.DateTimeFormat(o.locale, { dateStyle: 'medium', timeZone: 'UTC' });
  const list = rows
    .map(
      (i) => `<tr data-testid="invoice-row"><td><a class="link" href="${esc(invoicePdfUrl(o, i.id))}">${esc(i.number)}</a>${
        i.kind === 'credit_note' ? ` <span class="muted">${esc(o.t('credit_note'))}</span>` : ''
      }</td><td>${esc(dateFmt.format(new Date(i.issued_at)))}</td><td class="num">${esc(o.money({ amount: i.total, currency: i.currency }))}</td></tr>`,
    )
    .join('');
  return `<section class="card" aria-label="${esc(o.t('invoices'))}" data-testid="invoices">
    <h2>${esc(o.t('invoices'))}</h2>
    ${
      list
        ? `<table><thead><tr><th></th><th>${esc(o.t('date'))}</th><th class="num">${esc(o.t('total'))}</th></tr></thead><tbody>${list}</tbody></table>`
        : `<p class="muted">${esc(o.t('no_invoices'))}</p>`
    }
  </section>`;
}

const EXTRA_CSS = `<style>
  .balance { font-size: 3rem; font-weight: 800; color: var(--primary); line-height: 1; }
  .packs { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); margin: 1rem 0 2rem; }
  .pack { position: relative; display: flex; flex-direction: column; }
  .pack.popular { border: 2px solid var(--primary); }
  .pack .price { font-size: 1.6rem; font-weight: 700; margin: .5rem 0 .25rem; }
  .pack ul { padding-left: 1.1rem; margin: .5rem 0 1.25rem; color: var(--muted); font-size: .9rem; flex: 1; }
  button { font-family: inherit; }
  th.num, td.num { text-align: right; }
  .pack .badge { position: absolute; top: -.7rem; right: 1rem; background: var(--primary); color: #fff; }
  .pack button { margin-top: auto; }
  .pwyw { display: flex; flex-direction: column; gap: .35rem; margin: .5rem 0 1.25rem; }
  .pwyw input { font: inherit; font-size: 1.3rem; padding: .4rem .6rem; width: 100%; box-sizing: border-box; }
  .pwyw input[aria-invalid="true"] { border-color: var(--danger); }
  .field-error { color: var(--danger); font-size: .9rem; }
  section + section { margin-top: 1.5rem; }
  .amount-pos { color: #166534; font-weight: 600; } .amount-neg { color: var(--danger); font-weight: 600; }
</style>`;

/** A pay-what-you-want pack's amount field (major units) and the credits the typed amount buys. */
function pwywField(o: Opened, p: ReturnType<typeof publicPlans>['credit_packs'][number]): string {
  const w = p.pay_what_you_want;
  if (!w) return '';
  const exp = w.currency_exponent;
  const major = (minor: number) => (minor / 10 ** exp).toFixed(exp);
  const range = { min: o.money(w.min), max: o.money(w.max) };
  const id = `amount-${p.id}`;
  return `<div class="pwyw" data-pwyw="${esc(p.id)}" data-min="${esc(w.min.amount)}" data-max="${esc(w.max.amount)}" data-exp="${esc(exp)}" data-per-unit="${esc(w.credits_per_unit)}">
        <label for="${esc(id)}">${esc(o.t('pwyw_amount', { currency: p.price.currency.toUpperCase() }))}</label>
        <input type="number" id="${esc(id)}" name="amount" inputmode="decimal" min="${esc(major(w.min.amount))}" max="${esc(major(w.max.amount))}" step="${esc(exp > 0 ? (1 / 10 ** exp).toFixed(exp) : '1')}" value="${esc(major(p.price.amount))}" aria-describedby="${esc(id)}-range">
        <div class="muted" id="${esc(id)}-range">${esc(o.t('pwyw_range', range))}</div>
        <div data-testid="pwyw-credits-${esc(p.id)}" aria-live="polite"><strong class="pwyw-credits">${esc(p.credits)}</strong> ${esc(o.t('credits'))}</div>
        <div class="field-error" data-testid="pwyw-error-${esc(p.id)}" role="alert" hidden>${esc(o.t('pwyw_invalid', range))}</div>
      </div>`;
}

function packCards(o: Opened): string {
  const plans = publicPlans(o.catalog);
  return plans.credit_packs
    .map(
      (p) => `<div class="card pack${p.popular ? ' popular' : ''}" data-testid="pack-${esc(p.id)}">
      ${p.popular ? `<span class="badge">${esc(o.t('most_popular'))}</span>` : ''}
      <h2>${esc(p.name)}</h2>
      ${
        p.pay_what_you_want
          ? pwywField(o, p)
          : `<div><strong>${esc(p.credits)}</strong> ${esc(o.t('credits'))}</div>
      ${p.units ? `<div class="muted" data-testid="units-${esc(p.id)}">≈ ${esc(new Intl.NumberFormat(o.locale, { maximumFractionDigits: 1 }).format(p.units.amount))} ${esc(p.units.label)}</div>` : ''}
      <div class="price">${esc(o.money(p.price))}</div>
      <ul><li>${esc(o.money({ amount: Math.round(p.price_per_credit.amount), currency: p.price.currency }))} ${esc(o.t('per_credit'))}</li>
      ${p.savings_percent > 0 ? `<li>${esc(o.t('save'))} ${esc(p.savings_percent)} %</li>` : ''}</ul>`
      }
      <button type="button" data-kind="credit_pack" data-item="${esc(p.id)}" id="buy-${esc(p.id)}">${esc(o.t('buy'))} ${esc(p.name)}</button>
    </div>`,
    )
    .join('');
}

/** The credits page's own URL (the session and the locale kept), for its forms and redirects. */
function creditsUrl(o: Opened, path = 'credits', extra = ''): string {
  return `/p/${encodeURIComponent(o.projectId)}/${path}?session=${encodeURIComponent(o.token)}&locale=${o.locale}${extra}`;
}

async function creditsPage(ctx: AppContext, o: Opened, q: HostedQuery, atuError?: { message: string; form: unknown }): Promise<string> {
  const [bal, hist, status, invoices, atu] = await Promise.all([
    balanceOf(ctx, ctx.db, o.projectId, o.customerId),
    history(ctx, ctx.db, o.projectId, o.customerId, { limit: 5 }),
    checkoutStatus(ctx, o, q),
    recentCustomerInvoices(ctx.db, o.projectId, o.customerId, 5),
    autoTopUpSection(ctx, o, creditsUrl(o, 'credits/auto-top-up'), { error: atuError?.message, form: atuError?.form, saved: q.auto_top_up === 'saved' }),
  ]);
  const dateFmt = new Intl.DateTimeFormat(o.locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
  const rows = hist.data
    .map(
      (e) => `<tr><td>${esc(dateFmt.format(new Date(e.created_at)))}</td><td>${esc(e.reason ?? e.kind)}</td>
      <td class="num ${e.amount > 0 ? 'amount-pos' : 'amount-neg'}">${e.amount > 0 ? '+' : ''}${esc(e.amount)}</td><td class="num">${esc(e.balance_after)}</td></tr>`,
    )
    .join('');
  const body = `${EXTRA_CSS}${AUTO_TOP_UP_CSS}
  <div id="status" role="status" hidden></div>
  ${status.html}
  <section class="card" aria-label="${esc(o.t('balance'))}">
    <h1>${esc(o.t('credits_title'))}</h1>
    <div class="muted">${esc(o.t('balance'))}</div>
    <div><span class="balance" id="balance" data-testid="balance">${esc(bal.balance)}</span> ${esc(o.t('credits'))}</div>
    ${bal.held > 0 ? `<div class="muted">${esc(bal.available)} ${esc(o.t('available'))}</div>` : ''}
  </section>
  <section aria-label="${esc(o.t('buy_credits'))}">
    <h2>${esc(o.t('buy_credits'))}</h2>
    <div class="packs">${packCards(o)}</div>
  </section>
  ${atu}
  <section class="card" aria-label="${esc(o.t('history'))}">
    <h2>${esc(o.t('history'))}</h2>
    ${
      rows
        ? `<table><thead><tr><th>${esc(o.t('date'))}</th><th></th><th class="num">${esc(o.t('credits'))}</th><th class="num">${esc(o.t('balance'))}</th></tr></thead><tbody>${rows}</tbody></table>`
        : `<p class="muted">${esc(o.t('no_history'))}</p>`
    }
  </section>
  ${invoices.length ? invoicesSection(o, invoices) : ''}
  ${script(o, { pending: status.pending, balance: bal.balance })}`;
  return page({ title: `${o.t('credits_title')} — ${themeOf(o.catalog).name}`, theme: themeOf(o.catalog), lang: o.locale, body });
}

function featureLine(o: Opened, id: string, v: unknown): string {
  const f = o.catalog.features.find((x) => x.id === id);
  const name = f?.name ?? id;
  if (v === true) return name;
  if (v === false) return '';
  const obj = v as { limit?: number | null; value?: unknown };
  if (obj.limit === null) return `${name}: ${o.t('unlimited')}`;
  if (typeof obj.limit === 'number') return `${name}: ${obj.limit.toLocaleString(o.locale)}`;
  if (obj.value !== undefined) return `${name}: ${String(obj.value)}`;
  return name;
}

async function pricingPage(ctx: AppContext, o: Opened, q: HostedQuery): Promise<string> {
  const plans = publicPlans(o.catalog);
  const status = await checkoutStatus(ctx, o, q);
  const planCards = plans.plans
    .map((p) => {
      const features = Object.entries(p.features)
        .map(([id, v]) => featureLine(o, id, v))
        .filter(Boolean);
      if (p.trial_days > 0) features.unshift(o.t('trial', { n: p.trial_days }));
      if (p.included_credits > 0) features.push(o.t('included_credits', { n: p.included_credits }));
      return `<div class="card pack${p.popular ? ' popular' : ''}" data-testid="plan-${esc(p.id)}">
        ${p.popular ? `<span class="badge">${esc(o.t('most_popular'))}</span>` : ''}
        <h2>${esc(p.name)}</h2>
        <div class="price">${p.free ? esc(o.t('free')) : esc(o.money(p.price))}</div>
        ${p.free ? '' : `<div class="muted">${esc(o.t(p.interval === 'year' ? 'per_year' : 'per_month'))}</div>`}
        <ul>${features.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>
        ${p.free ? '' : `<button type="button" data-kind="plan" data-item="${esc(p.id)}" id="choose-${esc(p.id)}">${esc(o.t('choose'))} ${esc(p.name)}</button>`}
      </div>`;
    })
    .join('');
  const body = `${EXTRA_CSS}
  <div id="status" role="status" hidden></div>
  ${status.html}
  <h1>${esc(o.t('pricing_title'))}</h1>
  ${planCards ? `<div class="packs">${planCards}</div>` : ''}
  ${plans.credit_packs.length ? `<h2>${esc(o.t('credit_packs'))}</h2><div class="packs">${packCards(o)}</div>` : ''}
  ${script(o, { pending: false })}`;
  return page({ title: `${o.t('pricing_title')} — ${themeOf(o.catalog).name}`, theme: themeOf(o.catalog), lang: o.locale, body });
}

/**
 * The pricing page as a customer would see it, for a draft catalog (the dashboard's catalog editor).
 * No session: it is shown in a sandboxed frame, its buttons do nothing there.
 */
export async function pricingPreview(ctx: AppContext, projectId: string, catalog: Catalog): Promise<string> {
  const locale = pickLocale(catalog.locale);
  const o: Opened = { token: '', projectId, customerId: '', catalog, locale, t: translator(locale), money: (m) => formatMoney(m, locale) };
  return pricingPage(ctx, o, {});
}

/** The customer's account page: balance, links to the credits page and the pricing table. */
async function accountPage(ctx: AppContext, o: Opened): Promise<string> {
  const [bal, invoices] = await Promise.all([
    balanceOf(ctx, ctx.db, o.projectId, o.customerId),
    recentCustomerInvoices(ctx.db, o.projectId, o.customerId, 10),
  ]);
  const link = (path: string) => `/p/${encodeURIComponent(o.projectId)}/${path}?session=${encodeURIComponent(o.token)}`;
  const body = `${EXTRA_CSS}<section class="card"><h1>${esc(o.t('account_title'))}</h1>
    <div class="muted">${esc(o.t('balance'))}</div>
    <div><span class="balance" data-testid="balance">${esc(bal.balance)}</span> ${esc(o.t('credits'))}</div>
    <div class="row"><div><a class="button" href="${esc(link('credits'))}">${esc(o.t('manage_credits'))}</a></div>
    <div><a class="button secondary" href="${esc(link('pricing'))}">${esc(o.t('see_plans'))}</a></div></div></section>
    ${invoicesSection(o, invoices)}`;
  return page({ title: `${o.t('account_title')} — ${themeOf(o.catalog).name}`, theme: themeOf(o.catalog), lang: o.locale, body });
}

/** Hosted pages the apps link to, opened with a customer session: pricing table, credits, account. */
export function registerHostedPages(app: FastifyInstance, ctx: AppContext): void {
  type Req = FastifyRequest<{ Params: { project: string }; Querystring: HostedQuery }>;
  const opts = { schema: { hide: true }, config: { auth: 'none' as const } };
  app.get('/p/:project/credits', opts, async (req: Req, reply) => {
    const o = await open(ctx, req, reply);
    if (o) return send(reply, 200, await creditsPage(ctx, o, req.query));
  });
  // The auto top-up form: applied through putAutoTopUp, then back to the page (303); bad input shows the page again with the error (400).
  app.post('/p/:project/credits/auto-top-up', opts, async (req: Req, reply) => {
    const o = await open(ctx, req, reply);
    if (!o) return;
    try {
      await applyAutoTopUpForm(ctx, o, req.body);
    } catch (err) {
      if (err instanceof AppError && err.status < 500) return send(reply, err.status, await creditsPage(ctx, o, {}, { message: err.message, form: req.body }));
      throw err;
    }
    return reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').redirect(creditsUrl(o, 'credits', '&auto_top_up=saved'), 303);
  });
  app.get('/p/:project/pricing', opts, async (req: Req, reply) => {
    const o = await open(ctx, req, reply);
    if (o) return send(reply, 200, await pricingPage(ctx, o, req.query));
  });
  app.get('/p/:project/invoices/:id/pdf', opts, async (req: FastifyRequest<{ Params: { project: string; id: string }; Querystring: HostedQuery }>, reply) => {
    const o = await open(ctx, req, reply);
    if (!o) return;
    const invoice = await findCustomerInvoice(ctx.db, o.projectId, o.customerId, req.params.id);
    if (!invoice) return send(reply, 404, page({ title: o.t('invoices'), body: '<div class="card"><h1>Not found</h1></div>' }));
    reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
    return sendInvoicePdf(reply, invoice);
  });
  // `/p/:project/portal` is the older name of the account page, kept as an alias (the billing portal is `/portal/:token`).
  for (const url of ['/p/:project/account', '/p/:project/portal']) {
    app.get(url, opts, async (req: Req, reply) => {
      const o = await open(ctx, req, reply);
      if (o) return send(reply, 200, await accountPage(ctx, o));
    });
  }
}
