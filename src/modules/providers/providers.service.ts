import type { Queryable } from '../../db/db.ts';
import { InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { getProvider } from '../../app/registry.ts';
import { decrypt, encrypt } from '../../lib/crypto.ts';
import { cacheOf, invalidate } from '../../db/invalidation.ts';
import { parseOrThrow } from '../../lib/validation.ts';
import { audit } from '../audit/audit.service.ts';
import { getProject, invalidateProject, projectsRepository } from '../projects/projects.service.ts';
import * as repo from './providers.repository.ts';

export const providerSettingsAad = (projectId: string, provider: string) => `provider_settings:${projectId}:${provider}`;
const aad = providerSettingsAad;

/** The decrypted settings of a provider for a project and the mode they were saved in, or undefined when not configured. */
export async function getProviderSettings<T>(
  ctx: AppContext,
  projectId: string,
  provider: string,
): Promise<{ config: T; mode: 'test' | 'live' } | undefined> {
  const k = `${projectId}:${provider}`;
  const cache = cacheOf<unknown>(ctx.db, 'provider');
  const hit = cache.get(k);
  if (hit) return hit as { config: T; mode: 'test' | 'live' };
  const row = await repo.findSettings(ctx.db, projectId, provider);
  if (!row) return undefined;
  const config = JSON.parse(decrypt(ctx.config.encryptionKeys, row.config_encrypted, aad(projectId, provider))) as T;
  const found = { config, mode: row.mode };
  cache.set(k, found);
  return found;
}

export async function getProviderMode(ctx: AppContext, projectId: string, provider: string): Promise<'test' | 'live' | undefined> {
  return (await repo.findSettings(ctx.db, projectId, provider))?.mode;
}

function view(row: repo.ProviderSettingsRow, defaultProvider: string) {
  return {
    object: 'provider_settings',
    provider: row.provider,
    mode: row.mode,
    default: row.provider === defaultProvider,
    ...row.preview,
    updated_at: row.updated_at,
  };
}

export async function putProviderSettings(
  ctx: AppContext,
  q: Queryable,
  caller: Caller,
  provider: string,
  body: unknown,
) {
  const spec = getProvider(ctx, provider)?.settings;
  if (!spec) throw new NotFoundError('provider', provider);
  const input = (body ?? {}) as Record<string, unknown>;
  const { default: makeDefault, ...rest } = input;
  if (makeDefault !== undefined && typeof makeDefault !== 'boolean') throw new InvalidRequestError('default must be a boolean', 'default');
  const config = parseOrThrow(spec.schema, rest);
  const at = ctx.clock.now();
  const row = await repo.upsertSettings(q, {
    projectId: caller.projectId,
    provider,
    encrypted: encrypt(ctx.config.encryptionKeys, JSON.stringify(config), aad(caller.projectId, provider)),
    preview: spec.preview(config),
    mode: spec.mode(config),
    at,
  });
  if (makeDefault === true) await projectsRepository.updateProjectSettings(q, caller.projectId, { default_provider: provider });
  await audit(q, caller, { action: 'provider.updated', target: provider, details: { mode: row.mode, default: makeDefault === true } }, at);
  await invalidate(ctx.db, [{ scope: 'provider', key: `${caller.projectId}:${provider}` }]);
  await invalidateProject(ctx, caller.projectId);
  const project = await projectsRepository.findProject(q, caller.projectId);
  return view(row, project?.default_provider ?? 'sandbox');
}

export async function listProviderSettings(ctx: AppContext, projectId: string) {
  const project = await getProject(ctx, projectId);
  const rows = await repo.listSettings(ctx.db, projectId);
  return {
    object: 'list',
    default: project.default_provider,
    data: [
      { object: 'provider_settings', provider: 'sandbox', mode: 'test', default: project.default_provider === 'sandbox' },
      ...rows.map((r) => view(r, project.default_provider)),
    ],
    has_more: false,
  };
}
