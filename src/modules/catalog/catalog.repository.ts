import type { Queryable } from '../../db/db.ts';

export async function findCurrentCatalog(
  q: Queryable,
  projectId: string,
): Promise<{ version: number; document: unknown; created_at: Date } | undefined> {
  const r = await q.query<{ version: number; document: unknown; created_at: Date }>(
    // A live twin sharing its test project's catalog reads the test project's current version (docs/modes.md).
    `SELECT c.version, c.document, c.created_at FROM projects p
     LEFT JOIN projects t ON t.id = p.test_project_id AND p.live_catalog_shared
     JOIN catalogs c ON c.project_id = COALESCE(t.id, p.id) AND c.version = COALESCE(t.catalog_version, p.catalog_version)
     WHERE p.id = $1`,
    [projectId],
  );
  return r.rows[0];
}

/** Appends a new version and makes it current; the project row lock serialises pushes. */
export async function insertCatalogVersion(
  q: Queryable,
  projectId: string,
  document: unknown,
  createdBy: string,
  at: Date,
): Promise<number> {
  const r = await q.query<{ catalog_version: number }>(
    'UPDATE projects SET catalog_version = catalog_version + 1 WHERE id = $1 RETURNING catalog_version',
    [projectId],
  );
  const version = r.rows[0]?.catalog_version;
  if (version === undefined) throw new Error(`project ${projectId} not found`);
  await q.query('INSERT INTO catalogs (project_id, version, document, created_by, created_at) VALUES ($1, $2, $3, $4, $5)', [
    projectId,
    version,
    JSON.stringify(document),
    createdBy,
    at,
  ]);
  return version;
}
