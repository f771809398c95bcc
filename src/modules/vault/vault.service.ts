import { z } from 'zod';
import { ConfigError } from '../../config.ts';
import type { Queryable } from '../../db/db.ts';
import { AppError, NotFoundError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { DecryptError, decrypt, encrypt, keyIdOf, preview } from '../../lib/crypto.ts';
import { audit } from '../audit/audit.service.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { ensureCustomer, requireCustomer } from '../customers/customers.service.ts';
import { providerSettingsAad } from '../providers/providers.service.ts';
import * as repo from './vault.repository.ts';

export const SecretNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lowercase letters, digits, "_" or "-"');

export const MAX_SECRET_BYTES = 10 * 1024;

// The messages never quote the value: validation errors are rendered and logged.
export const SecretBody = z
  .object({
    value: z
      .string({ error: 'must be a string' })
      .min(1, 'must not be empty')
      .refine((v) => Buffer.byteLength(v, 'utf8') <= MAX_SECRET_BYTES, 'must be at most 10 KB'),
  })
  .strict();

/** Binds a ciphertext to its row: moved to another project, customer or name it no longer decrypts. */
export function secretAad(projectId: string, customerId: string | null, name: string): string {
  return JSON.stringify(['vault', projectId, customerId, name]);
}

async function labelOf(ctx: AppContext, projectId: string, name: string): Promise<string | undefined> {
  const { catalog } = await getCatalog(ctx, projectId);
  return catalog.secrets.find((s) => s.name === name)?.label;
}

function view(row: repo.SecretRow, label?: string) {
  return {
    object: 'secret',
    name: row.name,
    ...(label ? { label } : {}),
    customer_id: row.customer_id,
    preview: row.preview,
    key_id: row.key_id,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

function open(ctx: AppContext, row: repo.SecretRow): string {
  try {
    return decrypt(ctx.config.encryptionKeys, row.value_encrypted, secretAad(row.project_id, row.customer_id, row.name));
  } catch (err) {
    if (err instanceof DecryptError) {
      throw new AppError('internal_error', `Secret '${row.name}' cannot be decrypted with the configured keys: ${err.message}`);
    }
    throw err;
  }
}

function seal(ctx: AppContext, projectId: string, customerId: string | null, name: string, value: string) {
  const encrypted = encrypt(ctx.config.encryptionKeys, value, secretAad(projectId, customerId, name));
  return { encrypted, keyId: keyIdOf(encrypted), preview: preview(value) };
}

export async function putCustomerSecret(ctx: AppContext, q: Queryable, caller: Caller, customerId: string, name: string, value: string) {
  await ensureCustomer(ctx, q, caller.projectId, customerId);
  const at = ctx.clock.now();
  const previous = await repo.findCustomerSecret(q, caller.projectId, customerId, name);
  const row = await repo.upsertCustomerSecret(q, {
    id: newId('secret'),
    projectId: caller.projectId,
    customerId,
    name,
    at,
    ...seal(ctx, caller.projectId, customerId, name, value),
  });
  await audit(q, caller, { action: 'secret.stored', customerId, target: `secret:${name}`, details: { name, key_id: row.key_id, replaced: Boolean(previous) } }, at);
  return view(row, await labelOf(ctx, caller.projectId, name));
}

export async function putPlatformSecret(ctx: AppContext, q: Queryable, caller: Caller, name: string, value: string) {
  const at = ctx.clock.now();
  const previous = await repo.findPlatformSecret(q, caller.projectId, name);
  const row = await repo.upsertPlatformSecret(q, {
    id: newId('secret'),
    projectId: caller.projectId,
    name,
    at,
    ...seal(ctx, caller.projectId, null, name, value),
  });
  await audit(q, caller, { action: 'secret.stored', target: `platform_secret:${name}`, details: { name, platform: true, key_id: row.key_id, replaced: Boolean(previous) } }, at);
  return view(row, await labelOf(ctx, caller.projectId, name));
}

export async function listCustomerSecrets(ctx: AppContext, projectId: string, customerId: string) {
  const { catalog } = await getCatalog(ctx, projectId);
  const labels = new Map(catalog.secrets.map((s) => [s.name, s.label]));
  await requireCustomer(ctx.db, projectId, customerId);
  const rows = await repo.listCustomerSecrets(ctx.db, projectId, customerId);
  return { object: 'list', data: rows.map((r) => view(r, labels.get(r.name))), has_more: false };
}

export async function listPlatformSecrets(ctx: AppContext, projectId: string) {
  const rows = await repo.listPlatformSecrets(ctx.db, projectId);
  return { object: 'list', data: rows.map((r) => view(r)), has_more: false };
}

async function requireCustomerSecret(q: Queryable, projectId: string, customerId: string, name: string) {
  const row = await repo.findCustomerSecret(q, projectId, customerId, name);
  if (!row) throw new NotFoundError('secret', name);
  return row;
}

export async function deleteCustomerSecret(ctx: AppContext, q: Queryable, caller: Caller, customerId: string, name: string) {
  const row = await requireCustomerSecret(q, caller.projectId, customerId, name);
  await repo.deleteSecret(q, row.seq);
  await audit(q, caller, { action: 'secret.deleted', customerId, target: `secret:${name}`, details: { name } }, ctx.clock.now());
  return { ...view(row), deleted: true };
}

export async function deletePlatformSecret(ctx: AppContext, q: Queryable, caller: Caller, name: string) {
  const row = await repo.findPlatformSecret(q, caller.projectId, name);
  if (!row) throw new NotFoundError('secret', name);
  await repo.deleteSecret(q, row.seq);
  await audit(q, caller, { action: 'secret.deleted', target: `platform_secret:${name}`, details: { name, platform: true } }, ctx.clock.now());
  return { ...view(row), deleted: true };
}

/** The plaintext, for a key holding `secrets:reveal`; every reveal is audited. */
export async function revealCustomerSecret(ctx: AppContext, caller: Caller, customerId: string, name: string) {
  return ctx.db.tx(async (q) => {
    const row = await requireCustomerSecret(q, caller.projectId, customerId, name);
    const value = open(ctx, row);
    await audit(q, caller, { action: 'secret.revealed', customerId, target: `secret:${name}`, details: { name } }, ctx.clock.now());
    return { ...view(row), value };
  });
}

/**
 * The customer's own key if stored, else the project's platform key of that name, and which one
 * it is (apps bill differently when a customer brings their own key). It returns the value, so it
 * needs `secrets:reveal` and is audited like a reveal.
 */
export async function resolveSecret(ctx: AppContext, caller: Caller, customerId: string, name: string) {
  return ctx.db.tx(async (q) => {
    const own = await repo.findCustomerSecret(q, caller.projectId, customerId, name);
    const row = own ?? (await repo.findPlatformSecret(q, caller.projectId, name));
    if (!row) throw new NotFoundError('secret', name);
    const source = own ? 'customer' : 'platform';
    const value = open(ctx, row);
    await audit(q, caller, { action: 'secret.resolved', customerId, target: `secret:${name}`, details: { name, source } }, ctx.clock.now());
    return { object: 'resolved_secret', name, source, preview: row.preview, key_id: row.key_id, updated_at: row.updated_at, value };
  });
}

const CANARY_PLAINTEXT = 'tollgate-encryption-canary';
const canaryAad = (keyId: string) => `encryption_canary:${keyId}`;

/**
 * Start-up check: a configured key must decrypt this database's canary (or a stored secret),
 * and every key id stored data is encrypted under must be configured. Fails with a clear
 * ConfigError instead of letting secrets fail to decrypt later.
 */
export async function checkEncryptionKeys(ctx: AppContext): Promise<void> {
  const keys = ctx.config.encryptionKeys;
  const configured = keys.map((k) => k.id).join(', ');
  const canaries = await repo.listCanaries(ctx.db);
  let verified = false;
  for (const c of canaries) {
    if (!keys.some((k) => k.id === c.key_id)) continue;
    try {
      if (decrypt(keys, c.ciphertext, canaryAad(c.key_id)) === CANARY_PLAINTEXT) verified = true;
    } catch {
      throw new ConfigError(
        `TOLLGATE_ENCRYPTION_KEY: key '${c.key_id}' is not the key this database was encrypted with (it does not decrypt the stored canary). Restore the original key.`,
      );
    }
  }
  if (canaries.length > 0 && !verified) {
    throw new ConfigError(
      `TOLLGATE_ENCRYPTION_KEY: none of the configured keys (${configured}) can decrypt this database, which was encrypted with key(s) ${canaries.map((c) => c.key_id).join(', ')}. Restore the original key; to change keys, list the new key first and the old one after it, then run "tollgate vault rotate".`,
    );
  }
  if (canaries.length === 0) {
    // A database from before canaries existed: one stored secret must still decrypt.
    const [one] = await repo.listSample(ctx.db);
    const [settings] = await repo.sampleProviderSettings(ctx.db);
    try {
      if (one) decrypt(keys, one.value_encrypted, secretAad(one.project_id, one.customer_id, one.name));
      if (settings) decrypt(keys, settings.config_encrypted, providerSettingsAad(settings.project_id, settings.provider));
    } catch {
      throw new ConfigError(`TOLLGATE_ENCRYPTION_KEY: the configured keys (${configured}) cannot decrypt the stored secrets. Restore the original key.`);
    }
  }
  const unknown = await repo.unknownKeyIds(ctx.db, keys.map((k) => k.id));
  if (unknown.length > 0) {
    throw new ConfigError(
      `TOLLGATE_ENCRYPTION_KEY: stored secrets are encrypted under key(s) ${unknown.join(', ')}, which are not configured (configured: ${configured}). Add them back after the newest key and run "tollgate vault rotate" before removing them.`,
    );
  }
  const newest = keys[0];
  if (newest && !canaries.some((c) => c.key_id === newest.id)) {
    await repo.insertCanary(ctx.db, newest.id, encrypt([newest], CANARY_PLAINTEXT, canaryAad(newest.id)), ctx.clock.now());
  }
}

export interface RotateResult {
  total: number;
  rotated: number;
  failed: { id: string; error: string }[];
}

/**
 * Re-encrypts every secret (and provider settings) not under the newest key, one committed batch at
 * a time, so an interrupted run simply continues where it stopped when started again.
 */
export async function rotateSecrets(
  ctx: AppContext,
  opts: { batchSize?: number; onStart?(total: number): void; onProgress?(done: number): void } = {},
): Promise<RotateResult> {
  const keys = ctx.config.encryptionKeys;
  const newest = keys[0];
  if (!newest) throw new ConfigError('TOLLGATE_ENCRYPTION_KEY is empty');
  const batchSize = opts.batchSize ?? 500;
  const total = (await repo.countNotUnderKey(ctx.db, newest.id)) + (await repo.countProviderSettingsNotUnderKey(ctx.db, newest.id));
  opts.onStart?.(total);
  const result: RotateResult = { total, rotated: 0, failed: [] };
  let afterSeq = 0;
  let done = 0;
  for (;;) {
    const rows = await ctx.db.tx(async (q) => {
      const batch = await repo.lockBatchNotUnderKey(q, newest.id, afterSeq, batchSize);
      for (const row of batch) {
        const aad = secretAad(row.project_id, row.customer_id, row.name);
        try {
          const value = decrypt(keys, row.value_encrypted, aad);
          await repo.reencrypt(q, row.seq, encrypt(keys, value, aad), newest.id);
          result.rotated++;
        } catch (err) {
          result.failed.push({ id: row.id, error: (err as Error).message });
        }
      }
      return batch;
    });
    const last = rows[rows.length - 1];
    if (!last) break;
    afterSeq = last.seq;
    done += rows.length;
    opts.onProgress?.(done);
  }
  const settings = await ctx.db.tx(async (q) => {
    const batch = await repo.lockProviderSettingsNotUnderKey(q, newest.id);
    for (const s of batch) {
      const aad = providerSettingsAad(s.project_id, s.provider);
      try {
        const value = decrypt(keys, s.config_encrypted, aad);
        await repo.reencryptProviderSettings(q, s.project_id, s.provider, encrypt(keys, value, aad));
        result.rotated++;
      } catch (err) {
        result.failed.push({ id: `provider_settings:${s.project_id}:${s.provider}`, error: (err as Error).message });
      }
    }
    return batch.length;
  });
  opts.onProgress?.(done + settings);
  return result;
}
