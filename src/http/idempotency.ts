import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Queryable } from '../db/db.ts';
import { AppError, InvalidRequestError } from '../domain/errors.ts';
import type { AppContext } from '../app/context.ts';

export interface Outcome<T> {
  status?: number;
  body: T;
}

interface StoredKey {
  request_hash: string;
  status_code: number | null;
  response: unknown;
}

export function requestHash(req: FastifyRequest): string {
  const h = createHash('sha256').update(
    `${req.method} ${req.routeOptions.config?.canonicalUrl ?? req.routeOptions.url ?? req.url}\n${JSON.stringify(req.params ?? {})}\n${JSON.stringify(req.body ?? null)}`,
  );
  // A precondition is part of the request: the same key with another If-Match is another request.
  // (Only when present, so the fingerprint of every request without one is what it always was.)
  const ifMatch = req.headers['if-match'];
  if (ifMatch !== undefined) h.update(`\nif-match: ${Array.isArray(ifMatch) ? ifMatch.join(',') : ifMatch}`);
  return h.digest('hex');
}

/**
 * Runs a mutation at most once per `Idempotency-Key`.
 * The key is claimed by an INSERT in the same transaction as the effect and the stored reply,
 * so a twin request blocks on the key until the first commits, then replays its reply;
 * a failed attempt rolls back and frees the key. Without a key the mutation simply runs
 * (in a transaction unless `atomic: false` says it is one statement).
 */
export async function idempotent<T>(
  ctx: AppContext,
  req: FastifyRequest,
  reply: FastifyReply,
  run: (q: Queryable) => Promise<Outcome<T>>,
  opts: { atomic?: boolean } = {},
): Promise<T | unknown> {
  const header = req.headers['idempotency-key'];
  const projectId = req.caller?.projectId;
  if (header === undefined || !projectId) {
    const out = opts.atomic === false ? await run(ctx.db) : await ctx.db.tx(run);
    reply.code(out.status ?? 200);
    return out.body;
  }
  const key = Array.isArray(header) ? header[0] : header;
  if (!key || key.length > 255) throw new InvalidRequestError('Idempotency-Key must be 1-255 characters', 'Idempotency-Key');
  const hash = requestHash(req);
  const result = await ctx.db.tx(async (trx) => {
    const claimed = await trx.query(
      `INSERT INTO idempotency_keys (project_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (project_id, key) DO NOTHING RETURNING 1`,
      [projectId, key, hash, ctx.clock.now()],
    );
    if (claimed.rowCount === 0) {
      const prior = (
        await trx.query<StoredKey>(
          'SELECT request_hash, status_code, response FROM idempotency_keys WHERE project_id = $1 AND key = $2',
          [projectId, key],
        )
      ).rows[0];
      if (!prior || prior.request_hash !== hash) {
        throw new AppError('idempotency_conflict', 'This Idempotency-Key was already used with a different request', {
          idempotency_key: key,
        });
      }
      if (prior.status_code === null) {
        throw new AppError('idempotency_conflict', 'A request with this Idempotency-Key is still in progress', {
          idempotency_key: key,
        });
      }
      return { status: prior.status_code, body: prior.response, replayed: true };
    }
    const out = await run(trx);
    const status = out.status ?? 200;
    // The planted bug (chaos runs only): the reply is stored after the commit, so a crash in between
    // leaves the effect done and the key "in progress" for ever.
    if (ctx.config.plantedBug !== 'reply-after-commit') await storeReply(trx, projectId, key, status, out.body);
    return { status, body: out.body as unknown, replayed: false };
  });
  if (ctx.config.plantedBug === 'reply-after-commit' && !result.replayed) {
    await storeReply(ctx.db, projectId, key, result.status, result.body);
  }
  if (result.replayed) reply.header('idempotent-replayed', 'true');
  reply.code(result.status);
  return result.body;
}

/** The request's Idempotency-Key (validated) and the hash of what it asks, or null without a key. */
export function idempotencyOf(req: FastifyRequest): { projectId: string; key: string; hash: string } | null {
  const header = req.headers['idempotency-key'];
  const projectId = req.caller?.projectId;
  if (header === undefined || !projectId) return null;
  const key = Array.isArray(header) ? header[0] : header;
  if (!key || key.length > 255) throw new InvalidRequestError('Idempotency-Key must be 1-255 characters', 'Idempotency-Key');
  return { projectId, key, hash: requestHash(req) };
}

async function storeReply(q: Queryable, projectId: string, key: string, status: number, body: unknown): Promise<void> {
  await q.query('UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE project_id = $1 AND key = $2', [projectId, key, status, JSON.stringify(body ?? null)]);
}

/**
 * For a mutation that calls a provider: it runs OUTSIDE any transaction (given the database, it
 * opens its own short transactions around the network call, never across it). With an
 * `Idempotency-Key` the key is claimed in a transaction of its own first; a twin request waits for
 * the reply to be stored and replays it; a failed attempt frees the key. A claim left by a process
 * that died mid-call is taken over once it is older than twice the provider timeout plus a minute.
 */
export async function idempotentOutsideTx<T>(
  ctx: AppContext,
  req: FastifyRequest,
  reply: FastifyReply,
  run: (q: Queryable) => Promise<Outcome<T>>,
): Promise<T | unknown> {
  const header = req.headers['idempotency-key'];
  const projectId = req.caller?.projectId;
  if (header === undefined || !projectId) {
    const out = await run(ctx.db);
    reply.code(out.status ?? 200);
    return out.body;
  }
  const key = Array.isArray(header) ? header[0] : header;
  if (!key || key.length > 255) throw new InvalidRequestError('Idempotency-Key must be 1-255 characters', 'Idempotency-Key');
  const hash = requestHash(req);
  const staleMs = 2 * ctx.config.providerTimeoutMs + 60_000;
  const waitUntil = Date.now() + ctx.config.providerTimeoutMs + 5_000;
  for (;;) {
    const now = ctx.clock.now();
    const claimed = await ctx.db.query(
      `INSERT INTO idempotency_keys (project_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (project_id, key) DO UPDATE SET created_at = EXCLUDED.created_at
         WHERE idempotency_keys.status_code IS NULL AND idempotency_keys.request_hash = EXCLUDED.request_hash
           AND idempotency_keys.created_at < $5
       RETURNING 1`,
      [projectId, key, hash, now, new Date(now.getTime() - staleMs)],
    );
    if (claimed.rowCount > 0) break;
    const prior = (
      await ctx.db.query<StoredKey>('SELECT request_hash, status_code, response FROM idempotency_keys WHERE project_id = $1 AND key = $2', [
        projectId,
        key,
      ])
    ).rows[0];
    if (!prior) continue; // freed by a failed twin meanwhile: claim it again
    if (prior.request_hash !== hash) {
      throw new AppError('idempotency_conflict', 'This Idempotency-Key was already used with a different request', { idempotency_key: key });
    }
    if (prior.status_code !== null) {
      reply.header('idempotent-replayed', 'true');
      reply.code(prior.status_code);
      return prior.response;
    }
    if (Date.now() > waitUntil) {
      throw new AppError('idempotency_conflict', 'A request with this Idempotency-Key is still in progress', { idempotency_key: key });
    }
    // The twin is calling the provider: wait for its stored reply (real time, not the project clock).
    await new Promise((r) => setTimeout(r, 25));
  }
  let out: Outcome<T>;
  try {
    out = await run(ctx.db);
  } catch (err) {
    await ctx.db.query('DELETE FROM idempotency_keys WHERE project_id = $1 AND key = $2 AND status_code IS NULL', [projectId, key]);
    throw err;
  }
  const status = out.status ?? 200;
  await storeReply(ctx.db, projectId, key, status, out.body);
  reply.code(status);
  return out.body;
}
