import { hash, verify } from '@node-rs/argon2';
import { z } from 'zod';
import { AppError, ConflictError, InvalidRequestError } from '../../domain/errors.ts';
import { newId, randomToken } from '../../domain/ids.ts';
import type { SessionAuthenticator } from '../../app/registry.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { getProject, hashKey } from '../projects/projects.service.ts';
import { countAttempts } from '../rate-limit/rate-limit.service.ts';
import * as repo from './operators.repository.ts';

export const OPERATOR_SESSION_PREFIX = 'tgop_';
const SESSION_TTL_MS = 7 * 24 * 3600 * 1000;
const SETUP_TTL_MS = 24 * 3600 * 1000;

export const Credentials = z
  .object({
    email: z.email().max(320),
    password: z.string().min(10, 'must be at least 10 characters').max(200),
  })
  .strict();
export const SetupBody = Credentials.extend({ token: z.string().min(10).max(200) }).strict();

// Verifying against this when the e-mail is unknown keeps both answers equally slow.
let dummyHash: Promise<string> | undefined;

export interface OperatorSession {
  token: string;
  operator: { id: string; email: string };
  expires_at: Date;
}

async function openSession(ctx: AppContext, op: repo.OperatorRow): Promise<OperatorSession> {
  const token = `${OPERATOR_SESSION_PREFIX}${randomToken(40)}`;
  const at = ctx.clock.now();
  const expiresAt = new Date(at.getTime() + SESSION_TTL_MS);
  await repo.insertOperatorSession(ctx.db, { tokenHash: hashKey(token), operatorId: op.id, at, expiresAt });
  await repo.touchLogin(ctx.db, op.id, at);
  return { token, operator: { id: op.id, email: op.email }, expires_at: expiresAt };
}

export async function createOperator(ctx: AppContext, input: z.infer<typeof Credentials>): Promise<repo.OperatorRow> {
  const row = await repo.insertOperator(ctx.db, {
    id: newId('operator'),
    email: input.email,
    passwordHash: await hash(input.password),
    at: ctx.clock.now(),
  });
  if (!row) throw new ConflictError(`An operator with e-mail ${input.email} already exists`);
  return row;
}

/** Failed sign-ins allowed per window, per address and per account (counted in PostgreSQL). */
export const SIGN_IN_LIMITS = { windowMs: 15 * 60_000, perAddress: 20, perAccount: 5 } as const;

export async function signIn(ctx: AppContext, input: z.infer<typeof Credentials>, ip = 'unknown'): Promise<OperatorSession> {
  const buckets = [`signin:ip:${ip}`, `signin:account:${input.email.trim().toLowerCase()}`];
  const seen = await countAttempts(ctx, buckets, SIGN_IN_LIMITS.windowMs, 0);
  const [byAddress = 0, byAccount = 0] = seen.counts;
  if (byAddress >= SIGN_IN_LIMITS.perAddress || byAccount >= SIGN_IN_LIMITS.perAccount) {
    const scope = byAccount >= SIGN_IN_LIMITS.perAccount ? 'account' : 'address';
    throw new AppError('rate_limited', `Too many failed sign-ins for this ${scope}; try again in ${seen.retryAfter} s`, {
      retry_after: seen.retryAfter,
      scope,
    });
  }
  const failed = async (): Promise<never> => {
    await countAttempts(ctx, buckets, SIGN_IN_LIMITS.windowMs, 1);
    throw new AppError('unauthorized', 'Wrong e-mail or password');
  };
  const op = await repo.findOperatorByEmail(ctx.db, input.email);
  if (!op) {
    dummyHash ??= hash('not a password of anyone');
    await verify(await dummyHash, input.password).catch(() => false);
    return failed();
  }
  const ok = await verify(op.password_hash, input.password).catch(() => false);
  if (!ok) return failed();
  return openSession(ctx, op);
}

export async function signOut(ctx: AppContext, token: string): Promise<void> {
  await repo.deleteOperatorSession(ctx.db, hashKey(token));
}

export async function operatorOfSession(ctx: AppContext, token: string | undefined): Promise<repo.OperatorRow | undefined> {
  if (!token?.startsWith(OPERATOR_SESSION_PREFIX) || token.length > 200) return undefined;
  return repo.findOperatorBySession(ctx.db, hashKey(token), ctx.clock.now());
}

/**
 * The first-run sign-in link: while no operator exists, a one-time token (stored hashed, valid a
 * day) lets whoever reads the start-up output create the first operator.
 */
export async function firstRunToken(ctx: AppContext, opts: { evenWithOperators?: boolean } = {}): Promise<string | undefined> {
  if (!opts.evenWithOperators && (await repo.countOperators(ctx.db)) > 0) return undefined;
  const token = randomToken(32);
  const at = ctx.clock.now();
  await repo.insertSetupToken(ctx.db, { tokenHash: hashKey(token), at, expiresAt: new Date(at.getTime() + SETUP_TTL_MS) });
  return token;
}

export async function completeSetup(ctx: AppContext, input: z.infer<typeof SetupBody>): Promise<OperatorSession> {
  const passwordHash = await hash(input.password);
  const op = await ctx.db.tx(async (trx) => {
    if (!(await repo.useSetupToken(trx, hashKey(input.token), ctx.clock.now()))) {
      throw new InvalidRequestError('This sign-in link is invalid, expired or already used', 'token');
    }
    const row = await repo.insertOperator(trx, { id: newId('operator'), email: input.email, passwordHash, at: ctx.clock.now() });
    if (!row) throw new ConflictError(`An operator with e-mail ${input.email} already exists`);
    return row;
  });
  return openSession(ctx, op);
}

/** The caller an operator acts as on one project (any project of this instance). */
export function operatorCaller(op: { id: string; email: string }, projectId: string): Caller {
  return {
    projectId,
    keyId: op.id,
    kind: 'operator',
    scopes: ['full', 'read', 'secrets:reveal'],
    actor: `dashboard:${op.email}`,
  };
}

/** `tgop_<session>.<project>`: how the dashboard's API calls name the operator and the project. */
export const authenticateOperatorSession: SessionAuthenticator = async (ctx, token) => {
  if (!token.startsWith(OPERATOR_SESSION_PREFIX)) return undefined;
  const dot = token.lastIndexOf('.');
  if (dot < 0) return undefined;
  const op = await operatorOfSession(ctx, token.slice(0, dot));
  if (!op) return undefined;
  const projectId = token.slice(dot + 1);
  try {
    await getProject(ctx, projectId);
  } catch {
    return undefined;
  }
  return operatorCaller(op, projectId);
};

export async function sweepOperatorSessions(ctx: AppContext, batch = 500): Promise<number> {
  return repo.deleteExpiredOperatorSessions(ctx.db, ctx.clock.now(), batch);
}
