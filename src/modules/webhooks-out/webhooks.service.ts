import { randomBytes, randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { ConflictError, InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import { classifyResponse, nextRetryDelay } from '../../domain/webhook-retry.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { decrypt, encrypt } from '../../lib/crypto.ts';
import { audit } from '../audit/audit.service.ts';
import { invalidateProject, projectNow, projectsRepository } from '../projects/projects.service.ts';
import { OPT_IN_EVENT_TYPES, OUTBOX_EVENT_TYPES } from './outbox.ts';
import { sendWebhook } from './sender.ts';
import { isPrivateAddress } from './ssrf.ts';
import * as repo from './webhooks.repository.ts';

export type { DeliveryRow, EndpointRow } from './webhooks.repository.ts';

const EventList = z
  .array(z.enum(['*', ...OUTBOX_EVENT_TYPES], { error: `must be '*' or one of: ${OUTBOX_EVENT_TYPES.join(', ')}` }))
  .min(1, 'name at least one event type, or "*"')
  .max(OUTBOX_EVENT_TYPES.length + 1)
  .transform((l) => [...new Set(l)]);

const Url = z.string().min(1).max(2048);

export const CreateEndpointSchema = z
  .object({
    url: Url,
    events: EventList,
    enabled: z.boolean().default(true),
    description: z.string().max(500).optional(),
  })
  .strict();

export const UpdateEndpointSchema = z
  .object({
    url: Url.optional(),
    events: EventList.optional(),
    enabled: z.boolean().optional(),
    description: z.string().max(500).nullable().optional(),
  })
  .strict();

/** http(s) only, no credentials in the URL, and (unless allowed) no literal private address. */
export function validateEndpointUrl(ctx: AppContext, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidRequestError('url must be an absolute http or https URL', 'url');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidRequestError('url must use http or https', 'url');
  if (url.username || url.password) throw new InvalidRequestError('url must not contain credentials', 'url');
  if (!url.hostname) throw new InvalidRequestError('url must name a host', 'url');
  if (!ctx.config.webhookAllowPrivate) {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if ((isIP(host) && isPrivateAddress(host)) || /(^|\.)localhost\.?$/i.test(host)) {
      throw new InvalidRequestError('url points to a private or loopback address', 'url');
    }
  }
  return url.toString();
}

const aad = (projectId: string, endpointId: string) => `webhook_endpoint:${projectId}:${endpointId}`;

function endpointView(e: repo.EndpointRow) {
  return {
    id: e.id,
    object: 'webhook_endpoint',
    url: e.url,
    events: e.events,
    enabled: e.enabled,
    description: e.description,
    disabled_reason: e.disabled_reason,
    previous_secret_expires_at: e.previous_secret_expires_at,
    created_at: e.created_at,
    updated_at: e.updated_at,
  };
}

function deliveryView(d: repo.DeliveryRow, attempts?: repo.AttemptRow[]) {
  return {
    id: d.id,
    object: 'webhook_delivery',
    endpoint_id: d.endpoint_id,
    event_id: d.event_id,
    event_type: d.event_type,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? d.next_attempt_at : null,
    last_status_code: d.last_status_code,
    last_error: d.last_error,
    created_at: d.created_at,
    completed_at: d.completed_at,
    ...(attempts
      ? {
          attempt_log: attempts.map((a) => ({
            attempt: a.attempt,
            url: a.url,
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            error: a.error,
            response_excerpt: a.response_excerpt,
            created_at: a.created_at,
          })),
        }
      : {}),
  };
}

/**
 * Keeps the project's `emit_credits_deducted` setting in step with its endpoints, so the deduct
 * hot path writes `credits.deducted` events only while an enabled endpoint asks for them.
 */
async function syncOptInSettings(q: Queryable, projectId: string): Promise<void> {
  await repo.lockProjectEndpoints(q, projectId);
  const wanted = await repo.someEndpointNames(q, projectId, 'credits.deducted');
  await projectsRepository.updateProjectSettings(q, projectId, { settings: { emit_credits_deducted: wanted } });
}

/** Call after the transaction that changed endpoints commits, so no reader caches the old setting. */
export async function afterEndpointChange(ctx: AppContext, projectId: string): Promise<void> {
  await invalidateProject(ctx, projectId);
}

export async function createEndpoint(ctx: AppContext, q: Queryable, caller: Caller, body: z.infer<typeof CreateEndpointSchema>) {
  const url = validateEndpointUrl(ctx, body.url);
  const id = newId('endpoint');
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const at = await projectNow(ctx, caller.projectId);
  const row = await repo.insertEndpoint(q, {
    id,
    projectId: caller.projectId,
    url,
    events: body.events,
    enabled: body.enabled,
    description: body.description ?? null,
    secret: encrypt(ctx.config.encryptionKeys, secret, aad(caller.projectId, id)),
    at,
  });
  await syncOptInSettings(q, caller.projectId);
  await audit(q, caller, { action: 'webhook_endpoint.created', target: id, details: { url, events: body.events } }, ctx.clock.now());
  return { endpoint: endpointView(row), secret };
}

/**
 * The signing secret of an endpoint, for the reply to a creation replayed under its
 * Idempotency-Key: the stored reply leaves the secret out, so it never sits in plaintext there.
 */
export async function secretForReplay(ctx: AppContext, projectId: string, id: string): Promise<string | null> {
  const row = await repo.findEndpoint(ctx.db, projectId, id);
  return row ? decrypt(ctx.config.encryptionKeys, row.secret_encrypted, aad(projectId, id)) : null;
}

export async function listEndpoints(q: Queryable, projectId: string, f: { limit: number; starting_after?: string }) {
  const rows = await repo.listEndpoints(q, projectId, f.limit, f.starting_after);
  return { object: 'list', data: rows.slice(0, f.limit).map(endpointView), has_more: rows.length > f.limit };
}

export async function getEndpoint(q: Queryable, projectId: string, id: string) {
  const row = await repo.findEndpoint(q, projectId, id);
  if (!row) throw new NotFoundError('webhook endpoint', id);
  return endpointView(row);
}

export async function updateEndpoint(
  ctx: AppContext,
  q: Queryable,
  caller: Caller,
  id: string,
  body: z.infer<typeof UpdateEndpointSchema>,
) {
  const url = body.url !== undefined ? validateEndpointUrl(ctx, body.url) : undefined;
  const row = await repo.updateEndpoint(q, caller.projectId, id, {
    url,
    events: body.events,
    enabled: body.enabled,
    description: body.description,
    at: ctx.clock.now(),
  });
  if (!row) throw new NotFoundError('webhook endpoint', id);
  await syncOptInSettings(q, caller.projectId);
  await audit(q, caller, { action: 'webhook_endpoint.updated', target: id, details: { ...body, ...(url ? { url } : {}) } }, ctx.clock.now());
  return endpointView(row);
}

export async function deleteEndpoint(ctx: AppContext, q: Queryable, caller: Caller, id: string) {
  const row = await repo.deleteEndpoint(q, caller.projectId, id, ctx.clock.now());
  if (!row) throw new NotFoundError('webhook endpoint', id);
  await syncOptInSettings(q, caller.projectId);
  await audit(q, caller, { action: 'webhook_endpoint.deleted', target: id }, ctx.clock.now());
  return { id, object: 'webhook_endpoint', deleted: true };
}

export const DeliveriesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(255).optional(),
  status: z.enum(['pending', 'succeeded', 'failed']).optional(),
  endpoint_id: z.string().max(255).optional(),
});

/** Deliveries with their attempt logs, newest first: of one endpoint, or of the whole project. */
export async function listDeliveries(q: Queryable, projectId: string, endpointId: string | null, f: z.infer<typeof DeliveriesQuery>) {
  if (endpointId !== null && !(await repo.findEndpoint(q, projectId, endpointId))) throw new NotFoundError('webhook endpoint', endpointId);
  const rows = await repo.listDeliveries(q, projectId, endpointId, { limit: f.limit, startingAfter: f.starting_after, status: f.status });
  const shown = rows.slice(0, f.limit);
  const attempts = await repo.attemptsOf(
    q,
    shown.map((d) => d.id),
  );
  return {
    object: 'list',
    data: shown.map((d) => deliveryView(d, attempts.filter((a) => a.delivery_id === d.id))),
    has_more: rows.length > f.limit,
  };
}

export async function getDelivery(q: Queryable, projectId: string, id: string) {
  const d = await repo.findDelivery(q, projectId, id);
  if (!d) throw new NotFoundError('webhook delivery', id);
  return deliveryView(d, await repo.attemptsOf(q, [id]));
}

/** Sends a delivery again (same webhook-id) with a fresh retry schedule; the runner picks it up. */
export async function redeliver(ctx: AppContext, q: Queryable, projectId: string, id: string) {
  const d = await repo.findDelivery(q, projectId, id);
  if (!d) throw new NotFoundError('webhook delivery', id);
  const ep = await repo.findEndpoint(q, projectId, d.endpoint_id);
  if (!ep) throw new ConflictError('The endpoint of this delivery was deleted', { endpoint_id: d.endpoint_id });
  if (!ep.enabled) throw new ConflictError('The endpoint of this delivery is disabled; enable it first', { endpoint_id: ep.id });
  return deliveryView(await repo.resetDelivery(q, id, ctx.clock.now()));
}

export const RotateSecretSchema = z
  .object({
    /** How long the old secret keeps signing next to the new one (0: it stops at once). Default 24 h. */
    expires_in_seconds: z.number().int().min(0).max(7 * 86_400, 'must be at most 7 days (604800)').default(86_400),
  })
  .strict();

/**
 * A new signing secret for an endpoint, returned once. During the grace period deliveries carry a
 * signature by each secret (Standard Webhooks lists several in `webhook-signature`), so a receiver
 * can switch to the new secret whenever it likes before the old one expires.
 */
export async function rotateEndpointSecret(ctx: AppContext, q: Queryable, caller: Caller, id: string, body: z.infer<typeof RotateSecretSchema>) {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const at = ctx.clock.now();
  const previousUntil = body.expires_in_seconds > 0 ? new Date(at.getTime() + body.expires_in_seconds * 1000) : null;
  const row = await repo.rotateEndpointSecret(q, caller.projectId, id, {
    secret: encrypt(ctx.config.encryptionKeys, secret, aad(caller.projectId, id)),
    previousUntil,
    at,
  });
  if (!row) throw new NotFoundError('webhook endpoint', id);
  await audit(q, caller, { action: 'webhook_endpoint.secret_rotated', target: id, details: { expires_in_seconds: body.expires_in_seconds } }, at);
  return { endpoint: endpointView(row), secret };
}

/**
 * Sends a `webhook.test` event to one endpoint now and returns the delivery with its attempt: the
 * rows are written in one transaction, the request is made after it commits (no transaction open),
 * then settled like any delivery (a failed test retries on the usual schedule).
 */
export async function sendTestEvent(ctx: AppContext, caller: Caller, id: string) {
  const projectId = caller.projectId;
  const deliveryId = newId('delivery');
  await ctx.db.tx(async (q) => {
    const ep = await repo.findEndpoint(q, projectId, id);
    if (!ep) throw new NotFoundError('webhook endpoint', id);
    if (!ep.enabled) throw new ConflictError('This endpoint is disabled; enable it to send it a test event', { endpoint_id: id });
    const now = ctx.clock.now();
    await repo.insertTestDelivery(q, {
      projectId,
      endpointId: id,
      eventId: newId('outbox'),
      deliveryId,
      payload: { object: 'webhook_test', message: 'A test event sent from Tollgate', endpoint_id: id },
      at: await projectNow(ctx, projectId),
      now,
    });
    await audit(q, caller, { action: 'webhook_endpoint.tested', target: id, details: { delivery_id: deliveryId } }, now);
  });
  const now = ctx.clock.now();
  const lease = new Date(now.getTime() + ctx.config.webhookTimeoutMs + LEASE_MARGIN_MS);
  const claimed = await ctx.db.tx((trx) => repo.claimDelivery(trx, projectId, deliveryId, now, lease));
  for (const d of claimed) await deliverOne(ctx, d);
  return getDelivery(ctx.db, projectId, deliveryId);
}

// Background ------------------------------------------------------------------------------

/** Fans undispatched outbox events out to deliveries, one batch per transaction. */
export async function dispatchOutbox(ctx: AppContext, batch = 200): Promise<number> {
  const r = await ctx.db.tx((trx) => repo.dispatchBatch(trx, ctx.clock.now(), batch, OPT_IN_EVENT_TYPES));
  return r.events;
}

/** The body every endpoint receives: it names its type, its mode (`livemode`, as in Stripe) and customer. */
export function eventBody(
  d: Pick<repo.DueDelivery, 'event_id' | 'event_type' | 'event_created_at' | 'customer_id' | 'payload' | 'livemode'>,
): string {
  return JSON.stringify({
    id: d.event_id,
    type: d.event_type,
    created_at: new Date(d.event_created_at).toISOString(),
    livemode: d.livemode === true,
    customer_id: d.customer_id,
    data: d.payload?.data ?? {},
  });
}

/** Time past the send timeout for the settle to commit; a crash mid-send is retried after it. */
const LEASE_MARGIN_MS = 5_000;

/**
 * Sends due deliveries. Rows are claimed (and leased) in a short transaction, sent with no
 * transaction open, then settled: 2xx succeeds, 410 disables the endpoint, anything else retries
 * on the schedule (honouring retry-after) until it is spent, then the delivery fails.
 */
export async function deliverDue(ctx: AppContext, batch = 20): Promise<number> {
  const now = ctx.clock.now();
  const lease = new Date(now.getTime() + ctx.config.webhookTimeoutMs + LEASE_MARGIN_MS);
  const due = await ctx.db.tx((trx) => repo.claimDueDeliveries(trx, now, batch, lease));
  await Promise.all(due.map((d) => deliverOne(ctx, d)));
  return due.length;
}

async function deliverOne(ctx: AppContext, d: repo.DueDelivery): Promise<void> {
  const sentAt = ctx.clock.now();
  const body = eventBody(d);
  let headers: Record<string, string>;
  try {
    const secrets = [decrypt(ctx.config.encryptionKeys, d.secret_encrypted, aad(d.project_id, d.endpoint_id))];
    // A rotated secret signs too until it expires: the receiver may verify with either.
    if (d.previous_secret_encrypted && d.previous_secret_expires_at && new Date(d.previous_secret_expires_at).getTime() > sentAt.getTime()) {
      secrets.push(decrypt(ctx.config.encryptionKeys, d.previous_secret_encrypted, aad(d.project_id, d.endpoint_id)));
    }
    headers = {
      'content-type': 'application/json',
      'user-agent': 'Tollgate-Webhooks/1',
      'webhook-id': d.event_id,
      'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
      'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(d.event_id, sentAt, body)).join(' '),
    };
  } catch (err) {
    ctx.log.error({ err, delivery: d.id }, 'webhook secret cannot be read');
    headers = {};
  }
  const res =
    Object.keys(headers).length > 0
      ? await sendWebhook({
          url: d.url,
          headers,
          body,
          timeoutMs: ctx.config.webhookTimeoutMs,
          allowPrivate: ctx.config.webhookAllowPrivate,
          now: sentAt,
        })
      : { statusCode: null, durationMs: 0, error: 'endpoint secret cannot be decrypted', excerpt: null, retryAfterMs: null };
  const at = ctx.clock.now();
  const outcome = classifyResponse(res.statusCode);
  if (outcome !== 'succeeded') {
    ctx.log.warn({ delivery: d.id, endpoint: d.endpoint_id, status: res.statusCode, error: res.error }, 'webhook delivery attempt failed');
  }
  await ctx.db.tx(async (trx) => {
    await repo.insertAttempt(trx, {
      deliveryId: d.id,
      attempt: d.attempts,
      url: d.url,
      statusCode: res.statusCode,
      durationMs: res.durationMs,
      error: res.error,
      excerpt: res.excerpt,
      at,
    });
    const error = res.error ?? (outcome === 'succeeded' ? null : `HTTP ${res.statusCode}`);
    if (outcome === 'succeeded') {
      await repo.settleDelivery(trx, d.id, { status: 'succeeded', nextAttemptAt: null, retryStep: d.retry_step, statusCode: res.statusCode, error, at });
    } else if (outcome === 'disable') {
      await repo.settleDelivery(trx, d.id, { status: 'failed', nextAttemptAt: null, retryStep: d.retry_step, statusCode: res.statusCode, error, at });
      await repo.disableEndpoint(trx, d.endpoint_id, 'The endpoint answered 410 Gone', at);
      await syncOptInSettings(trx, d.project_id);
    } else {
      const delay = nextRetryDelay(d.retry_step, randomInt(1_000_000) / 1_000_000, res.retryAfterMs);
      await repo.settleDelivery(trx, d.id, {
        status: delay === null ? 'failed' : 'pending',
        nextAttemptAt: delay === null ? null : new Date(at.getTime() + Number(d.clock_offset_ms) + delay),
        retryStep: delay === null ? d.retry_step : d.retry_step + 1,
        statusCode: res.statusCode,
        error,
        at,
      });
    }
  });
  if (outcome === 'disable') await afterEndpointChange(ctx, d.project_id);
}

/** Delivered history and dispatched events are kept this long. */
export const WEBHOOK_RETENTION_MS = 30 * 24 * 3_600_000;

/** Background: bounded batches of old deliveries, attempts and dispatched events are deleted. */
export async function purgeWebhookHistory(ctx: AppContext, batch = 1000): Promise<number> {
  const before = new Date(ctx.clock.now().getTime() - WEBHOOK_RETENTION_MS);
  const n = await ctx.db.tx((trx) => repo.purgeBefore(trx, before, batch));
  return n >= batch ? 1 : 0;
}
