import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../app/context.ts';
import { projectsRepository } from '../projects/projects.service.ts';

/** How coarse a key's `last_used_at` is: one write per key per this period at most. */
export const KEY_USE_RESOLUTION_MS = 5 * 60_000;

interface Usage {
  /** When this process last wrote (or found written) each key's use: a hint that saves queries, never the truth. */
  seen: Map<string, number>;
  pending: Set<Promise<void>>;
}
const usageOf = new WeakMap<AppContext, Usage>();

function usage(ctx: AppContext): Usage {
  let u = usageOf.get(ctx);
  if (!u) {
    u = { seen: new Map(), pending: new Set() };
    usageOf.set(ctx, u);
  }
  return u;
}

/**
 * Notes that a key was used, off the request path: nothing happens when this process noted the key
 * within the resolution; otherwise one conditional UPDATE runs in the background (it changes the row
 * only when the stored use is older, so several instances still write about once per period).
 */
export function noteKeyUse(ctx: AppContext, projectId: string, keyId: string): void {
  const u = usage(ctx);
  const now = ctx.clock.now().getTime();
  const last = u.seen.get(keyId);
  if (last !== undefined && now - last < KEY_USE_RESOLUTION_MS && now >= last) return;
  if (u.seen.size > 10_000) u.seen.clear();
  u.seen.set(keyId, now);
  const p = projectsRepository
    .touchKey(ctx.db, projectId, keyId, new Date(now), KEY_USE_RESOLUTION_MS)
    .then(
      () => undefined,
      (err: unknown) => {
        u.seen.delete(keyId);
        ctx.log.warn({ err: (err as Error).message, key: keyId }, 'key last use not recorded');
      },
    )
    .finally(() => u.pending.delete(p));
  u.pending.add(p);
}

/** Resolves once every key-use write started so far has finished (tests, shutdown). */
export async function keyUsesSettled(ctx: AppContext): Promise<void> {
  await Promise.all([...usage(ctx).pending]);
}

/** After each reply to an API key (never a dashboard operator or a customer session), its use is noted. */
export function registerKeyUsage(app: FastifyInstance, ctx: AppContext): void {
  app.addHook('onResponse', async (req) => {
    const c = req.caller;
    if (!c || (c.kind !== 'secret' && c.kind !== 'publishable')) return;
    noteKeyUse(ctx, c.projectId, c.keyId);
  });
  app.addHook('onClose', async () => keyUsesSettled(ctx));
}
