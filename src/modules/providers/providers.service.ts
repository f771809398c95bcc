import type { Queryable } from '../../db/db.ts';
import { InvalidRequestError, LivemodeForbiddenError, NotFoundError } from '../../domain/errors.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { getProvider } from '../../app/registry.ts';
import { decrypt, encrypt } from '../../lib/crypto.ts';
import { cacheOf, invalidate } from '../../db/invalidation.ts';
import { parseOrThrow } from '../../lib/validation.ts';
import { audit } from '../audit/audit.service.ts';
import { getProject, invalidateProject, projectsRepository } from '../projects/projects.service.ts';
import { providerCall } from './provider-call.ts';
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

/** Credentials of the other mode are refused: test mode takes test credentials, live mode live ones (docs/modes.md). */
function requireSameMode(project: { mode: 'test' | 'live' }, provider: string, credentialsMode: 'test' | 'live'): void {
  if (credentialsMode === project.mode) return;
  if (project.mode === 'live') {
    throw new LivemodeForbiddenError(
      provider === 'stripe'
        ? 'This is live mode: connect Stripe with a live secret key (sk_live_… or rk_live_…); test keys belong to test mode'
        : `This is live mode: connect ${provider} with live credentials ("mode": "live"); sandbox credentials belong to test mode`,
      { mode: 'live', credentials_mode: credentialsMode },
    );
  }
  throw new LivemodeForbiddenError(
    `These are live ${provider} credentials: connect them with a live key (sk_live_…, POST /v1/keys {"mode": "live"}); test mode takes test credentials`,
    { mode: 'test', credentials_mode: credentialsMode },
  );
}

/**
 * Live mode: before settings are stored, the provider is asked whether it accepts them and in which
 * mode (outside any transaction). Test-mode settings are stored as given.
 */
export async function verifyProviderSettings(ctx: AppContext, caller: Caller, provider: string, body: unknown): Promise<void> {
  const p = getProvider(ctx, provider);
  if (!p?.settings) throw new NotFoundError('provider', provider);
  const project = await getProject(ctx, caller.projectId);
  if (project.mode !== 'live') return;
  const { default: _d, ...rest } = (body ?? {}) as Record<string, unknown>;
  const config = parseOrThrow(p.settings.schema, rest);
  const mode = p.settings.mode(config);
  requireSameMode(project, provider, mode);
  if (!p.verifyCredentials) return;
  const call = { ...(await providerCall(ctx, caller.projectId, provider)), settings: config, mode };
  const { livemode } = await p.verifyCredentials(call);
  if (!livemode) {
    throw new LivemodeForbiddenError(`${provider} says these credentials are test-mode credentials; live mode needs live ones`, {
      mode: 'live',
      credentials_mode: 'test',
    });
  }
}

/** Live mode checks out through a real provider whose live credentials are connected. */
export async function requireLiveProvider(ctx: AppContext, projectId: string, provider: string): Promise<void> {
  if (provider === 'sandbox') {
    throw new LivemodeForbiddenError('The sandbox provider and its test cards exist in test mode only; live checkouts go to Stripe or PayPal', {
      param: 'provider',
    });
  }
  const found = await getProviderSettings(ctx, projectId, provider);
  if (found?.mode !== 'live') {
    throw new LivemodeForbiddenError(
      `Live mode needs a real provider: connect ${provider} with live credentials (PUT /v1/providers/${provider} with a live key) before a checkout can start`,
      { param: 'provider', provider },
    );
  }
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
  const project = await projectsRepository.findProject(q, caller.projectId);
  if (!project) throw new NotFoundError('project', caller.projectId);
  requireSameMode(project, provider, spec.mode(config));
  // Live mode has no sandbox to fall back on: the first real provider connected there becomes its default.
  const defaultConnected = project.mode === 'live' && (await repo.findSettings(q, caller.projectId, project.default_provider)) !== undefined;
  const becomesDefault = makeDefault === true || (project.mode === 'live' && !defaultConnected);
  const at = ctx.clock.now();
  const row = await repo.upsertSettings(q, {
    projectId: caller.projectId,
    provider,
    encrypted: encrypt(ctx.config.encryptionKeys, JSON.stringify(config), aad(caller.projectId, provider)),
    preview: spec.preview(config),
    mode: spec.mode(config),
    at,
  });
  if (becomesDefault) await projectsRepository.updateProjectSettings(q, caller.projectId, { default_provider: provider });
  await audit(q, caller, { action: 'provider.updated', target: provider, details: { mode: row.mode, default: becomesDefault } }, at);
  await invalidate(ctx.db, [{ scope: 'provider', key: `${caller.projectId}:${provider}` }]);
  await invalidateProject(ctx, caller.projectId);
  return view(row, becomesDefault ? provider : project.default_provider);
}

export async function listProviderSettings(ctx: AppContext, projectId: string) {
  const project = await getProject(ctx, projectId);
  const rows = await repo.listSettings(ctx.db, projectId);
  return {
    object: 'list',
    default: project.default_provider,
    data: [
      // The sandbox exists in test mode only.
      ...(project.mode === 'test'
        ? [{ object: 'provider_settings', provider: 'sandbox', mode: 'test', default: project.default_provider === 'sandbox' }]
        : []),
      ...rows.map((r) => view(r, project.default_provider)),
    ],
    has_more: false,
  };
}
