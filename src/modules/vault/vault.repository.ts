import type { Queryable } from '../../db/db.ts';

export interface SecretRow {
  seq: number;
  id: string;
  project_id: string;
  customer_id: string | null;
  name: string;
  value_encrypted: string;
  key_id: string;
  preview: string;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'seq, id, project_id, customer_id, name, value_encrypted, key_id, preview, created_at, updated_at';

export async function upsertCustomerSecret(
  q: Queryable,
  s: { id: string; projectId: string; customerId: string; name: string; encrypted: string; keyId: string; preview: string; at: Date },
): Promise<SecretRow> {
  const r = await q.query<SecretRow>(
    `INSERT INTO vault_secrets (id, project_id, customer_id, name, value_encrypted, key_id, preview, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
     ON CONFLICT (project_id, customer_id, name) WHERE customer_id IS NOT NULL DO UPDATE SET
       value_encrypted = EXCLUDED.value_encrypted, key_id = EXCLUDED.key_id, preview = EXCLUDED.preview,
       updated_at = EXCLUDED.updated_at
     RETURNING ${COLUMNS}`,
    [s.id, s.projectId, s.customerId, s.name, s.encrypted, s.keyId, s.preview, s.at],
  );
  return r.rows[0] as SecretRow;
}

export async function upsertPlatformSecret(
  q: Queryable,
  s: { id: string; projectId: string; name: string; encrypted: string; keyId: string; preview: string; at: Date },
): Promise<SecretRow> {
  const r = await q.query<SecretRow>(
    `INSERT INTO vault_secrets (id, project_id, customer_id, name, value_encrypted, key_id, preview, created_at, updated_at)
     VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $7)
     ON CONFLICT (project_id, name) WHERE customer_id IS NULL DO UPDATE SET
       value_encrypted = EXCLUDED.value_encrypted, key_id = EXCLUDED.key_id, preview = EXCLUDED.preview,
       updated_at = EXCLUDED.updated_at
     RETURNING ${COLUMNS}`,
    [s.id, s.projectId, s.name, s.encrypted, s.keyId, s.preview, s.at],
  );
  return r.rows[0] as SecretRow;
}

export async function findCustomerSecret(q: Queryable, projectId: string, customerId: string, name: string): Promise<SecretRow | undefined> {
  return (
    await q.query<SecretRow>(`SELECT ${COLUMNS} FROM vault_secrets WHERE project_id = $1 AND customer_id = $2 AND name = $3`, [
      projectId,
      customerId,
      name,
    ])
  ).rows[0];
}

export async function findPlatformSecret(q: Queryable, projectId: string, name: string): Promise<SecretRow | undefined> {
  return (
    await q.query<SecretRow>(`SELECT ${COLUMNS} FROM vault_secrets WHERE project_id = $1 AND customer_id IS NULL AND name = $2`, [
      projectId,
      name,
    ])
  ).rows[0];
}

export async function listCustomerSecrets(q: Queryable, projectId: string, customerId: string): Promise<SecretRow[]> {
  return (
    await q.query<SecretRow>(`SELECT ${COLUMNS} FROM vault_secrets WHERE project_id = $1 AND customer_id = $2 ORDER BY name`, [
      projectId,
      customerId,
    ])
  ).rows;
}

export async function listPlatformSecrets(q: Queryable, projectId: string): Promise<SecretRow[]> {
  return (
    await q.query<SecretRow>(`SELECT ${COLUMNS} FROM vault_secrets WHERE project_id = $1 AND customer_id IS NULL ORDER BY name`, [projectId])
  ).rows;
}

export async function deleteSecret(q: Queryable, seq: number): Promise<void> {
  await q.query('DELETE FROM vault_secrets WHERE seq = $1', [seq]);
}

/** Rows not encrypted under `keyId`, after `afterSeq`, locked for re-encryption. */
export async function lockBatchNotUnderKey(q: Queryable, keyId: string, afterSeq: number, limit: number): Promise<SecretRow[]> {
  return (
    await q.query<SecretRow>(
      `SELECT ${COLUMNS} FROM vault_secrets WHERE key_id <> $1 AND seq > $2 ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED`,
      [keyId, afterSeq, limit],
    )
  ).rows;
}

export async function countNotUnderKey(q: Queryable, keyId: string): Promise<number> {
  const r = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM vault_secrets WHERE key_id <> $1', [keyId]);
  return Number(r.rows[0]?.n ?? 0);
}

export async function reencrypt(q: Queryable, seq: number, encrypted: string, keyId: string): Promise<void> {
  await q.query('UPDATE vault_secrets SET value_encrypted = $2, key_id = $3 WHERE seq = $1', [seq, encrypted, keyId]);
}

/**
 * Key ids some stored secret is encrypted under that are not in `keyIds`. The distinct key ids of
 * vault_secrets are walked through its key_id index (a few probes, not a scan of every row).
 */
export async function unknownKeyIds(q: Queryable, keyIds: string[]): Promise<string[]> {
  const r = await q.query<{ key_id: string }>(
    `WITH RECURSIVE k AS (
       (SELECT key_id FROM vault_secrets ORDER BY key_id LIMIT 1)
       UNION ALL
       SELECT (SELECT v.key_id FROM vault_secrets v WHERE v.key_id > k.key_id ORDER BY v.key_id LIMIT 1) FROM k WHERE k.key_id IS NOT NULL
     )
     SELECT key_id FROM k WHERE key_id IS NOT NULL AND NOT (key_id = ANY($1::text[]))
     UNION
     SELECT DISTINCT split_part(config_encrypted, ':', 2) FROM provider_settings WHERE NOT (split_part(config_encrypted, ':', 2) = ANY($1::text[]))`,
    [keyIds],
  );
  return r.rows.map((x) => x.key_id).sort();
}

export async function sampleProviderSettings(q: Queryable): Promise<{ project_id: string; provider: string; config_encrypted: string }[]> {
  return (
    await q.query<{ project_id: string; provider: string; config_encrypted: string }>(
      'SELECT project_id, provider, config_encrypted FROM provider_settings LIMIT 1',
    )
  ).rows;
}

export interface CanaryRow {
  key_id: string;
  ciphertext: string;
}

export async function listCanaries(q: Queryable): Promise<CanaryRow[]> {
  return (await q.query<CanaryRow>('SELECT key_id, ciphertext FROM encryption_canaries ORDER BY key_id')).rows;
}

export async function insertCanary(q: Queryable, keyId: string, ciphertext: string, at: Date): Promise<void> {
  await q.query('INSERT INTO encryption_canaries (key_id, ciphertext, created_at) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING', [
    keyId,
    ciphertext,
    at,
  ]);
}

export async function listSample(q: Queryable): Promise<SecretRow[]> {
  return (await q.query<SecretRow>(`SELECT ${COLUMNS} FROM vault_secrets ORDER BY seq LIMIT 1`)).rows;
}

export async function countProviderSettingsNotUnderKey(q: Queryable, keyId: string): Promise<number> {
  const r = await q.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM provider_settings WHERE split_part(config_encrypted, ':', 2) <> $1",
    [keyId],
  );
  return Number(r.rows[0]?.n ?? 0);
}

// Provider settings are encrypted with the same keys; rotation re-encrypts them too.
export async function lockProviderSettingsNotUnderKey(
  q: Queryable,
  keyId: string,
): Promise<{ project_id: string; provider: string; config_encrypted: string }[]> {
  return (
    await q.query<{ project_id: string; provider: string; config_encrypted: string }>(
      "SELECT project_id, provider, config_encrypted FROM provider_settings WHERE split_part(config_encrypted, ':', 2) <> $1 FOR UPDATE",
      [keyId],
    )
  ).rows;
}

export async function reencryptProviderSettings(q: Queryable, projectId: string, provider: string, encrypted: string): Promise<void> {
  await q.query('UPDATE provider_settings SET config_encrypted = $3 WHERE project_id = $1 AND provider = $2', [projectId, provider, encrypted]);
}
