import type { Queryable } from '../../db/db.ts';

export interface ProviderSettingsRow {
  project_id: string;
  provider: string;
  config_encrypted: string;
  preview: Record<string, unknown>;
  mode: 'test' | 'live';
  updated_at: Date;
}

export async function upsertSettings(
  q: Queryable,
  s: { projectId: string; provider: string; encrypted: string; preview: Record<string, unknown>; mode: 'test' | 'live'; at: Date },
): Promise<ProviderSettingsRow> {
  const r = await q.query<ProviderSettingsRow>(
    `INSERT INTO provider_settings (project_id, provider, config_encrypted, preview, mode, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (project_id, provider) DO UPDATE SET config_encrypted = EXCLUDED.config_encrypted,
       preview = EXCLUDED.preview, mode = EXCLUDED.mode, updated_at = EXCLUDED.updated_at
     RETURNING *`,
    [s.projectId, s.provider, s.encrypted, JSON.stringify(s.preview), s.mode, s.at],
  );
  return r.rows[0] as ProviderSettingsRow;
}

export async function findSettings(q: Queryable, projectId: string, provider: string): Promise<ProviderSettingsRow | undefined> {
  return (
    await q.query<ProviderSettingsRow>('SELECT * FROM provider_settings WHERE project_id = $1 AND provider = $2', [projectId, provider])
  ).rows[0];
}

export async function listSettings(q: Queryable, projectId: string): Promise<ProviderSettingsRow[]> {
  return (await q.query<ProviderSettingsRow>('SELECT * FROM provider_settings WHERE project_id = $1 ORDER BY provider', [projectId]))
    .rows;
}

/** Records a customer's id at a provider (first link wins; relinking the same ref is a no-op). */
export async function linkProviderCustomer(
  q: Queryable,
  l: { projectId: string; customerId: string; provider: string; ref: string; at: Date },
): Promise<void> {
  await q.query(
    `INSERT INTO provider_customers (project_id, customer_id, provider, ref, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING`,
    [l.projectId, l.customerId, l.provider, l.ref, l.at],
  );
}

export async function findProviderCustomerRef(
  q: Queryable,
  projectId: string,
  customerId: string,
  provider: string,
): Promise<string | undefined> {
  return (
    await q.query<{ ref: string }>(
      'SELECT ref FROM provider_customers WHERE project_id = $1 AND customer_id = $2 AND provider = $3',
      [projectId, customerId, provider],
    )
  ).rows[0]?.ref;
}

export async function findCustomerByProviderRef(
  q: Queryable,
  projectId: string,
  provider: string,
  ref: string,
): Promise<string | undefined> {
  return (
    await q.query<{ customer_id: string }>(
      'SELECT customer_id FROM provider_customers WHERE project_id = $1 AND provider = $2 AND ref = $3',
      [projectId, provider, ref],
    )
  ).rows[0]?.customer_id;
}
