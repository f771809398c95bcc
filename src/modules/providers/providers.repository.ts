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
