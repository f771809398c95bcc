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
  const raw = opts.raw ?? `${prefix}_${opts.live ? 'live' : 'test'}_${randomToken(32)}`;
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

export async function listKeys(ctx: AppContext, projectId: string) {
  return (await repo.listKeys(ctx.db, projectId)).map(({ key_hash: _h, ...k }) => k);
}

export async function revokeKey(ctx: AppContext, q: Queryable, projectId: string, id: string) {
  const row = await repo.revokeKey(q, projectId, id, ctx.clock.now());
  if (!row) throw new NotFoundError('key', id);
  await invalidate(ctx.db, [{ scope: 'keys' }]);
  const { key_hash: _h, ...rest } = row;
  return rest;
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

export const ProjectPatchBody = z
  .object({
    name: z.string().min(1).max(200).optional(),
    cors_origins: z.array(Origin).max(50).optional(),
    api_keys: z.object({ prefix: ApiKeyPrefixSchema }).strict().optional(),
    /** E-mails to customers (docs/emails.md): merged into `settings.email`. */
    email: EmailSettingsPatch.optional(),
    /** What a dispute does to what the payment bought (docs/disputes.md): `settings.disputes`. */
    disputes: z.object({ on_open: z.enum(DISPUTE_POLICIES) }).strict().optional(),
  })
  .strict();

function projectView(p: repo.ProjectRow) {
  return {
    id: p.id,
    object: 'project',
    name: p.name,
    default_provider: p.default_provider,
    cors_origins: p.cors_origins,
    api_keys: { prefix: (p.settings?.api_keys as { prefix?: string } | undefined)?.prefix ?? null },
    catalog_version: p.catalog_version,
    email: (p.settings as { email?: EmailSettings }).email ?? {},
    disputes: { on_open: (p.settings?.disputes as { on_open?: DisputePolicy } | undefined)?.on_open ?? DEFAULT_DISPUTE_POLICY },
    created_at: p.created_at,
  };
}

export async function getProjectView(ctx: AppContext, projectId: string) {
  return projectView(await getProject(ctx, projectId));
}

/** The project's e-mail settings, its row locked so two patches merge one after the other. */
async function lockedEmailSettings(q: Queryable, projectId: string): Promise<EmailSettings | undefined> {
  const row = await repo.lockProject(q, projectId);
  if (!row) throw new NotFoundError('project', projectId);
  return (row.settings as { email?: EmailSettings }).email;
}

/** Project settings an operator may change: its display name and the browser origins allowed by CORS. */
export async function updateProject(ctx: AppContext, q: Queryable, caller: Caller, body: z.infer<typeof ProjectPatchBody>) {
  const row = await repo.updateProjectSettings(q, caller.projectId, {
    name: body.name,
    cors_origins: body.cors_origins ? [...new Set(body.cors_origins)] : undefined,
    settings:
      body.api_keys || body.email || body.disputes
        ? {
            ...(body.api_keys ? { api_keys: body.api_keys } : {}),
            ...(body.disputes ? { disputes: body.disputes } : {}),
            ...(body.email ? { email: mergeEmailSettings(await lockedEmailSettings(q, caller.projectId), body.email) } : {}),
          }
        : undefined,
  });
  if (!row) throw new NotFoundError('project', caller.projectId);
  await audit(q, caller, { action: 'project.updated', target: caller.projectId, details: body }, ctx.clock.now());
  await invalidateProject(ctx, caller.projectId);
  return projectView(row);
}

export { repo as projectsRepository };
