import { z } from 'zod';
import type { AppContext } from '../../app/context.ts';
import type { Queryable } from '../../db/db.ts';
import type { Catalog } from '../../domain/catalog.ts';
import {
  EMAIL_STATUSES,
  EMAIL_TEMPLATE_NAMES,
  type EmailSettings,
  type EmailTemplate,
  nextEmailRetryDelay,
  parseSender,
} from '../../domain/emails.ts';
import { NotFoundError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import { formatMoney } from '../../domain/money.ts';
import { brandCatalog, getCatalog } from '../catalog/catalog.service.ts';
import { customersRepository, requireCustomer } from '../customers/customers.service.ts';
import { invoiceOfPayment, requireInvoice } from '../invoices/invoices.service.ts';
import { renderInvoicePdf } from '../invoices/invoices.pdf.ts';
import { customerLocale } from '../profile/profile.service.ts';
import { getProject, type ProjectRow } from '../projects/projects.service.ts';
import { emailPortalLink } from '../subscriptions/portal.service.ts';
import * as repo from './emails.repository.ts';
import { type Brand, type EmailLocale, PHRASES, pickEmailLocale, renderEmail } from './emails.templates.ts';
import { type OutgoingMail, sendMail } from './emails.transport.ts';

export type { EmailRow } from './emails.repository.ts';

/** The event types e-mails are made from. */
const EMAIL_EVENTS = new Set([
  'customer.created',
  'payment.succeeded',
  'payment.failed',
  'subscription.trial_will_end',
  'subscription.updated',
  'subscription.canceled',
  'credits.low_balance',
  'order.paid',
  'api_key.created',
]);

/** A "trial ended" e-mail goes out for a change seen within this long after the trial's end. */
const TRIAL_ENDED_WINDOW_MS = 7 * 24 * 3_600_000;
/** A billing-portal link in a "payment failed" e-mail stays valid this long (sandbox projects). */
const EMAIL_PORTAL_TTL_MS = 7 * 24 * 3_600_000;

export function emailSettingsOf(p: Pick<ProjectRow, 'settings'>): EmailSettings {
  const s = (p.settings as { email?: EmailSettings }).email;
  return s && typeof s === 'object' ? s : {};
}

/** `settings.email.from`, or `"<project name>" <billing@localhost>`. */
export function senderOf(p: Pick<ProjectRow, 'name' | 'settings'>): string {
  const from = emailSettingsOf(p).from;
  if (from && parseSender(from)) return from;
  return `"${p.name.replace(/["\\\r\n]/g, '')}" <billing@localhost>`;
}

function brandOf(p: ProjectRow, c: Catalog): Brand {
  return { name: c.theme?.name ?? c.name ?? p.name, color: c.theme?.primary_color ?? '#4f46e5', logoUrl: c.theme?.logo_url ?? null };
}

interface Planned {
  template: EmailTemplate;
  onceKey?: string;
  vars: Record<string, string>;
  attachments?: repo.EmailAttachment[];
}

const str = (v: unknown) => (v === null || v === undefined ? '' : String(v));

function dateIn(locale: EmailLocale, v: unknown): string {
  if (v === null || v === undefined || v === '') return '';
  const d = new Date(String(v));
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeZone: 'UTC' }).format(d);
}

function moneyIn(locale: EmailLocale, amount: unknown, currency: unknown): string {
  if (typeof amount !== 'number' || typeof currency !== 'string') return '';
  return formatMoney({ amount, currency }, locale);
}

const LIVE = new Set(['trialing', 'active', 'past_due']);

/** What e-mails one outbox event makes (before the project's switches apply). */
async function plan(
  ctx: AppContext,
  q: Queryable,
  e: repo.OutboxEvent,
  customerId: string,
  locale: EmailLocale,
  p: ProjectRow,
  willSend: (t: EmailTemplate) => boolean,
): Promise<Planned[]> {
  const d = e.payload?.data ?? {};
  const at = new Date(e.created_at);
  switch (e.type) {
    case 'customer.created':
      // Customers are also created on first use, without an address: a welcome needs one.
      return d.email ? [{ template: 'welcome', vars: {} }] : [];
    case 'payment.succeeded': {
      const invoice = typeof d.id === 'string' ? await invoiceOfPayment(q, e.project_id, d.id) : undefined;
      return [
        {
          template: 'receipt',
          vars: {
            amount: moneyIn(locale, d.amount, d.currency),
            invoice_number: invoice?.number ?? '',
            payment_id: str(d.id),
            date: dateIn(locale, d.created_at ?? e.created_at),
          },
          attachments: invoice ? [{ kind: 'invoice', invoice_id: invoice.id, filename: `${invoice.number}.pdf` }] : [],
        },
      ];
    }
    case 'payment.failed': {
      // A portal session is opened only for an e-mail that will go out.
      const portal =
        emailSettingsOf(p).portal_url ??
        (willSend('payment_failed') ? await emailPortalLink(ctx, q, e.project_id, customerId, at, EMAIL_PORTAL_TTL_MS) : null) ??
        '';
      return [
        {
          template: 'payment_failed',
          vars: { amount: moneyIn(locale, d.amount, d.currency), reason: str(d.failure_reason ?? d.reason), portal_url: portal },
        },
      ];
    }
    case 'subscription.trial_will_end': {
      const days = typeof d.days_remaining === 'number' ? d.days_remaining : Math.max(0, Math.ceil((new Date(str(d.trial_end)).getTime() - at.getTime()) / 86_400_000));
      return [{ template: 'trial_will_end', vars: { plan_name: str(d.plan_name ?? d.plan), trial_end: dateIn(locale, d.trial_end), days_remaining: String(days) } }];
    }
    case 'subscription.updated':
    case 'subscription.canceled': {
      const planName = str(d.plan_name ?? d.plan ?? d.previous_plan);
      const trialEnd = d.trial_end ? new Date(str(d.trial_end)) : null;
      const status = str(d.status);
      if (trialEnd && status !== 'trialing' && at >= trialEnd && at.getTime() - trialEnd.getTime() <= TRIAL_ENDED_WINDOW_MS) {
        const converted = LIVE.has(status);
        return [
          {
            template: 'trial_ended',
            onceKey: `trial_ended:${str(d.id)}`,
            vars: { plan_name: planName, trial_end: dateIn(locale, trialEnd), next_step: PHRASES[locale][converted ? 'trial_converted' : 'trial_lapsed'] },
          },
        ];
      }
      if (e.type === 'subscription.canceled') {
        return [{ template: 'subscription_canceled', onceKey: `canceled:${str(d.id)}`, vars: { plan_name: planName, ended_at: dateIn(locale, d.ended_at ?? d.canceled_at ?? e.created_at) } }];
      }
      if (d.cancel_at_period_end === true && LIVE.has(status) && d.current_period_end) {
        return [
          {
            template: 'subscription_will_end',
            onceKey: `will_end:${str(d.id)}:${str(d.current_period_end)}`,
            vars: { plan_name: planName, period_end: dateIn(locale, d.current_period_end) },
          },
        ];
      }
      return [];
    }
    case 'credits.low_balance':
      return [{ template: 'credits_low', vars: { balance: str(d.balance), threshold: str(d.threshold) } }];
    case 'order.paid': {
      const total = d.total as { amount?: number; currency?: string } | undefined;
      const items = Array.isArray(d.items) ? (d.items as { name?: string; quantity?: number; line_total?: { amount: number; currency: string } }[]) : [];
      return [
        {
          template: 'order_confirmation',
          vars: {
            order_id: str(d.id),
            total: moneyIn(locale, total?.amount, total?.currency),
            items: items.map((i) => `${i.quantity ?? 1} × ${i.name ?? ''} — ${moneyIn(locale, i.line_total?.amount, i.line_total?.currency)}`).join('\n'),
          },
        },
      ];
    }
    case 'api_key.created': {
      // Only a key nobody has seen (issued by a payment or a subscription start): the customer reveals it in the portal.
      if (d.auto_issued !== true) return [];
      const portal =
        emailSettingsOf(p).portal_url ??
        (willSend('api_key_ready') ? await emailPortalLink(ctx, q, e.project_id, customerId, at, EMAIL_PORTAL_TTL_MS) : null) ??
        '';
      return [{ template: 'api_key_ready', onceKey: `api_key_ready:${str(d.id)}`, vars: { key_name: str(d.name), key_preview: str(d.preview), portal_url: portal } }];
    }
    default:
      return [];
  }
}

/** The messages of one event, inserted once each (a repeat finds them and inserts nothing). */
async function composeFor(ctx: AppContext, q: Queryable, e: repo.OutboxEvent): Promise<number> {
  if (!EMAIL_EVENTS.has(e.type) || !e.customer_id) return 0;
  const customerId = e.customer_id;
  const p = await getProject(ctx, e.project_id);
  const catalog = brandCatalog(p, (await getCatalog(ctx, e.project_id)).catalog);
  const customer = await customersRepository.findCustomer(q, e.project_id, customerId);
  const locale = pickEmailLocale(await customerLocale(q, e.project_id, customerId), customer?.metadata?.locale, catalog.locale);
  const settings = emailSettingsOf(p);
  const skipReason = (t: EmailTemplate) =>
    settings.enabled === false ? 'emails_disabled' : settings.templates?.[t]?.enabled === false ? 'template_disabled' : !customer?.email ? 'no_email' : null;
  const planned = await plan(ctx, q, e, customerId, locale, p, (t) => skipReason(t) === null);
  const brand = brandOf(p, catalog);
  const at = new Date(e.created_at);
  let made = 0;
  for (const m of planned) {
    const t = settings.templates?.[m.template] ?? {};
    const vars = {
      customer_name: customer?.name ?? customer?.email ?? customerId,
      customer_email: customer?.email ?? '',
      project_name: brand.name,
      ...m.vars,
    };
    const rendered = renderEmail(m.template, locale, brand, vars, { subject: t.subject, text: t.text });
    const skip = skipReason(m.template);
    const inserted = await repo.insertMessage(q, {
      project_id: e.project_id,
      id: newId('email'),
      event_id: e.id,
      event_type: e.type,
      template: m.template,
      once_key: m.onceKey ?? null,
      customer_id: customerId,
      locale,
      from_address: senderOf(p),
      to_address: customer?.email ?? null,
      subject: rendered.subject,
      text_body: rendered.text,
      html_body: rendered.html,
      attachments: m.attachments ?? [],
      status: skip ? 'skipped' : 'pending',
      skip_reason: skip,
      // Due at once: the server time the event was written (its project time less the test-clock offset).
      next_attempt_at: skip ? null : new Date(at.getTime() - Number(p.clock_offset_ms)),
      created_at: at,
    });
    if (inserted) made += 1;
  }
  return made;
}

/**
 * Background: claims outbox events the e-mail job has not seen (FOR UPDATE SKIP LOCKED, so several
 * instances share the work) and makes their messages in the same transaction that marks them seen.
 * An event whose composition fails is logged and passed over; it does not hold up the others.
 */
export async function composeEmails(ctx: AppContext, batch = 100): Promise<number> {
  return ctx.db.tx(async (trx) => {
    const events = await repo.claimUnemailedEvents(trx, ctx.clock.now(), batch);
    for (const e of events) {
      await trx.query('SAVEPOINT email_event');
      try {
        await composeFor(ctx, trx, e);
        await trx.query('RELEASE SAVEPOINT email_event');
      } catch (err) {
        await trx.query('ROLLBACK TO SAVEPOINT email_event');
        ctx.log.error({ err, event: e.id, type: e.type }, 'e-mail for an event could not be made');
      }
    }
    await repo.markEmailed(
      trx,
      events.map((e) => e.seq),
      ctx.clock.now(),
    );
    return events.length;
  });
}

/** How long a claimed batch is leased to its sender: well past the SMTP timeouts of one message (the batch is sent in parallel). */
const SEND_LEASE_MS = 5 * 60_000;

/**
 * Background: sends due messages. They are claimed (and leased) in a short transaction, sent with no
 * transaction open, then settled: accepted → `sent`; without an SMTP URL → `captured` (the dev
 * mailbox); a failure is retried 1 min, 5 min, 30 min, 2 h, 6 h and 24 h later, then `failed`.
 */
export async function sendDueEmails(ctx: AppContext, batch = 20): Promise<number> {
  const due = await ctx.db.tx((trx) => repo.claimDueMessages(trx, ctx.clock.now(), batch, SEND_LEASE_MS));
  await Promise.all(due.map((m) => sendOne(ctx, m)));
  return due.length;
}

async function sendOne(ctx: AppContext, m: repo.DueEmail): Promise<void> {
  const url = ctx.config.smtpUrl;
  if (!url) {
    await repo.settleMessage(ctx.db, m.project_id, m.id, { status: 'captured', nextAttemptAt: null, retryStep: m.retry_step, error: null, smtpMessageId: null, at: ctx.clock.now() });
    return;
  }
  let result: { ok: true; messageId: string } | { ok: false; error: string };
  try {
    const attachments: OutgoingMail['attachments'] = [];
    for (const a of m.attachments) {
      if (a.kind === 'invoice') attachments.push({ filename: a.filename, contentType: 'application/pdf', content: await renderInvoicePdf(await requireInvoice(ctx.db, m.project_id, a.invoice_id)) });
    }
    result = await sendMail(url, {
      from: m.from_address,
      to: m.to_address ?? '',
      subject: m.subject,
      text: m.text_body,
      html: m.html_body,
      messageId: `<${m.id}@tollgate>`,
      attachments,
    });
  } catch (err) {
    result = { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  const at = ctx.clock.now();
  if (result.ok) {
    await repo.settleMessage(ctx.db, m.project_id, m.id, { status: 'sent', nextAttemptAt: null, retryStep: m.retry_step, error: null, smtpMessageId: result.messageId, at });
    return;
  }
  ctx.log.warn({ email: m.id, error: result.error }, 'e-mail send attempt failed');
  const delay = nextEmailRetryDelay(m.retry_step);
  await repo.settleMessage(ctx.db, m.project_id, m.id, {
    status: delay === null ? 'failed' : 'pending',
    nextAttemptAt: delay === null ? null : new Date(at.getTime() + Number(m.clock_offset_ms) + delay),
    retryStep: delay === null ? m.retry_step : m.retry_step + 1,
    error: result.error.slice(0, 500),
    smtpMessageId: null,
    at,
  });
}

// Reads ---------------------------------------------------------------------------------------

export const EmailsQuery = z.object({
  customer_id: z.string().min(1).max(255).optional(),
  status: z.enum(EMAIL_STATUSES as [string, ...string[]]).optional(),
  template: z.enum(EMAIL_TEMPLATE_NAMES as [string, ...string[]]).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(255).optional(),
});

function emailView(m: repo.EmailRow, full = false) {
  return {
    id: m.id,
    object: 'email' as const,
    template: m.template,
    event_id: m.event_id,
    event_type: m.event_type,
    customer_id: m.customer_id,
    from: m.from_address,
    to: m.to_address,
    subject: m.subject,
    locale: m.locale,
    status: m.status,
    skip_reason: m.skip_reason,
    attempts: m.attempts,
    next_attempt_at: m.status === 'pending' ? m.next_attempt_at : null,
    last_error: m.last_error,
    attachments: m.attachments.map((a) => ({ filename: a.filename, content_type: 'application/pdf', invoice_id: a.invoice_id })),
    created_at: m.created_at,
    sent_at: m.sent_at,
    ...(full ? { text: m.text_body, html: m.html_body } : {}),
  };
}

export async function listEmails(q: Queryable, projectId: string, f: z.infer<typeof EmailsQuery>) {
  const rows = await repo.listMessages(q, projectId, { customerId: f.customer_id, status: f.status, template: f.template, startingAfter: f.starting_after, limit: f.limit });
  return { object: 'list' as const, data: rows.slice(0, f.limit).map((m) => emailView(m)), has_more: rows.length > f.limit };
}

export async function listCustomerEmails(q: Queryable, projectId: string, customerId: string, f: z.infer<typeof EmailsQuery>) {
  await requireCustomer(q, projectId, customerId);
  return listEmails(q, projectId, { ...f, customer_id: customerId });
}

export async function getEmail(q: Queryable, projectId: string, id: string) {
  const m = await repo.findMessage(q, projectId, id);
  if (!m) throw new NotFoundError('email', id);
  return emailView(m, true);
}
