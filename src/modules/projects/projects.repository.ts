import type { Queryable } from '../../db/db.ts';

export interface ProjectRow {
  id: string;
  name: string;
  default_provider: string;
  sandbox_webhook_secret: string;
  clock_offset_ms: number;
  cors_origins: string[];
  catalog_version: number;
  settings: Record<string, unknown>;
  created_at: Date;
}

export interface ApiKeyRow {
  id: string;
  project_id: string;
  kind: 'secret' | 'publishable';
  key_hash: string;
  preview: string;
  scopes: string[];
  name: string | null;
  created_at: Date;
  revoked_at: Date | null;
  /** Coarse: written at most once per key every few minutes, after the reply (see touchKey). */
  last_used_at: Date | null;
}

export async function insertProject(
  q: Queryable,
  p: { id: string; name: string; sandboxWebhookSecret: string },
): Promise<ProjectRow | undefined> {
  const r = await q.query<ProjectRow>(
    `INSERT INTO projects (id, name, sandbox_webhook_secret) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO NOTHING RETURNING *`,
    [p.id, p.name, p.sandboxWebhookSecret],
  );
  return r.rows[0];
}

export async function findProject(q: Queryable, id: string): Promise<ProjectRow | undefined> {
  return (await q.query<ProjectRow>('SELECT * FROM projects WHERE id = $1', [id])).rows[0];
}

export async function lockProject(q: Queryable, id: string): Promise<ProjectRow | undefined> {
  return (await q.query<ProjectRow>('SELECT * FROM projects WHERE id = $1 FOR NO KEY UPDATE', [id])).rows[0];
}

export async function listProjects(q: Queryable): Promise<ProjectRow[]> {
  return (await q.query<ProjectRow>('SELECT * FROM projects ORDER BY created_at, id')).rows;
}

export async function updateProjectSettings(
  q: Queryable,
  id: string,
  patch: { cors_origins?: string[]; default_provider?: string; settings?: Record<string, unknown>; name?: string },
): Promise<ProjectRow | undefined> {
  const r = await q.query<ProjectRow>(
    `UPDATE projects SET cors_origins = COALESCE($2, cors_origins),
       default_provider = COALESCE($3, default_provider),
       settings = settings || COALESCE($4::jsonb, '{}'::jsonb),
       name = COALESCE($5, name)
     WHERE id = $1 RETURNING *`,
    [id, patch.cors_origins ?? null, patch.default_provider ?? null, patch.settings ? JSON.stringify(patch.settings) : null, patch.name ?? null],
  );
  return r.rows[0];
}

export async function addClockOffset(q: Queryable, id: string, ms: number): Promise<ProjectRow | undefined> {
  const r = await q.query<ProjectRow>(
    'UPDATE projects SET clock_offset_ms = clock_offset_ms + $2 WHERE id = $1 RETURNING *',
    [id, ms],
  );
  return r.rows[0];
}

export async function insertApiKey(
  q: Queryable,
  k: { id: string; projectId: string; kind: 'secret' | 'publishable'; hash: string; preview: string; scopes: string[]; name?: string },
): Promise<ApiKeyRow> {
  const r = await q.query<ApiKeyRow>(
    `INSERT INTO api_keys (id, project_id, kind, key_hash, preview, scopes, name)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (project_id, key_hash) DO UPDATE SET revoked_at = NULL RETURNING *`,
    [k.id, k.projectId, k.kind, k.hash, k.preview, k.scopes, k.name ?? null],
  );
  return r.rows[0] as ApiKeyRow;
}

export async function findKeyByHash(q: Queryable, hash: string): Promise<(ApiKeyRow & { project: ProjectRow }) | undefined> {
  const r = await q.query<ApiKeyRow & { project: ProjectRow }>(
    `SELECT k.*, row_to_json(p.*) AS project FROM api_keys k JOIN projects p ON p.id = k.project_id
     WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
    [hash],
  );
  return r.rows[0];
}

export async function listKeys(q: Queryable, projectId: string): Promise<ApiKeyRow[]> {
  return (
    await q.query<ApiKeyRow>('SELECT * FROM api_keys WHERE project_id = $1 ORDER BY created_at DESC, id', [projectId])
  ).rows;
}

export async function revokeKey(q: Queryable, projectId: string, id: string, at: Date): Promise<ApiKeyRow | undefined> {
  const r = await q.query<ApiKeyRow>(
    `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE project_id = $1 AND id = $2 RETURNING *`,
    [projectId, id, at],
  );
  return r.rows[0];
}

/**
 * Records a key's use, at most once per `everyMs`: the row changes only when its last use is
 * older (or unset), so many instances touching the same key write it once per period.
 */
export async function touchKey(q: Queryable, projectId: string, id: string, at: Date, everyMs: number): Promise<boolean> {
  const r = await q.query(
    `UPDATE api_keys SET last_used_at = $3
     WHERE project_id = $1 AND id = $2 AND (last_used_at IS NULL OR last_used_at <= $3::timestamptz - ($4 * interval '1 millisecond'))`,
    [projectId, id, at, everyMs],
  );
  return r.rowCount > 0;
}

/** Sets (or, with null, removes) `settings.locale`. */
export async function setProjectLocale(q: Queryable, id: string, locale: string | null): Promise<ProjectRow | undefined> {
  const r = await q.query<ProjectRow>(
    `UPDATE projects SET settings = CASE WHEN $2::text IS NULL THEN settings - 'locale' ELSE settings || jsonb_build_object('locale', $2::text) END
     WHERE id = $1 RETURNING *`,
    [id, locale],
  );
  return r.rows[0];
}
