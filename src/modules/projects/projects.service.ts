import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DEFAULT_DISPUTE_POLICY, DISPUTE_POLICIES, type DisputePolicy } from '../../domain/disputes.ts';
import type { Queryable } from '../../db/db.ts';
import { ConflictError, InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import { type EmailSettings, EmailSettingsPatch, mergeEmailSettings } from '../../domain/emails.ts';
import { newId, randomToken } from '../../domain/ids.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { audit } from '../audit/audit.service.ts';
import { cacheOf, invalidate } from '../../db/invalidation.ts';
import * as repo from './projects.repository.ts';

export type { ProjectRow } from './projects.repository.ts';

export const KEY_SCOPES = ['full', 'read', 'secrets:reveal'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];

export function hashKey(raw: string): string {
  return createHash('sha256').update(raw).digest('hex');
}

export function keyPreview(raw: string): string {
  return `${raw.slice(0, Math.min(12, raw.length - 4))}…${raw.slice(-4)}`;
}

const PROJECT_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;

export type Mode = 'test' | 'live';

/**
 * The live twin of a test project (docs/modes.md). "_" is outside the project id alphabet, so a twin id
 * can never be taken by a user's project; it is reserved by creating the twin with its test project.
 */
export function liveProjectId(testProjectId: string): string {
  return `${testProjectId}_live`;
}

/** The project row of the given mode in the pair a project belongs to. */
export function projectIdOfMode(p: Pick<repo.ProjectRow, 'id' | 'test_project_id'>, mode: Mode): string {
  const testId = p.test_project_id ?? p.id;
  return mode === 'live' ? liveProjectId(testId) : testId;
}

export function slugify(name: string): string {
  return name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
}

export interface CreatedKey {
  id: string;
  key: string;
  kind: 'secret' | 'publishable';
  scopes: string[];
  preview: string;
  created_at: Date;
}

export async function createKey(
  q: Queryable,
  projectId: string,
  opts: { kind: 'secret' | 'publishable'; scopes?: string[]; name?: string; raw?: string; live?: boolean },
): Promise<CreatedKey> {
  const prefix = opts.kind === 'secret' ? 'sk' : 'pk';
  // A key's mode is its project's: a live key belongs to the live twin (docs/modes.md).
  const live = projectId.endsWith('_live');
  if (opts.live !== undefined && opts.live !== live) throw new Error(`a ${opts.live ? 'live' : 'test'} key cannot belong to project ${projectId}`);
  const raw = opts.raw ?? `${prefix}_${live ? 'live' : 'test'}_${randomToken(32)}`;
  const scopes = opts.kind === 'publishable' ? ['publishable'] : (opts.scopes ?? ['full']);
  const row = await repo.insertApiKey(q, {
    id: newId('key'),
    projectId,
    kind: opts.kind,
    hash: hashKey(raw),
    preview: keyPreview(raw),
    scopes,
    name: opts.name,
  });
  return { id: row.id, key: raw, kind: row.kind, scopes: row.scopes, preview: row.preview, created_at: row.created_at };
}

/**
 * A key of the caller's project pair in the mode asked (the caller's own by default): a test key may
 * create the live mode's keys and the reverse, as Stripe's dashboard does (docs/modes.md).
 */
export async function createModeKey(
  ctx: AppContext,
  q: Queryable,
  caller: Caller,
  opts: { kind: 'secret' | 'publishable'; scopes?: string[]; name?: string; mode?: Mode },
): Promise<CreatedKey & { project_id: string; mode: Mode }> {
  const own = await getProject(ctx, caller.projectId);
  const mode = opts.mode ?? own.mode;
  const projectId = projectIdOfMode(own, mode);
  // Projects made before test and live modes have their twin from migration 0032; make sure anyway.
  if (mode === 'live' && !(await repo.findProject(q, projectId))) {
    await repo.insertLiveTwin(q, { id: projectId, testProjectId: own.id, sandboxWebhookSecret: `whsec_${Buffer.from(randomToken(32)).toString('base64')}` });
  }
  const key = await createKey(q, projectId, { kind: opts.kind, scopes: opts.scopes, name: opts.name, live: mode === 'live' });
  return { ...key, project_id: projectId, mode };
}

export async function createProject(
  ctx: AppContext,
  input: { id?: string; name: string; keyPrefix?: string },
): Promise<{ project: repo.ProjectRow; secretKey: CreatedKey; publishableKey: CreatedKey; created: boolean }> {
  const id = input.id ?? slugify(input.name);
  if (!PROJECT_ID.test(id)) throw new InvalidRequestError('project id must be 2-63 lowercase letters, digits or "-"', 'id');
  return ctx.db.tx(async (trx) => {
    const inserted = await repo.insertProject(trx, {
      id,
      name: input.name,
      sandboxWebhookSecret: `whsec_${Buffer.from(randomToken(32)).toString('base64')}`,
    });
    const project = inserted ?? (await repo.findProject(trx, id));
    if (!project) throw new Error(`project ${id} vanished`);
    if (project.mode !== 'test') throw new InvalidRequestError(`'${id}' is a live project; create projects by their test id`, 'id');
    await repo.insertLiveTwin(trx, {
      id: liveProjectId(id),
      testProjectId: id,
      sandboxWebhookSecret: `whsec_${Buffer.from(randomToken(32)).toString('base64')}`,
    });
    // Keys are stored hashed and shown once: an existing project never gets a key pair nobody sees.
    // Only fixed demo keys (`<prefix>_<project>`) are re-made, which keeps them valid and adds no row.
    if (!inserted && !input.keyPrefix) {
      throw new ConflictError(`project '${id}' already exists; create a key with "tollgate keys create --project ${id}"`, { project: id });
    }
    const secretKey = await createKey(trx, id, {
      kind: 'secret',
      scopes: ['full', 'secrets:reveal'],
      name: 'default',
      raw: input.keyPrefix ? `${input.keyPrefix}_${id}` : undefined,
    });
    const publishableKey = await createKey(trx, id, {
      kind: 'publishable',
      name: 'default',
      raw: input.keyPrefix ? `${input.keyPrefix.replace(/^sk_/, 'pk_')}_${id}` : undefined,
    });
    return { project, secretKey, publishableKey, created: Boolean(inserted) };
  });
}

type KeyHit = { caller: Omit<Caller, 'ip'>; project: repo.ProjectRow };

/** Resolves a raw API key; cached (a revocation on any instance invalidates it, see `db/invalidation.ts`). */
export async function authenticateKey(
  ctx: AppContext,
  raw: string,
): Promise<{ caller: Omit<Caller, 'ip'>; project: repo.ProjectRow } | undefined> {
  const hash = hashKey(raw);
  const keyCache = cacheOf<KeyHit>(ctx.db, 'keys');
  const hit = keyCache.get(hash);
  if (hit) return hit;
  const row = await repo.findKeyByHash(ctx.db, hash);
  if (!row) return undefined;
  const value = {
    caller: {
      projectId: row.project_id,
      keyId: row.id,
      kind: row.kind,
      scopes: row.scopes,
      actor: `key:${row.id}`,
      mode: row.project.mode,
    },
    project: row.project,
  };
  keyCache.set(hash, value);
  return value;
}

export async function getProject(ctx: AppContext, id: string): Promise<repo.ProjectRow> {
  const projectCache = cacheOf<repo.ProjectRow>(ctx.db, 'project');
  const hit = projectCache.get(id);
  if (hit) return hit;
  const row = await repo.findProject(ctx.db, id);
  if (!row) throw new NotFoundError('project', id);
  projectCache.set(id, row);
  return row;
}

/** After a project row changes (settings, test clock, origins): every instance re-reads it. */
export async function invalidateProject(ctx: AppContext, id: string): Promise<void> {
  await invalidate(ctx.db, [{ scope: 'project', key: id }, { scope: 'keys' }]);
}

/** The project's "now": the server clock plus the project's test-clock offset. */
export async function projectNow(ctx: AppContext, projectId: string): Promise<Date> {
  return projectTime(ctx, await getProject(ctx, projectId));
}

/** The project's "now" read from the database, never from a cache (moving the test clock starts from it). */
export async function projectNowUncached(ctx: AppContext, projectId: string): Promise<Date> {
  const row = await repo.findProject(ctx.db, projectId);
  if (!row) throw new NotFoundError('project', projectId);
  return projectTime(ctx, row);
}

/** The same, for a project row already in hand. */
export function projectTime(ctx: AppContext, p: Pick<repo.ProjectRow, 'clock_offset_ms'>): Date {
  return new Date(ctx.clock.now().getTime() + Number(p.clock_offset_ms));
}

/** The mode of a project row by its id: only a live twin's id has the `_live` suffix (liveProjectId). */
export const keyMode = (projectId: string): Mode => (projectId.endsWith('_live') ? 'live' : 'test');

export async function listKeys(ctx: AppContext, projectId: string) {
  return (await repo.listKeys(ctx.db, projectId)).map(({ key_hash: _h, ...k }) => ({ ...k, mode: keyMode(k.project_id) }));
}

export async function revokeKey(ctx: AppContext, q: Queryable, projectId: string, id: string) {
  const row = await repo.revokeKey(q, projectId, id, ctx.clock.now());
  if (!row) throw new NotFoundError('key', id);
  await invalidate(ctx.db, [{ scope: 'keys' }]);
  const { key_hash: _h, ...rest } = row;
  return { ...rest, mode: keyMode(rest.project_id) };
}

/** An origin as browsers send it: scheme, host and optional port, nothing else. */
const Origin = z
  .string()
  .max(200)
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === v;
    } catch {
      return false;
    }
  }, 'must be an origin such as "https://app.example.com" (scheme, host, optional port; no path or trailing slash)');

/** The prefix of the project's customer API keys (`settings.api_keys.prefix`, docs/api-keys.md); never `sk`/`pk`. */
export const ApiKeyPrefixSchema = z
  .string()
  .regex(/^[a-z][a-z0-9]{1,15}$/, 'must be 2-16 lowercase letters or digits, starting with a letter')
  .refine((p) => p !== 'sk' && p !== 'pk', 'sk and pk are the prefixes of Tollgate keys');

/** Requests per second; 0 = unlimited, null = back to the server default (TOLLGATE_RATE_LIMIT_*). */
const PerSecond = z.number().int('must be a whole number').min(0, 'must be 0 (unlimited) or more').max(100_000, 'must be at most 100000').nullable().optional();

export const RateLimitPatch = z
  .object({ per_key_per_second: PerSecond, per_customer_per_second: PerSecond })
  .strict()
  .describe('Merged into settings.rate_limit; a null field returns to the server default');

const HexColor = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a color such as "#4f46e5"');
const LogoUrl = z
  .string()
  .max(2048)
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'must be an absolute http(s) URL');

/** What hosted pages and e-mails show, over the catalog's `theme` (null: the catalog's value). */
export const BrandingPatch = z
  .object({
    name: z.string().trim().min(1, 'must not be empty').max(100).nullable().optional(),
    primary_color: HexColor.nullable().optional(),
    logo_url: LogoUrl.nullable().optional(),
  })
  .strict();

/** A BCP 47 locale for hosted pages and e-mails, over the catalog's `locale`. */
export const ProjectLocale = z
  .string()
  .max(35)
  .refine((l) => {
    try {
      return Intl.getCanonicalLocales(l).length === 1;
    } catch {
      return false;
    }
  }, 'must be a BCP 47 locale such as "fr-FR"');

export interface ProjectBranding {
  name?: string;
  primary_color?: string;
  logo_url?: string;
}

export const ProjectPatchBody = z
  .object({
    name: z.string().min(1).max(200).optional(),
    rate_limit: RateLimitPatch.optional(),
    branding: BrandingPatch.optional(),
    locale: ProjectLocale.nullable().optional(),
    cors_origins: z.array(Origin).max(50).optional(),
    api_keys: z.object({ prefix: ApiKeyPrefixSchema }).strict().optional(),
    /** E-mails to customers (docs/emails.md): merged into `settings.email`. */
    email: EmailSettingsPatch.optional(),
    /** `shared`: live mode sells the test catalog again; `own`: its own (pushed in live mode) catalog (docs/modes.md). */
    live_catalog: z.enum(['shared', 'own']).optional(),
    /** What a dispute does to what the payment bought (docs/disputes.md): `settings.disputes`. */
    disputes: z.object({ on_open: z.enum(DISPUTE_POLICIES) }).strict().optional(),
  })
  .strict();

/** A patch of an object setting: a null field is removed, the others replace theirs. */
function mergeFields(current: unknown, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...((current as Record<string, unknown> | undefined) ?? {}) };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** The project's own branding and locale (PATCH /v1/project), shown over the catalog's theme and locale. */
export function projectBranding(p: Pick<repo.ProjectRow, 'settings'>): { branding: ProjectBranding; locale: string | null } {
  const s = p.settings as { branding?: ProjectBranding; locale?: string };
  return { branding: s.branding ?? {}, locale: s.locale ?? null };
}

function rateLimitView(ctx: AppContext, p: repo.ProjectRow) {
  const rl = (p.settings?.rate_limit ?? {}) as { per_key_per_second?: number; per_customer_per_second?: number };
  return {
    per_key_per_second: rl.per_key_per_second ?? null,
    per_customer_per_second: rl.per_customer_per_second ?? null,
    server_defaults: { per_key_per_second: ctx.config.rateLimit.perKeyPerSecond, per_customer_per_second: ctx.config.rateLimit.perCustomerPerSecond },
  };
}

function projectView(ctx: AppContext, p: repo.ProjectRow, liveCatalogShared: boolean, catalogVersion = Number(p.catalog_version)) {
  const { branding, locale } = projectBranding(p);
  return {
    rate_limit: rateLimitView(ctx, p),
    branding: { name: branding.name ?? null, primary_color: branding.primary_color ?? null, logo_url: branding.logo_url ?? null },
    locale,
    id: p.id,
    object: 'project',
    mode: p.mode,
    test_project_id: projectIdOfMode(p, 'test'),
    live_project_id: projectIdOfMode(p, 'live'),
    live_catalog: liveCatalogShared ? ('shared' as const) : ('own' as const),
    name: p.name,
    default_provider: p.default_provider,
    cors_origins: p.cors_origins,
    api_keys: { prefix: (p.settings?.api_keys as { prefix?: string } | undefined)?.prefix ?? null },
    // A live mode sharing the test catalog reads the test catalog's version.
    catalog_version: catalogVersion,
    email: (p.settings as { email?: EmailSettings }).email ?? {},
    disputes: { on_open: (p.settings?.disputes as { on_open?: DisputePolicy } | undefined)?.on_open ?? DEFAULT_DISPUTE_POLICY },
    created_at: p.created_at,
  };
}

/** Whether the live mode of a project's pair reads the test catalog. */
async function liveCatalogShared(ctx: AppContext, p: repo.ProjectRow, q: Queryable = ctx.db): Promise<boolean> {
  if (p.mode === 'live') return p.live_catalog_shared;
  const twin = q.inTransaction ? await repo.findProject(q, liveProjectId(p.id)) : await getProject(ctx, liveProjectId(p.id)).catch(() => undefined);
  return twin?.live_catalog_shared ?? true;
}

export async function getProjectView(ctx: AppContext, projectId: string) {
  const p = await getProject(ctx, projectId);
  const shared = await liveCatalogShared(ctx, p);
  const catalogOf = p.mode === 'live' && shared && p.test_project_id ? await getProject(ctx, p.test_project_id) : p;
  return projectView(ctx, p, shared, Number(catalogOf.catalog_version));
}

/** The project's e-mail settings, its row locked so two patches merge one after the other. */
async function lockedEmailSettings(q: Queryable, projectId: string): Promise<EmailSettings | undefined> {
  const row = await repo.lockProject(q, projectId);
  if (!row) throw new NotFoundError('project', projectId);
  return (row.settings as { email?: EmailSettings }).email;
}

/** Project settings an operator may change: its display name and the browser origins allowed by CORS. */
export async function updateProject(ctx: AppContext, q: Queryable, caller: Caller, body: z.infer<typeof ProjectPatchBody>) {
  // Settings merged field by field read the row locked, so two patches apply one after the other.
  const locked = body.rate_limit || body.branding ? await repo.lockProject(q, caller.projectId) : undefined;
  if ((body.rate_limit || body.branding) && !locked) throw new NotFoundError('project', caller.projectId);
  const settings: Record<string, unknown> = {
    ...(body.api_keys ? { api_keys: body.api_keys } : {}),
    ...(body.email ? { email: mergeEmailSettings(await lockedEmailSettings(q, caller.projectId), body.email) } : {}),
    ...(body.rate_limit ? { rate_limit: mergeFields(locked?.settings.rate_limit, body.rate_limit) } : {}),
    ...(body.branding ? { branding: mergeFields(locked?.settings.branding, body.branding) } : {}),
    ...(body.disputes ? { disputes: body.disputes } : {}),
  };
  let row = await repo.updateProjectSettings(q, caller.projectId, {
    name: body.name,
    cors_origins: body.cors_origins ? [...new Set(body.cors_origins)] : undefined,
    settings: Object.keys(settings).length ? settings : undefined,
  });
  if (row && body.locale !== undefined) row = await repo.setProjectLocale(q, caller.projectId, body.locale);
  if (!row) throw new NotFoundError('project', caller.projectId);
  const liveId = projectIdOfMode(row, 'live');
  if (body.live_catalog) {
    const twin = await repo.lockProject(q, liveId);
    if (!twin) throw new NotFoundError('project', liveId);
    if (body.live_catalog === 'own' && Number(twin.catalog_version) === 0) {
      throw new ConflictError('Live mode has no catalog of its own yet: push one in live mode (tollgate push <file> --mode live, or PUT /v1/catalog with a live key)', {
        param: 'live_catalog',
      });
    }
    await repo.setLiveCatalogShared(q, liveId, body.live_catalog === 'shared');
    await invalidate(ctx.db, [{ scope: 'catalog', key: liveId }]);
  }
  await audit(q, caller, { action: 'project.updated', target: caller.projectId, details: body }, ctx.clock.now());
  await invalidateProject(ctx, caller.projectId);
  await invalidateProject(ctx, projectIdOfMode(row, row.mode === 'live' ? 'test' : 'live'));
  if (body.live_catalog && row.mode === 'live') return projectView(ctx, (await repo.findProject(q, row.id)) ?? row, body.live_catalog === 'shared');
  return projectView(ctx, row, await liveCatalogShared(ctx, row, q));
}

export { repo as projectsRepository };
