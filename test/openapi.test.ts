import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOpenApiDocument, serializeDocument } from '../src/openapi-document.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { OPERATIONS_WITHOUT_SUCCESS_SCHEMA } from './support/openapi-gaps.ts';

type Op = {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: unknown[];
  deprecated?: boolean;
  parameters?: { in: string; name: string }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
};
type Doc = { servers?: { url: string }[]; paths: Record<string, Record<string, Op>> };

let h: Harness;
let doc: Doc;
const ops: [string, Op][] = [];

beforeAll(async () => {
  h = await createHarness();
  doc = (await h.inject({ method: 'GET', url: '/openapi.json' })).body as Doc;
  for (const [path, item] of Object.entries(doc.paths)) for (const [m, op] of Object.entries(item)) ops.push([`${m.toUpperCase()} ${path}`, op]);
});
afterAll(() => h.close());

describe('the OpenAPI document', () => {
  it('describes every operation: operationId (unique), summary, tag, a described success reply, the error envelope', () => {
    expect(ops.length).toBeGreaterThan(80);
    const problems: string[] = [];
    const ids = new Set<string>();
    for (const [name, op] of ops) {
      if (!op.operationId) problems.push(`${name}: no operationId`);
      else if (ids.has(op.operationId)) problems.push(`${name}: duplicate operationId ${op.operationId}`);
      else ids.add(op.operationId);
      if (!op.summary) problems.push(`${name}: no summary`);
      if (!op.tags?.length) problems.push(`${name}: no tag`);
      const statuses = Object.keys(op.responses ?? {});
      const success = statuses.filter((s) => s.startsWith('2'));
      const described = success.some((s) => s === '204' || Object.values(op.responses?.[s]?.content ?? {}).some((c) => c.schema));
      if (!described && !OPERATIONS_WITHOUT_SUCCESS_SCHEMA.has(name)) problems.push(`${name}: no success reply schema`);
      if (described && OPERATIONS_WITHOUT_SUCCESS_SCHEMA.has(name)) problems.push(`${name}: described now, remove it from openapi-gaps.ts`);
      if (!statuses.includes('400') || !statuses.includes('500')) problems.push(`${name}: no error envelope`);
    }
    expect(problems).toEqual([]);
  });

  it('declares Idempotency-Key on authenticated mutations and security only where a key is needed', () => {
    for (const [name, op] of ops) {
      const method = name.split(' ')[0];
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      const header = op.parameters?.some((p) => p.in === 'header' && p.name === 'idempotency-key');
      if (method !== 'GET' && !isPublic) expect(header, name).toBe(true);
      if (method === 'GET') expect(header, name).toBeFalsy();
    }
    const receiver = doc.paths['/v1/webhooks/{provider}/{project}']?.post;
    expect(receiver?.security).toEqual([]);
    expect(doc.paths['/v1/customers/{id}/credits/deduct']?.post?.security).toBeUndefined(); // the global bearer
    expect(Object.keys(doc.paths).filter((p) => !p.startsWith('/v1/'))).toEqual([]); // pages are hidden
    expect(doc.servers?.[0]?.url).toBe('http://localhost:4242');
  });

  it('gives PUT /v1/catalog its body schema and accepts the README success_url with {CHECKOUT_SESSION_ID}', async () => {
    const put = doc.paths['/v1/catalog']?.put;
    const body = put?.requestBody?.content?.['application/json']?.schema as { properties?: Record<string, unknown> };
    expect(Object.keys(body?.properties ?? {})).toEqual(expect.arrayContaining(['plans', 'credit_packs']));
    const checkout = doc.paths['/v1/checkout']?.post?.requestBody?.content?.['application/json']?.schema;
    expect(JSON.stringify(checkout)).not.toContain('"format":"uri"');
    const p = await h.project({ catalog: { credit_packs: [{ id: 'pack_100', name: '100 credits', credits: 100, price: { amount: 500, currency: 'eur' } }] } as never });
    const res = await p.call('POST', '/v1/checkout', {
      customer_id: 'cus_readme',
      credit_pack: 'pack_100',
      success_url: 'https://app.example/credits?session={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://app.example/pricing',
    });
    expect(res.status, res.raw).toBe(201);
    const bad = await p.call('POST', '/v1/checkout', { customer_id: 'cus_readme', credit_pack: 'pack_100', success_url: 'javascript:alert(1)', cancel_url: 'https://app.example/pricing' });
    expect(bad.status).toBe(400);
  });

  it('describes the replies that are not JSON by their media type (invoice PDF, VAT report CSV)', () => {
    const pdf = doc.paths['/v1/invoices/{id}/pdf']?.get?.responses?.['200']?.content;
    expect(Object.keys(pdf ?? {})).toEqual(['application/pdf']);
    expect(pdf?.['application/pdf']?.schema).toEqual({ type: 'string', format: 'binary' });
    const vat = doc.paths['/v1/reports/vat']?.get?.responses?.['200']?.content;
    expect(Object.keys(vat ?? {}).sort()).toEqual(['application/json', 'text/csv']);
    expect(OPERATIONS_WITHOUT_SUCCESS_SCHEMA.size).toBe(0);
  });

  it('is written to openapi.json (npm run openapi) exactly as served', async () => {
    const served = serializeDocument(await buildOpenApiDocument());
    expect(served === readFileSync('openapi.json', 'utf8'), 'openapi.json is stale: run `npm run openapi`').toBe(true);
  });

  it("passes Redocly's recommended ruleset with no error", () => {
    const out = execFileSync('npx', ['redocly', 'lint', 'openapi.json', '--format=summary'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).not.toMatch(/error/i);
  }, 60_000);

  it('/docs serves the Scalar reference from this server (no CDN)', async () => {
    const page = await h.inject({ method: 'GET', url: '/docs' });
    expect(page.status).toBe(200);
    expect(page.raw).toContain('data-url="/openapi.json"');
    expect(page.raw).not.toMatch(/https?:\/\//);
    const js = await h.inject({ method: 'GET', url: '/docs/scalar.js' });
    expect(js.status).toBe(200);
    expect(js.raw.length).toBeGreaterThan(100_000);
  });
});
