import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { PDFParse } from 'pdf-parse';
import type { Browser } from 'playwright-core';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { MINUTE, ManualClock } from '../src/clock.ts';
import { loadConfig } from '../src/config.ts';
import { type Db, openDb } from '../src/db/db.ts';
import { randomToken } from '../src/domain/ids.ts';
import { ensureCustomer } from '../src/modules/customers/customers.service.ts';
import { createProject } from '../src/modules/projects/projects.service.ts';
import { createTollgate, type Tollgate } from '../src/server.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { formatMoney } from '../src/domain/money.ts';
import { runDueJobs } from '../src/jobs/runner.ts';
import { createOperator } from '../src/modules/dashboard/operators.service.ts';
import { composeEmails } from '../src/modules/emails/emails.service.ts';
import { buildDashboard } from '../web/dashboard/build.mjs';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness, TEST_ENCRYPTION_KEY, type TestProject, testConfig } from './support/harness.ts';

/** A real SMTP server in the test process: every message it accepts is parsed back with mailparser. */
const inbox: ParsedMail[] = [];
function startSmtp(port = 0): Promise<{ server: SMTPServer; port: number }> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    // A mailbox that does not exist: refused at RCPT TO, as real servers do.
    onRcptTo(address, _session, done) {
      if (address.address.startsWith('refused-')) {
        const err = new Error('5.1.1 No such mailbox') as Error & { responseCode: number };
        err.responseCode = 550;
        return done(err);
      }
      done();
    },
    onData(stream, _session, done) {
      simpleParser(stream).then(
        (m) => {
          inbox.push(m);
          done();
        },
        (err: Error) => done(err),
      );
    },
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({ server, port: (server.server.address() as AddressInfo).port }));
  });
}
const stopSmtp = (s: SMTPServer) => new Promise<void>((resolve) => s.close(() => resolve()));

let h: Harness;
let smtp: { server: SMTPServer; port: number };
let smtpUrl: string;

beforeAll(async () => {
  smtp = await startSmtp();
  smtpUrl = `smtp://127.0.0.1:${smtp.port}`;
  h = await createHarness({ config: { smtpUrl } });
});
afterAll(async () => {
  await h?.close();
  if (smtp) await stopSmtp(smtp.server);
});

/** Credits (AurisVoice), plans with a 14-day trial (ArkWatch) and products (Webox) in one catalog. */
function catalog(): CatalogInput {
  const auris = DEMO_CATALOGS.aurisvoice!.catalog;
  const ark = DEMO_CATALOGS.arkwatch!.catalog;
  return {
    ...auris,
    theme: { name: 'AurisVoice', primary_color: '#6d28d9', logo_url: 'https://cdn.auris.test/logo.png' },
    features: [...(auris.features ?? []), ...(ark.features ?? [])],
    plans: ark.plans,
    free_plan: ark.free_plan,
    products: DEMO_CATALOGS.webox!.catalog.products,
  } as CatalogInput;
}

const flush = () => runDueJobs(h.tg.ctx);
const DAY_S = 86_400;
const advance = async (p: TestProject, days: number) => {
  const r = await p.call('POST', '/v1/test_helpers/clock/advance', { seconds: Math.round(days * DAY_S) });
  expect(r.status).toBe(200);
  await flush();
};
const ok = (r: { status: number; body: any }, what: string) => {
  expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
  return r.body;
};
const checkout = (p: TestProject, body: Record<string, unknown>) =>
  p.call('POST', '/v1/checkout', { success_url: 'https://app.test/ok', cancel_url: 'https://app.test/no', ...body });
async function pay(p: TestProject, body: Record<string, unknown>, card = '4242424242424242') {
  const s = ok(await checkout(p, body), 'checkout');
  ok(await p.call('POST', `/v1/test_helpers/checkout/${s.session_id}/pay`, { card }), 'pay');
}
const received = (to: string) => inbox.filter((m) => m.to && !Array.isArray(m.to) && m.to.text === to);
/** Text with its no-break spaces (French amounts) as plain spaces. */
const norm = (s: string | undefined) => (s ?? '').replace(/[\u00a0\u202f]/g, ' ');
const oneOf = (mails: ParsedMail[], subject: string | RegExp) => {
  const found = mails.filter((m) => (typeof subject === 'string' ? norm(m.subject) === norm(subject) : subject.test(norm(m.subject))));
  expect(found.map((m) => m.subject), `${subject} among ${mails.map((m) => m.subject).join(' | ')}`).toHaveLength(1);
  return found[0]!;
};

/** Walks one customer through every e-mail: sign-up, low credits, purchases, a trial, a paid plan that lapses. */
async function lifeOfACustomer(p: TestProject, id: string, locale: 'en' | 'fr') {
  ok(await p.call('POST', '/v1/customers', { id, email: `${id}@example.com`, name: 'Ann' }), 'customer');
  if (locale === 'fr') ok(await p.call('PATCH', `/v1/customers/${id}`, { locale: 'fr-FR' }), 'locale');
  ok(await p.call('POST', `/v1/customers/${id}/credits/deduct`, { amount: 6 }), 'deduct'); // 10 signup credits → 4, under 5
  // The card pays now and declines every later charge: the trial's end, the renewal and its retries fail.
  await pay(p, { customer_id: id, credit_pack: 'pro' }, '4000000000000341');
  ok(await p.call('POST', `/v1/customers/${id}/cart/items`, { product_id: 'voice-clone-kit', quantity: 2 }), 'cart');
  const order = ok(await p.call('POST', `/v1/customers/${id}/orders`, {}), 'order');
  await pay(p, { customer_id: id, order_id: order.id }, '4000000000000341');
  ok(await checkout(p, { customer_id: id, plan: 'starter' }), 'trial'); // 14 days, no card
  await flush();
  await advance(p, 11); // 3 days left
  await advance(p, 4); // the trial ends, its first charge fails: it expires
  await pay(p, { customer_id: id, plan: 'starter' }, '4000000000000341');
  ok(await p.call('POST', `/v1/customers/${id}/subscription/cancel`, {}), 'cancel at period end');
  ok(await p.call('POST', `/v1/customers/${id}/subscription/resume`), 'resume');
  await flush();
  for (let d = 0; d < 45; d += 1) await advance(p, 1); // the renewal fails, is retried, and the subscription ends
  return order.id as string;
}

describe('configuration', () => {
  it('reads TOLLGATE_SMTP_URL, else SMTP_URL, and refuses a URL that is not smtp(s)://', () => {
    const env = { TOLLGATE_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, TOLLGATE_DATA_DIR: '/tmp/tollgate-test-unused' };
    expect(loadConfig(env as NodeJS.ProcessEnv).smtpUrl).toBeUndefined();
    expect(loadConfig({ ...env, SMTP_URL: 'smtp://mail.test:587' } as NodeJS.ProcessEnv).smtpUrl).toBe('smtp://mail.test:587');
    expect(loadConfig({ ...env, SMTP_URL: 'smtp://a.test', TOLLGATE_SMTP_URL: 'smtps://u:p@b.test:465' } as NodeJS.ProcessEnv).smtpUrl).toBe('smtps://u:p@b.test:465');
    expect(() => loadConfig({ ...env, TOLLGATE_SMTP_URL: 'http://mail.test' } as NodeJS.ProcessEnv)).toThrow(
      'Invalid configuration: TOLLGATE_SMTP_URL: must be an smtp:// or smtps:// URL',
    );
  });
});

describe('e-mails over SMTP', () => {
  for (const locale of ['en', 'fr'] as const) {
    it(`every template arrives with its subject and text, themed, in ${locale === 'en' ? 'English' : 'French'}`, { timeout: 120_000 }, async () => {
      const p = await h.project({ catalog: catalog() });
      const who = `ann-${locale}-${p.id}`;
      const orderId = await lifeOfACustomer(p, who, locale);
      await flush();
      const mails = received(`${who}@example.com`);
      const fr = locale === 'fr';
      const money = (amount: number) => norm(formatMoney({ amount, currency: 'eur' }, locale));

      const welcome = oneOf(mails, fr ? 'Bienvenue chez AurisVoice' : 'Welcome to AurisVoice');
      expect(welcome.text).toContain(fr ? 'Bonjour Ann,' : 'Hello Ann,');
      expect(welcome.from?.text).toBe(`"${p.id}" <billing@localhost>`);
      expect(welcome.html).toContain('#6d28d9');
      expect(welcome.html).toContain('https://cdn.auris.test/logo.png');

      const low = oneOf(mails, fr ? 'Vos crédits AurisVoice sont presque épuisés' : 'Your AurisVoice credits are running low');
      expect(low.text).toContain(fr ? "n'est plus que de 4 crédits (seuil d'alerte : 5)" : 'down to 4 credits (alert threshold: 5)');

      // The receipt of the credit pack carries its invoice as a PDF.
      const receipt = oneOf(mails, fr ? `Reçu de votre paiement de ${money(1500)}` : `Receipt for your payment of ${money(1500)}`);
      const invoices = ok(await p.call('GET', `/v1/invoices?customer_id=${who}&limit=100`), 'invoices').data as { number: string; total: number }[];
      const packInvoice = invoices.find((i) => i.total === 1500)!;
      expect(receipt.text).toContain(fr ? `La facture ${packInvoice.number} est jointe` : `Invoice ${packInvoice.number} is attached`);
      expect(receipt.attachments.map((a) => [a.filename, a.contentType])).toEqual([[`${packInvoice.number}.pdf`, 'application/pdf']]);
      const pdfText = (await new PDFParse({ data: new Uint8Array(receipt.attachments[0]!.content) }).getText()).text;
      expect(pdfText).toContain(packInvoice.number);

      const order = oneOf(mails, fr ? `Commande confirmée : ${orderId}` : `Order confirmed: ${orderId}`);
      expect(norm(order.text)).toContain(`2 × Voice clone kit — ${money(5800)}`);
      oneOf(mails, fr ? `Reçu de votre paiement de ${money(5800)}` : `Receipt for your payment of ${money(5800)}`);

      const willEnd = oneOf(mails, fr ? 'Votre essai Starter se termine dans 3 jours' : 'Your Starter trial ends in 3 days');
      expect(willEnd.text).toContain(fr ? 'Ajoutez un moyen de paiement' : 'Add a payment method');
      const ended = oneOf(mails, fr ? 'Votre essai Starter est terminé' : 'Your Starter trial has ended');
      expect(ended.text).toContain(fr ? 'choisissez une offre' : 'choose a plan');

      oneOf(mails, fr ? /^Votre abonnement Starter se termine le / : /^Your Starter subscription will end on /);

      // Every failed charge of the dunning (the renewal, then each retry) sends one, with a portal link.
      const failedEvents = await h.db.query('SELECT 1 FROM outbox_events WHERE project_id = $1 AND customer_id = $2 AND type = $3', [p.id, who, 'payment.failed']);
      const failed = mails.filter((m) => m.subject === (fr ? "Votre paiement à AurisVoice n'a pas abouti" : 'Your payment to AurisVoice failed'));
      expect(failedEvents.rowCount).toBeGreaterThanOrEqual(2);
      expect(failed).toHaveLength(failedEvents.rowCount);
      expect(failed[0]!.text).toContain(fr ? 'Motif : card_declined' : 'Reason: card_declined');
      expect(failed[0]!.text).toMatch(new RegExp(`${h.config.publicUrl.replace(/[.:/]/g, '\\$&')}/portal/ps_\\w+`));
      expect(failed[0]!.html).toContain(fr ? 'Mettre à jour le moyen de paiement' : 'Update payment method');

      const canceled = oneOf(mails, fr ? 'Votre abonnement Starter est terminé' : 'Your Starter subscription has ended');
      expect(canceled.text).toContain(fr ? 'Vous pouvez vous réabonner' : 'You can subscribe again');

      // The API lists the same messages, each sent once.
      const listed = ok(await p.call('GET', `/v1/customers/${who}/emails?limit=100`), 'list').data as { status: string; locale: string }[];
      expect(listed).toHaveLength(mails.length);
      expect(new Set(listed.map((m) => m.status))).toEqual(new Set(['sent']));
      expect(new Set(listed.map((m) => m.locale))).toEqual(new Set([locale]));
    });
  }

  it("the customer's language wins over the project's; without one, the project's catalog locale is used", async () => {
    const p = await h.project({ catalog: { ...catalog(), locale: 'fr' } as CatalogInput });
    const fr = `fr-${p.id}`;
    const en = `en-${p.id}`;
    ok(await p.call('POST', '/v1/customers', { id: fr, email: `${fr}@example.com` }), 'customer');
    ok(await p.call('POST', '/v1/customers', { id: en, email: `${en}@example.com`, metadata: { locale: 'en-GB' } }), 'customer');
    await flush();
    expect(received(`${fr}@example.com`).map((m) => m.subject)).toEqual(['Bienvenue chez AurisVoice']);
    expect(received(`${en}@example.com`).map((m) => m.subject)).toEqual(['Welcome to AurisVoice']);
  });

  it('a customer without an e-mail address gets nothing: no welcome, later messages are recorded as skipped', async () => {
    const p = await h.project({ catalog: catalog() });
    ok(await p.call('POST', '/v1/customers/anon/credits/deduct', { amount: 6 }), 'deduct'); // created on first use
    await flush();
    const list = ok(await p.call('GET', '/v1/emails?customer_id=anon'), 'list');
    expect(list.data.map((m: any) => [m.template, m.status, m.skip_reason, m.to])).toEqual([['credits_low', 'skipped', 'no_email', null]]);
    expect((await p.call('GET', '/v1/customers/nobody/emails')).status).toBe(404);
  });

  it('a template switched off is not sent, an override subject and text are used, the sender is the project\'s', async () => {
    const p = await h.project({ catalog: catalog() });
    const patch = await p.call('PATCH', '/v1/project', {
      email: {
        from: '"Auris Billing" <billing@auris.test>',
        templates: { welcome: { enabled: false }, credits_low: { subject: 'Only {{balance}} credits left', text: 'Hi {{customer_name}}, top up soon.' } },
      },
    });
    expect(patch.status).toBe(200);
    expect(patch.body.email).toMatchObject({ from: '"Auris Billing" <billing@auris.test>', templates: { welcome: { enabled: false } } });
    const who = `bob-${p.id}`;
    ok(await p.call('POST', '/v1/customers', { id: who, email: `${who}@example.com`, name: 'Bob' }), 'customer');
    ok(await p.call('POST', `/v1/customers/${who}/credits/deduct`, { amount: 7 }), 'deduct');
    await flush();
    const mails = received(`${who}@example.com`);
    expect(mails.map((m) => m.subject)).toEqual(['Only 3 credits left']);
    expect(mails[0]!.text).toContain('Hi Bob, top up soon.');
    expect(mails[0]!.from?.text).toBe('"Auris Billing" <billing@auris.test>');
    const list = ok(await p.call('GET', `/v1/emails?customer_id=${who}&template=welcome`), 'list');
    expect(list.data.map((m: any) => [m.status, m.skip_reason])).toEqual([['skipped', 'template_disabled']]);
  });

  it('bad e-mail settings are a 400 that changes nothing', async () => {
    const p = await h.project({ catalog: catalog() });
    const before = ok(await p.call('GET', '/v1/project'), 'project');
    for (const email of [
      { from: 'not an address' },
      { templates: { welcome: { subject: 'Hello {{nope}}' } } },
      { templates: { no_such_template: { enabled: false } } },
      { templates: { welcome: { enabled: 'yes' } } },
    ]) {
      const r = await p.call('PATCH', '/v1/project', { email });
      expect(r.status, JSON.stringify(email)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    expect(ok(await p.call('GET', '/v1/project'), 'project')).toEqual(before);
  });

  it('SMTP down: the message is retried later on the clock and delivered once', async () => {
    const p = await h.project({ catalog: catalog() });
    const who = `cid-${p.id}`;
    await stopSmtp(smtp.server);
    try {
      ok(await p.call('POST', '/v1/customers', { id: who, email: `${who}@example.com` }), 'customer');
      await flush();
      const [pending] = ok(await p.call('GET', `/v1/emails?customer_id=${who}`), 'list').data;
      expect(pending).toMatchObject({ template: 'welcome', status: 'pending', attempts: 1 });
      expect(pending.last_error).toBeTruthy();
      expect(new Date(pending.next_attempt_at).getTime() - h.clock.now().getTime()).toBe(MINUTE);
    } finally {
      smtp = await startSmtp(smtp.port);
    }
    await flush();
    expect(received(`${who}@example.com`)).toHaveLength(0); // not due yet
    h.clock.advance(MINUTE);
    await flush();
    h.clock.advance(60 * MINUTE);
    await flush();
    expect(received(`${who}@example.com`).map((m) => m.subject)).toEqual([`Welcome to AurisVoice`]);
    const [sent] = ok(await p.call('GET', `/v1/emails?customer_id=${who}`), 'list').data;
    expect(sent).toMatchObject({ status: 'sent', attempts: 2, last_error: null, next_attempt_at: null });
  });

  it('a message the SMTP server keeps refusing is retried on the schedule, then failed with the error', async () => {
    const p = await h.project({ catalog: catalog() });
    const who = `refused-${p.id}`;
    ok(await p.call('POST', '/v1/customers', { id: who, email: `${who}@example.com` }), 'customer');
    await flush();
    const gaps: number[] = [];
    for (let i = 0; i < 10; i++) {
      const [m] = ok(await p.call('GET', `/v1/emails?customer_id=${who}`), 'list').data;
      if (m.status !== 'pending') break;
      gaps.push(Math.round((new Date(m.next_attempt_at).getTime() - h.clock.now().getTime()) / MINUTE));
      h.clock.set(m.next_attempt_at);
      await flush();
    }
    expect(gaps).toEqual([1, 5, 30, 120, 360, 1440]);
    const [failed] = ok(await p.call('GET', `/v1/emails?customer_id=${who}`), 'list').data;
    expect(failed).toMatchObject({ status: 'failed', attempts: 7, next_attempt_at: null, sent_at: null });
    expect(failed.last_error).toMatch(/550|No such mailbox/);
    expect(received(`${who}@example.com`)).toHaveLength(0);
  });

  it('the same event processed twice, or by two instances at once, makes one message', async () => {
    const p = await h.project({ catalog: catalog() });
    const who = `dup-${p.id}`;
    ok(await p.call('POST', '/v1/customers', { id: who, email: `${who}@example.com` }), 'customer');
    await Promise.all([composeEmails(h.tg.ctx), composeEmails(h.tg.ctx), composeEmails(h.tg.ctx)]);
    // Looked at again (as after a crash before the mark): nothing new.
    await h.db.query('UPDATE outbox_events SET emailed_at = NULL WHERE project_id = $1', [p.id]);
    await composeEmails(h.tg.ctx);
    await flush();
    const rows = await h.db.query('SELECT status FROM email_messages WHERE project_id = $1', [p.id]);
    expect(rows.rows).toEqual([{ status: 'sent' }]);
    expect(received(`${who}@example.com`)).toHaveLength(1);
  });
});

/**
 * Two Tollgate instances on one PostgreSQL schema run both e-mail jobs at the same moment: every
 * message is made once and sent once. (PGlite is one process: no second instance can exist there.)
 */
describe.skipIf(!process.env.DATABASE_URL)('two instances on one PostgreSQL database', () => {
  it('both running the e-mail jobs at once make and send each message once', { timeout: 60_000 }, async () => {
    const schema = `t_${randomToken(12).toLowerCase()}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const scoped = new URL(process.env.DATABASE_URL as string);
    scoped.searchParams.set('options', `-c search_path=${schema}`);
    const clock = new ManualClock('2026-05-01T10:00:00Z');
    const instances: { tg: Tollgate; db: Db }[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const db = await openDb({ databaseUrl: scoped.toString(), poolSize: 8 });
        instances.push({ db, tg: await createTollgate({ config: testConfig({ smtpUrl }), db, clock, runner: false, logger: false }) });
      }
      const [a, b] = instances as [{ tg: Tollgate; db: Db }, { tg: Tollgate; db: Db }];
      const id = `t-${randomToken(10).toLowerCase()}`;
      await createProject(a.tg.ctx, { id, name: 'Twins' });
      const emails = Array.from({ length: 20 }, (_, i) => `twin${i}-${id}@example.com`);
      for (const [i, email] of emails.entries()) await ensureCustomer(a.tg.ctx, a.db, id, `twin${i}`, { email });
      await Promise.all([runDueJobs(a.tg.ctx), runDueJobs(b.tg.ctx), runDueJobs(a.tg.ctx), runDueJobs(b.tg.ctx)]);
      const rows = await a.db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM email_messages WHERE project_id = $1 GROUP BY status', [id]);
      expect(rows.rows).toEqual([{ status: 'sent', n: 20 }]);
      for (const email of emails) expect(received(email), email).toHaveLength(1);
    } finally {
      for (const i of instances) {
        await i.tg.close();
        await i.db.close();
      }
    }
  });
});

describe('dev mailbox (no SMTP URL)', () => {
  let browser: Browser | undefined;
  let base: string;
  let dev: Harness;
  beforeAll(async () => {
    await buildDashboard();
    dev = await createHarness();
    base = await dev.listen();
    if (HAS_BROWSER) browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await dev?.close();
  });

  it('keeps the message as captured, lists it by the API with its text and HTML', async () => {
    expect(dev.config.smtpUrl).toBeUndefined();
    const p = await dev.project({ catalog: catalog() });
    ok(await p.call('POST', '/v1/customers', { id: 'zoe', email: 'zoe@example.com', name: 'Zoé' }), 'customer');
    await runDueJobs(dev.tg.ctx);
    const list = ok(await p.call('GET', '/v1/emails'), 'list');
    expect(list.data.map((m: any) => [m.template, m.status, m.to])).toEqual([['welcome', 'captured', 'zoe@example.com']]);
    const one = ok(await p.call('GET', `/v1/emails/${list.data[0].id}`), 'email');
    expect(one.text).toContain('Hello Zoé,');
    expect(one.html).toContain('Welcome');
    expect((await p.call('GET', '/v1/emails/eml_unknown')).status).toBe(404);
  });

  describeBrowser('in Chromium', () => {
    it('the dashboard Mailbox page lists the message and shows its HTML and text; the customer page shows its status', { timeout: 60_000 }, async () => {
      const p = await dev.project({ catalog: catalog(), name: 'Mailbox demo' });
      ok(await p.call('POST', '/v1/customers', { id: 'yann', email: 'yann@example.com', name: 'Yann' }), 'customer');
      ok(await p.call('PATCH', '/v1/customers/yann', { locale: 'fr' }), 'locale');
      ok(await p.call('POST', '/v1/customers/yann/credits/deduct', { amount: 6 }), 'deduct');
      await runDueJobs(dev.tg.ctx);
      const email = `mailbox-${Date.now()}@example.com`;
      await createOperator(dev.tg.ctx, { email, password: 'correct horse battery' });
      for (const width of [1280, 390]) {
        const ctx = await browser!.newContext({ viewport: { width, height: 900 } });
        const page = await ctx.newPage();
        // Signed in on the page's own address, so the app never redirects to another project meanwhile.
        await page.goto(`${base}/dashboard/#/p/${p.id}/mailbox`);
        await page.fill('#email', email);
        await page.fill('#password', 'correct horse battery');
        await page.click('button[type=submit]');
        await page.waitForSelector('.topbar');
        const rows = page.getByTestId('mail-row');
        await expect.poll(() => rows.count()).toBe(2);
        await page.getByText('Vos crédits AurisVoice sont presque épuisés').click();
        const frame = page.frameLocator('[data-testid=mail-html]');
        await expect.poll(() => frame.locator('body').textContent()).toContain("n'est plus que de 4 crédits");
        await page.screenshot({ path: `${SCREENSHOT_DIR}/emails-mailbox-${width}.png`, fullPage: true });
        await page.getByTestId('mail-html').scrollIntoViewIfNeeded();
        // Nothing is wider than the screen.
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
        await page.screenshot({ path: `${SCREENSHOT_DIR}/emails-mailbox-${width}-reader.png` });
        await page.getByRole('tab', { name: 'Text' }).click();
        await expect.poll(() => page.getByTestId('mail-text').textContent()).toContain('Bonjour Yann,');
        await page.goto(`${base}/dashboard/#/p/${p.id}/customers/yann`);
        const section = page.getByTestId('customer-emails');
        await expect.poll(() => section.textContent()).toContain('Bienvenue chez AurisVoice');
        expect(await section.textContent()).toContain('captured');
        if (width === 1280) await page.screenshot({ path: `${SCREENSHOT_DIR}/emails-customer-${width}.png`, fullPage: true });
        await ctx.close();
      }
    });

    it('the Settings page switches a template off and sets the sender through PATCH /v1/project', { timeout: 60_000 }, async () => {
      const p = await dev.project({ catalog: catalog(), name: 'Settings demo' });
      const email = `settings-${Date.now()}@example.com`;
      await createOperator(dev.tg.ctx, { email, password: 'correct horse battery' });
      const ctx = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await ctx.newPage();
      await page.goto(`${base}/dashboard/#/p/${p.id}/settings`);
      await page.fill('#email', email);
      await page.fill('#password', 'correct horse battery');
      await page.click('button[type=submit]');
      await page.waitForSelector('.topbar');
      const card = page.getByTestId('email-settings');
      await card.getByLabel('Sender').fill('"Settings Co" <billing@settings.test>');
      await card.getByLabel('Welcome').uncheck();
      await card.getByRole('button', { name: 'Save' }).click();
      await expect.poll(() => card.textContent()).toContain('Saved.');
      await page.screenshot({ path: `${SCREENSHOT_DIR}/emails-settings-1280.png`, fullPage: true });
      await ctx.close();
      const project = ok(await p.call('GET', '/v1/project'), 'project');
      expect(project.email).toEqual({ enabled: true, from: '"Settings Co" <billing@settings.test>', templates: { welcome: { enabled: false } } });
    });
  });
});
