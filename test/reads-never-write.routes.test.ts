import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { listRoutes } from '../src/http/app.ts';
import { runDueJobs } from '../src/jobs/runner.ts';
import { createOperator } from '../src/modules/dashboard/operators.service.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

/**
 * Issue 11 item 12, structurally: every GET/HEAD route the app registers is called with the ids of a
 * real customer (and its payments, holds, orders …), with unknown ids, and with another project's ids;
 * the database must be byte-identical afterwards, and an unknown id answers 404 with an error code.
 */
let h: Harness;
let a: TestProject;
let b: TestProject;
let cookie: string;
type Ids = Record<string, string>;
let real: Ids;
let foreign: Ids;

const UNKNOWN: Ids = {
  customer: 'nobody_here',
  invoice: 'inv_unknown0000',
  hold: 'hold_unknown0000',
  checkout: 'cs_unknown0000',
  payment: 'pay_unknown0000',
  link: 'plink_unknown0000',
  product: 'no-such-product',
  order: 'ord_unknown0000',
  event: 'evt_unknown0000',
  endpoint: 'we_unknown0000',
  delivery: 'wd_unknown0000',
  secret: 'no_such_secret',
  portal: 'tgcs_unknown0000',
  project: 'no-such-project',
  member: 'no_such_member',
  email: 'eml_unknown0000',
  provider: 'no-such-provider',
  dispute: 'dsp_unknown0000',
};

/** AurisVoice's packs and plans plus Webox's products; project B also sells one product A does not. */
function catalog(extraProduct?: string): CatalogInput {
  const auris = DEMO_CATALOGS.aurisvoice!.catalog;
  const products = [...(DEMO_CATALOGS.webox!.catalog.products ?? [])];
  if (extraProduct) products.push({ ...products[0]!, id: extraProduct });
  return { ...auris, products } as CatalogInput;
}

async function seedProject(p: TestProject, customer: string, product = 'voice-clone-kit'): Promise<Ids> {
  const ok = (r: { status: number; body: any }, what: string) => {
    expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
    return r.body;
  };
  ok(await p.call('POST', '/v1/customers', { id: customer, email: `${customer}@example.com` }), 'customer');
  const s = ok(
    await p.call('POST', '/v1/checkout', { customer_id: customer, credit_pack: 'starter', success_url: 'https://app.test/ok', cancel_url: 'https://app.test/no' }),
    'checkout',
  );
  ok(await p.call('POST', `/v1/test_helpers/checkout/${s.session_id}/pay`, { card: '4242424242424242' }), 'pay');
  const payments = ok(await p.call('GET', `/v1/payments?customer_id=${customer}`), 'payments');
  const hold = ok(await p.call('POST', `/v1/customers/${customer}/credits/holds`, { amount: 1 }), 'hold');
  const endpoint = ok(await p.call('POST', '/v1/webhook-endpoints', { url: 'https://hooks.example/in', events: ['*'] }), 'endpoint');
  ok(await p.call('PUT', `/v1/customers/${customer}/secrets/api_key`, { value: 'sk-live-abc' }), 'secret');
  ok(await p.call('PUT', `/v1/customers/${customer}/members/member_1`, { limit: { amount: 10, period: 'month' } }), 'member');
  ok(await p.call('POST', `/v1/customers/${customer}/api-keys`, { name: 'laptop', remaining: 5 }), 'customer api key');
  ok(await p.call('POST', `/v1/customers/${customer}/cart/items`, { product_id: 'voice-clone-kit', quantity: 1 }), 'cart');
  const order = ok(await p.call('POST', `/v1/customers/${customer}/orders`, {}), 'order');
  const link = ok(await p.call('POST', '/v1/payment-links', { credit_pack: 'starter' }), 'payment link');
  const session = ok(await p.call('POST', '/v1/customer-sessions', { customer_id: customer }), 'customer session');
  const events = ok(await p.call('GET', '/v1/events'), 'events');
  const deliveries = ok(await p.call('GET', '/v1/webhook-deliveries'), 'deliveries');
  const invoices = ok(await p.call('GET', `/v1/invoices?customer_id=${customer}`), 'invoices');
  await runDueJobs(h.tg.ctx); // the customer's e-mails are made
  const emails = ok(await p.call('GET', `/v1/emails?customer_id=${customer}`), 'emails');
  expect(emails.data.length).toBeGreaterThan(0);
  const dispute = ok(await p.call('POST', `/v1/test-helpers/payments/${payments.data[0]?.id}/dispute`, {}), 'dispute');
  const sessionToken = new URL(session.urls.credits).searchParams.get('session') ?? '';
  return {
    customer,
    hold: hold.id,
    checkout: s.session_id,
    payment: payments.data[0]?.id ?? UNKNOWN.payment,
    link: link.id,
    product,
    order: order.id,
    event: events.data[0]?.id ?? UNKNOWN.event,
    endpoint: endpoint.id,
    delivery: deliveries.data[0]?.id ?? UNKNOWN.delivery,
    invoice: invoices.data[0]?.id ?? UNKNOWN.invoice,
    email: emails.data[0].id,
    dispute: dispute.id,
    secret: 'api_key',
    member: 'member_1',
    // A billing-portal token needs a live subscription: the portal page is walked with an unknown one.
    portal: UNKNOWN.portal!,
    session: sessionToken,
    project: p.id,
    provider: 'stripe',
  };
}

/** Fills a route pattern's parameters from one id set; `null` when the route takes no id. */
function fill(url: string, ids: Ids, project: string): string {
  const byParent: Record<string, string> = {
    customers: 'customer',
    holds: 'hold',
    checkout: 'checkout',
    payments: 'payment',
    'payment-links': 'link',
    pay: 'link',
    products: 'product',
    orders: 'order',
    events: 'event',
    'webhook-endpoints': 'endpoint',
    'webhook-deliveries': 'delivery',
    invoices: 'invoice',
    emails: 'email',
    disputes: 'dispute',
    secrets: 'secret',
    members: 'member',
    portal: 'portal',
    return: 'checkout',
    providers: 'provider',
  };
  const parts = url.split('/');
  return parts
    .map((seg, i) => {
      if (seg === ':project') return encodeURIComponent(project);
      if (!seg.startsWith(':')) return seg;
      const kind = byParent[parts[i - 1] ?? ''];
      if (!kind) throw new Error(`no id kind for ${seg} in ${url}`);
      return encodeURIComponent(ids[kind] ?? '');
    })
    .join('/');
}

/** Row count and checksum of every table of the schema under test. */
async function snapshot(): Promise<Record<string, string>> {
  const tables = await h.db.query<{ t: string }>(
    `SELECT table_name AS t FROM information_schema.tables
     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`,
  );
  const out: Record<string, string> = {};
  for (const { t } of tables.rows) {
    // A key's last use is access telemetry, written after any request made with the key (a GET too,
    // at most once per 5 minutes): the one column left out (docs/dashboard.md, "Keys").
    const row = t === 'api_keys' ? `(to_jsonb(x) - 'last_used_at')::text` : 'x::text';
    const r = await h.db.query<{ n: number; sum: string | null }>(
      `SELECT COUNT(*)::int AS n, md5(COALESCE(string_agg(${row}, '|' ORDER BY ${row}), '')) AS sum FROM "${t}" x`,
    );
    out[t] = `${r.rows[0]?.n}:${r.rows[0]?.sum}`;
  }
  return out;
}

beforeAll(async () => {
  h = await createHarness();
  a = await h.project({ catalog: catalog() });
  b = await h.project({ catalog: catalog('b-only-kit') });
  real = await seedProject(a, 'cust_real');
  foreign = await seedProject(b, 'cust_foreign', 'b-only-kit');
  const email = 'walker@example.com';
  await createOperator(h.tg.ctx, { email, password: 'correct horse battery staple' });
  const r = await h.inject({ method: 'POST', url: '/dashboard/api/login', payload: { email, password: 'correct horse battery staple' } });
  expect(r.status).toBe(200);
  cookie = String(r.headers['set-cookie']).split(';')[0]!;
}, 60_000);
afterAll(async () => h?.close());

/** Reads documented as audited (docs/vault.md): they add an audit row and change nothing else. */
const AUDITED_READS = new Set(['/v1/customers/:id/secrets/:name/resolve']);

/** Sub-paths the dashboard's catch-all routes are walked with (the customer page's reads among them). */
const PROXIED = (ids: Ids) => [
  `customers/${ids.customer}`,
  `customers/${ids.customer}/credits/transactions?limit=20`,
  `customers/${ids.customer}/subscription`,
  `customers/${ids.customer}/orders?limit=5`,
  `customers/${ids.customer}/secrets`,
  `payments?limit=10&customer_id=${ids.customer}`,
  `customers/${ids.customer}/emails?limit=10`,
  `emails?limit=50&customer_id=${ids.customer}`,
  `emails/${ids.email}`,
];

interface Req {
  url: string;
  headers: Record<string, string>;
  /** The path names an id that must exist: an unknown one answers 404. */
  named: boolean;
  /** A foreign id must answer 404 too (false for public pages keyed by their own id, and the dashboard, whose operator sees every project). */
  scoped: boolean;
}

const REQUIRED_QUERY: Record<string, string> = {
  '/v1/customers/:id/subscription/preview': '?plan=pro',
  // The entitlement stream stays open; `once` sends its initial messages and ends.
  '/v1/stream': '?once=true',
};

function requestsFor(url: string, ids: Ids): Req[] {
  const key = { authorization: `Bearer ${a.key}` };
  if (url === '/dashboard/api/p/:project/v1/*')
    return PROXIED(ids).map((rest) => ({
      url: `/dashboard/api/p/${a.id}/v1/${rest}`,
      headers: { cookie },
      named: rest.startsWith('customers/'),
      scoped: true,
    }));
  if (url === '/dashboard/*') return ['index.html', 'app.js'].map((f) => ({ url: `/dashboard/${f}`, headers: { cookie }, named: false, scoped: false }));
  if (url.startsWith('/dashboard')) return [{ url: fill(url, ids, ids.project!), headers: { cookie }, named: url.includes(':'), scoped: false }];
  if (url.includes('*')) return [{ url: url.replace('*', 'index.css'), headers: key, named: false, scoped: false }];
  // Hosted pages act for the customer of a session (?session=): without a session for that project
  // they answer 401, so they do not reveal whether a project exists.
  if (url.startsWith('/p/:project/')) {
    const session = ids === real ? `?session=${encodeURIComponent(real.session!)}` : '';
    return [{ url: `${fill(url, ids, ids.project!)}${session}`, headers: {}, named: false, scoped: false }];
  }
  const named = url.includes(':');
  const publicPage = !url.startsWith('/v1/');
  // Routes whose query names what to read are asked with one (a missing query is a 400 before any lookup).
  const query = REQUIRED_QUERY[url] ?? '';
  // A provider name (stripe, paypal) is the installation's, not a project's: another project's is not foreign.
  const global = url.includes(':provider');
  return [{ url: `${fill(url, ids, ids.project!)}${query}`, headers: key, named, scoped: named && !publicPage && !global }];
}

describe('issue 11 item 12: reads never write, on every GET/HEAD route', () => {
  it('walks every registered GET and HEAD route with real, unknown and foreign ids: the database does not change', async () => {
    const routes = listRoutes(h.tg.app).filter((r) => r.method === 'GET' || r.method === 'HEAD');
    expect(routes.length).toBeGreaterThan(80);
    const before = await snapshot();
    const auditOthers = Number((await h.db.query<{ n: number }>("SELECT COUNT(*)::int AS n FROM audit_log WHERE action <> 'secret.resolved'")).rows[0]?.n);
    const changed: string[] = [];
    const missing404: string[] = [];
    for (const route of routes) {
      for (const [label, ids] of [
        ['real', real],
        ['unknown', UNKNOWN],
        ['foreign', foreign],
      ] as const) {
        for (const req of requestsFor(route.url, ids)) {
          const res = await h.inject({ method: route.method as 'GET', url: req.url, headers: req.headers });
          expect(res.status, `${route.method} ${req.url}`).toBeLessThan(500);
          const must404 = req.named && (label === 'unknown' || (label === 'foreign' && req.scoped));
          if (!must404) continue;
          if (res.status !== 404) missing404.push(`${route.method} ${req.url} (${label}) → ${res.status}`);
          else if (route.method === 'GET' && /^\/(v1|dashboard\/api)\//.test(req.url) && !/^[a-z_]*not_found$/.test(String(res.body?.error?.code)))
            missing404.push(`${route.method} ${req.url} (${label}) → 404 without a *_not_found code: ${res.raw.slice(0, 120)}`);
        }
      }
      const after = await snapshot();
      const diff = Object.keys({ ...before, ...after }).filter((t) => before[t] !== after[t]);
      if (AUDITED_READS.has(route.url) && diff.join() === 'audit_log') {
        // The one read that writes: handing out a secret's plaintext leaves an audit row, and nothing else.
        const other = await h.db.query<{ n: number }>("SELECT COUNT(*)::int AS n FROM audit_log WHERE action <> 'secret.resolved'");
        expect(Number(other.rows[0]?.n), `${route.method} ${route.url} wrote other audit rows`).toBe(auditOthers);
        Object.assign(before, after);
        continue;
      }
      if (diff.length) {
        changed.push(`${route.method} ${route.url}: ${diff.join(', ')}`);
        Object.assign(before, after);
      }
    }
    expect({ changed, missing404 }).toEqual({ changed: [], missing404: [] });
  }, 240_000);
});
