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
  /** `test` for a project as created; `live` for its twin `<id>_live` (docs/modes.md). */
  mode: 'test' | 'live';
  /** The live twin's test project; null on a test project. */
  test_project_id: string | null;
  /** On a live twin: whether it reads its test project's catalog (true until a live catalog is pushed). */
  live_catalog_shared: boolean;
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

/** The live twin of a test project (kept if it exists), sharing its name, origins and settings. */
export async function insertLiveTwin(
  q: Queryable,
  p: { id: string; testProjectId: string; sandboxWebhookSecret: string },
): Promise<void> {
  await q.query(
    `INSERT INTO projects (id, name, default_provider, sandbox_webhook_secret, cors_origins, settings, mode, test_project_id)
     SELECT $1, t.name, 'stripe', $3, t.cors_origins, t.settings, 'live', t.id FROM projects t WHERE t.id = $2 AND t.mode = 'test'
     ON CONFLICT (id) DO NOTHING`,
    [p.id, p.testProjectId, p.sandboxWebhookSecret],
  );
}

export async function setLiveCatalogShared(q: Queryable, liveId: string, shared: boolean): Promise<void> {
  await q.query("UPDATE projects SET live_catalog_shared = $2 WHERE id = $1 AND mode = 'live'", [liveId, shared]);
}

export async function findProject(q: Queryable, id: string): Promise<ProjectRow | undefined> {
  return (await q.query<ProjectRow>('SELECT * FROM projects WHERE id = $1', [id])).rows[0];
}

export async function lockProject(q: Queryable, id: string): Promise<ProjectRow | undefined> {
  return (await q.query<ProjectRow>('SELECT * FROM projects WHERE id = $1 FOR NO KEY UPDATE', [id])).rows[0];
}

export async function listProjects(q: Queryable): Promise<ProjectRow[]> {
  return (await q.query<ProjectRow>("SELECT * FROM projects WHERE mode = 'test' ORDER BY created_at, id")).rows;
}

/** Settings that belong to one mode (they follow that mode's endpoints); every other setting is shared. */
const PER_MODE_SETTINGS = new Set(['emit_credits_deducted']);

export async function updateProjectSettings(
  q: Queryable,
  id: string,
  patch: { cors_origins?: string[]; default_provider?: string; settings?: Record<string, unknown>; name?: string },
): Promise<ProjectRow | undefined> {
  // Name, origins and settings are shared by both modes: written to the test project and its live twin
  // alike (docs/modes.md); the default provider belongs to the one mode.
  const own = Object.fromEntries(Object.entries(patch.settings ?? {}).filter(([k]) => PER_MODE_SETTINGS.has(k)));
  const shared = Object.fromEntries(Object.entries(patch.settings ?? {}).filter(([k]) => !PER_MODE_SETTINGS.has(k)));
  if (patch.cors_origins || Object.keys(shared).length > 0 || patch.name) {
    await q.query(
      `UPDATE projects SET cors_origins = COALESCE($2, cors_origins),
         settings = settings || COALESCE($3::jsonb, '{}'::jsonb),
         name = COALESCE($4, name)
       WHERE id IN (SELECT COALESCE(test_project_id, id) FROM projects WHERE id = $1)
          OR test_project_id IN (SELECT COALESCE(test_project_id, id) FROM projects WHERE id = $1)`,
      [id, patch.cors_origins ?? null, Object.keys(shared).length > 0 ? JSON.stringify(shared) : null, patch.name ?? null],
    );
  }
  const r = await q.query<ProjectRow>(
    `UPDATE projects SET default_provider = COALESCE($2, default_provider), settings = settings || COALESCE($3::jsonb, '{}'::jsonb)
     WHERE id = $1 RETURNING *`,
    [id, patch.default_provider ?? null, Object.keys(own).length > 0 ? JSON.stringify(own) : null],
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
    // The locale is shared by both modes, like the other display settings (docs/modes.md).
    `UPDATE projects SET settings = CASE WHEN $2::text IS NULL THEN settings - 'locale' ELSE settings || jsonb_build_object('locale', $2::text) END
     WHERE id IN (SELECT COALESCE(test_project_id, id) FROM projects WHERE id = $1)
        OR test_project_id IN (SELECT COALESCE(test_project_id, id) FROM projects WHERE id = $1)
     RETURNING *`,
    [id, locale],
  );
  return r.rows.find((row) => row.id === id);
}
