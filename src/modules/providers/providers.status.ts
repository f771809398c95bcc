import type { AppContext } from '../../app/context.ts';
import { getProvider } from '../../app/registry.ts';
import type { Queryable } from '../../db/db.ts';
import { ConflictError, NotFoundError } from '../../domain/errors.ts';
import type { WebhookRegistration } from '../../providers/provider.ts';
import type { StripeSettings } from '../../providers/stripe/stripe.settings.ts';
import { findSyncState } from '../stripe/stripe.repository.ts';
import { providerCall } from './provider-call.ts';
import * as repo from './providers.repository.ts';

/** Where the provider sends its webhooks for this project: paste it into the provider's dashboard. */
export function webhookUrl(ctx: AppContext, provider: string, projectId: string): string {
  return `${ctx.config.publicUrl.replace(/\/$/, '')}/v1/webhooks/${encodeURIComponent(provider)}/${encodeURIComponent(projectId)}`;
}

function requireConnectable(ctx: AppContext, provider: string): void {
  if (!getProvider(ctx, provider)?.settings) throw new NotFoundError('provider', provider);
}

interface EventStats {
  received: number;
  last_received_at: Date | null;
  failed: number;
  last_error_at: Date | null;
  last_error: string | null;
  last_error_event: string | null;
}

async function eventStats(q: Queryable, projectId: string, provider: string): Promise<EventStats> {
  const r = await q.query<EventStats>(
    `SELECT COUNT(*)::int AS received, MAX(received_at) AS last_received_at,
       COUNT(*) FILTER (WHERE status = 'failed')::int AS failed,
       (SELECT received_at FROM provider_events f WHERE f.project_id = $1 AND f.provider = $2 AND f.status = 'failed' ORDER BY received_at DESC LIMIT 1) AS last_error_at,
       (SELECT last_error FROM provider_events f WHERE f.project_id = $1 AND f.provider = $2 AND f.status = 'failed' ORDER BY received_at DESC LIMIT 1) AS last_error,
       (SELECT id FROM provider_events f WHERE f.project_id = $1 AND f.provider = $2 AND f.status = 'failed' ORDER BY received_at DESC LIMIT 1) AS last_error_event
     FROM provider_events WHERE project_id = $1 AND provider = $2`,
    [projectId, provider],
  );
  return r.rows[0] as EventStats;
}

/** What an operator needs to see of a provider connection: set up or not, the webhook URL, webhooks received, catalog sync. */
export async function providerStatus(ctx: AppContext, projectId: string, provider: string) {
  requireConnectable(ctx, provider);
  const [row, events, sync] = await Promise.all([
    repo.findSettings(ctx.db, projectId, provider),
    eventStats(ctx.db, projectId, provider),
    provider === 'stripe' ? findSyncState(ctx.db, projectId) : Promise.resolve(undefined),
  ]);
  // Stripe only: whether one of its webhook endpoints sends to this project (the same read-only check verify makes).
  const webhook = row && provider === 'stripe' ? (await check(ctx, projectId, provider)).webhook : null;
  return {
    object: 'provider_status',
    provider,
    configured: row !== undefined,
    mode: row?.mode ?? null,
    updated_at: row?.updated_at ?? null,
    webhook_url: webhookUrl(ctx, provider, projectId),
    webhooks: {
      received: events.received,
      last_received_at: events.last_received_at,
      failed: events.failed,
      last_error: events.last_error_at ? { at: events.last_error_at, event_id: events.last_error_event, message: events.last_error ?? 'failed' } : null,
    },
    webhook,
    catalog_sync:
      provider === 'stripe'
        ? {
            status: sync?.sync_status ?? 'never',
            catalog_version: sync?.catalog_version ?? null,
            synced_at: sync?.synced_at ?? null,
            last_error: sync?.last_error ?? null,
          }
        : null,
  };
}

const PAYPAL_API = { sandbox: 'https://api-m.sandbox.paypal.com', live: 'https://api-m.paypal.com' } as const;

/** One short, read-only call with the saved credentials; the reason when it fails. Never in a transaction. */
async function check(
  ctx: AppContext,
  projectId: string,
  provider: string,
): Promise<{ ok: boolean; error: string | null; warnings: string[]; webhook: WebhookRegistration | null }> {
  const call = await providerCall(ctx, projectId, provider);
  const warnings: string[] = [];
  if (provider === 'stripe' && (call.settings as StripeSettings).webhook_secrets.length === 0) {
    warnings.push('No webhook signing secret: Stripe webhooks to this project will be refused until one is saved');
  }
  const p = getProvider(ctx, provider);
  if (!p?.verifyCredentials) return { ok: true, error: null, warnings, webhook: null };
  // The same read-only call that checks live credentials when they are connected (the provider's port),
  // and for Stripe a read of its webhook endpoints: is one sending to this project's URL?
  const url = webhookUrl(ctx, provider, projectId);
  const askWebhook = provider === 'stripe';
  try {
    const r = await p.verifyCredentials(call, askWebhook ? { webhookUrl: url } : {});
    return { ok: true, error: null, warnings, webhook: r.webhook ?? null };
  } catch (err) {
    const error = refusal(provider, err);
    return { ok: false, error, warnings, webhook: askWebhook ? { status: 'unknown', url, endpoint_id: null, error } : null };
  }
}

/** What the provider's refusal says, in the operator's words. */
function refusal(provider: string, err: unknown): string {
  const message = (err as Error).message;
  if (provider === 'paypal') {
    const d = (err as { details?: { paypal_status?: number | null; paypal_issue?: string | null } }).details;
    if (d?.paypal_status == null) return `PayPal could not be reached: ${message}`;
    return `PayPal refused the client id and secret (HTTP ${d.paypal_status}${d.paypal_issue ? `: ${d.paypal_issue}` : ''})`;
  }
  if (provider === 'stripe') return `Stripe refused the secret key: ${message}`;
  return `${provider} refused these credentials: ${message}`;
}

/** Checks the saved credentials against the provider now (changes nothing). */
export async function verifyProvider(ctx: AppContext, projectId: string, provider: string) {
  requireConnectable(ctx, provider);
  const row = await repo.findSettings(ctx.db, projectId, provider);
  if (!row) throw new ConflictError(`${provider} is not connected yet: save its keys first (PUT /v1/providers/${provider})`, { provider });
  const r = await check(ctx, projectId, provider);
  return {
    object: 'provider_verification',
    provider,
    mode: row.mode,
    ok: r.ok,
    error: r.error,
    warnings: r.warnings,
    checked_at: ctx.clock.now(),
    webhook_url: webhookUrl(ctx, provider, projectId),
    webhook: r.webhook,
  };
}
