import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CatalogSchema, CreditPackSchema, PlanFeatureSchema } from '../../domain/catalog.ts';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { errorResponses, replies } from '../../http/openapi.ts';
import { InvalidRequestError } from '../../domain/errors.ts';
import { Money } from '../../http/schemas.ts';
import { diffCatalogs, describeDiff } from '../../domain/catalog-diff.ts';
import { getCatalog, publicPlans, putCatalog, validateCatalog } from './catalog.service.ts';

/** The catalog as stored (defaults filled in), with its version. */
const CatalogReply = z
  .object({ version: z.number().int() })
  .extend(CatalogSchema.shape)
  .extend({
    // per_credit is > 0; said in words here: OpenAPI 3.0's boolean exclusiveMinimum does not survive JSON Schema validators.
    credit_packs: z.array(CreditPackSchema.extend({ unit: z.object({ label: z.string(), per_credit: z.number().describe('greater than 0') }).strict().optional() })),
  })
  .strict();
const FieldChange = z.object({
  field: z.string(),
  before: z.unknown().describe('Absent when the field was not set'),
  after: z.unknown().describe('Absent when the field is removed'),
});
const CatalogDiffReply = z
  .object({
    object: z.literal('catalog_diff'),
    current_version: z.number().int().describe('The version the diff is against (0: no catalog yet)'),
    items: z.array(
      z.object({
        section: z.enum(['features', 'plans', 'credit_packs', 'products', 'coupons']),
        id: z.string(),
        change: z.enum(['added', 'removed', 'changed']),
        fields: z.array(FieldChange).optional().describe('For `changed`: each differing field'),
      }),
    ),
    settings: z.array(FieldChange).describe('Top-level settings (currency, signup_credits, theme …) that differ'),
    lines: z.array(z.string()).describe('The diff as `tollgate push --dry-run` prints it: `+ plan pro`, `- credit pack small`, `~ plan basic` …'),
  })
  .strict();
const PublicPlans = z.object({
  currency: z.string(),
  plans: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      description: z.string().nullable(),
      price: Money,
      interval: z.enum(['month', 'year']),
      trial_days: z.number().int(),
      trial_requires_card: z.boolean(),
      per_seat: z.boolean(),
      included_credits: z.number().int(),
      features: z.record(z.string(), PlanFeatureSchema),
      popular: z.boolean(),
      free: z.boolean(),
      monthly_price: Money.describe('The price per month (a yearly price divided by 12, rounded)'),
    }),
  ),
  credit_packs: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      credits: z.number().int(),
      price: Money,
      popular: z.boolean(),
      price_per_credit: Money.describe('Rounded to a minor unit'),
      price_per_credit_decimal: z.string().describe('Exactly, in minor units with two decimals'),
      savings_percent: z.number().int().describe('Against the dearest pack per credit'),
      units: z
        .object({ label: z.string(), per_credit: z.number(), amount: z.number() })
        .nullable()
        .describe("What the pack buys in the product's unit; null when the catalog does not say"),
      pay_what_you_want: z
        .object({
          min: Money.describe('The least the buyer may pay'),
          max: Money.describe('The most the buyer may pay'),
          credits_per_unit: z.number().int().describe('Credits per one major unit of the currency (per €1), rounded down'),
          currency_exponent: z.number().int().describe('Minor units per major unit, as a power of ten (2 for eur: 750 = 7.50 €)'),
        })
        .nullable()
        .describe('The buyer picks the amount (checkout `amount`; `price` is the suggestion); null for a fixed-price pack'),
    }),
  ),
  free_plan: z.string().nullable(),
  default_trial: z.object({ plan: z.string(), days: z.number().int() }).nullable(),
  theme: z
    .object({ name: z.string().optional(), primary_color: z.string().optional(), accent_color: z.string().optional(), logo_url: z.string().optional() })
    .nullable(),
});

const ExpectedVersion = z.number().int().min(0).describe('Push only if the current catalog is this version (0: no catalog yet)');

/**
 * The version a push expects, from `If-Match: "<version>"` and/or the body's `expected_version`
 * (the body without it is the catalog). Both given and different, or unreadable: 400.
 */
function expectedVersionOf(ifMatch: string | string[] | undefined, body: unknown): { expected: number | undefined; catalog: unknown } {
  let fromHeader: number | undefined;
  const header = Array.isArray(ifMatch) ? ifMatch[0] : ifMatch;
  if (header !== undefined) {
    const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(header);
    if (!m) throw new InvalidRequestError('If-Match must be a catalog version in quotes, e.g. If-Match: "7"', 'If-Match');
    fromHeader = Number(m[1]);
  }
  let fromBody: number | undefined;
  let catalog = body;
  if (body && typeof body === 'object' && !Array.isArray(body) && 'expected_version' in body) {
    const { expected_version: v, ...rest } = body as Record<string, unknown>;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new InvalidRequestError("Invalid parameter 'expected_version': must be a catalog version (an integer >= 0)", 'expected_version');
    }
    fromBody = v;
    catalog = rest;
  }
  if (fromHeader !== undefined && fromBody !== undefined && fromHeader !== fromBody) {
    throw new InvalidRequestError(`If-Match (${fromHeader}) and expected_version (${fromBody}) name different versions`, 'expected_version');
  }
  return { expected: fromHeader ?? fromBody, catalog };
}

export function registerCatalogRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/v1/catalog', { schema: { response: replies({ 200: CatalogReply }) } }, async (req, reply) => {
    const { version, catalog } = await getCatalog(ctx, callerOf(req).projectId);
    reply.header('etag', `"${version}"`);
    return { version, ...catalog };
  });

  app.get('/v1/catalog/schema', { schema: { summary: 'Get the catalog JSON Schema', response: replies({ 200: z.record(z.string(), z.unknown()).describe('The JSON Schema (draft 2020-12) of a catalog body') }) }, config: { auth: 'publishable' } }, async () => z.toJSONSchema(CatalogSchema, { io: 'input' }));

  app.put(
    '/v1/catalog',
    {
      // The body is described by CatalogSchema; putCatalog validates it itself (with the catalog's
      // own cross-checks and messages), so the route does not run a second validation.
      schema: {
        summary: 'Replace the catalog',
        description:
          'With `If-Match: "<version>"` (the `version` of GET /v1/catalog, also its `ETag`) or `expected_version` in the body, the push happens only if the catalog is still that version; otherwise 409 `conflict` (with `current_version`) and nothing changes.',
        headers: z.object({ 'if-match': z.string().max(64).optional().describe('"<version>": push only over this catalog version') }),
        body: CatalogSchema.extend({ expected_version: ExpectedVersion.optional() }),
        response: replies({ 200: CatalogReply, ...errorResponses('conflict') }),
      },
      validatorCompiler: () => (data) => ({ value: data }),
    },
    async (req, reply) => {
      const { expected, catalog: input } = expectedVersionOf(req.headers['if-match'], req.body);
      return idempotent(ctx, req, reply, async (trx) => {
        const { version, catalog } = await putCatalog(ctx, trx, callerOf(req), input, { expectedVersion: expected });
        reply.header('etag', `"${version}"`);
        return { body: { version, ...catalog } };
      });
    },
  );

  app.post(
    '/v1/catalog/diff',
    {
      // Validated by validateCatalog, as PUT /v1/catalog; nothing is stored, so no Idempotency-Key is needed.
      schema: { summary: 'Preview a catalog push (validate and diff, change nothing)', body: CatalogSchema, response: replies({ 200: CatalogDiffReply }) },
      validatorCompiler: () => (data) => ({ value: data }),
    },
    async (req) => {
      const next = validateCatalog(req.body);
      const current = await getCatalog(ctx, callerOf(req).projectId);
      const diff = diffCatalogs(current.catalog, next);
      return { object: 'catalog_diff' as const, current_version: current.version, ...diff, lines: describeDiff(diff) };
    },
  );

  app.get('/v1/plans', { schema: { response: replies({ 200: PublicPlans }) }, config: { auth: 'publishable' } }, async (req) => {
    const { catalog } = await getCatalog(ctx, callerOf(req).projectId);
    return publicPlans(catalog);
  });
}
