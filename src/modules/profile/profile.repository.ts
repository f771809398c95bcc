import type { Queryable } from '../../db/db.ts';

export type StepStatus = 'completed' | 'skipped';

export interface ProfileRow {
  project_id: string;
  customer_id: string;
  organization: string | null;
  industry: string | null;
  timezone: string | null;
  locale: string | null;
  marketing_opt_in: boolean | null;
  terms_accepted_at: Date | null;
  settings: Record<string, unknown>;
  onboarding_steps: Record<string, { status: StepStatus; at: string }>;
  onboarding_completed_at: Date | null;
  updated_at: Date;
}

export async function findProfile(q: Queryable, projectId: string, customerId: string): Promise<ProfileRow | undefined> {
  return (await q.query<ProfileRow>('SELECT * FROM customer_profiles WHERE project_id = $1 AND customer_id = $2', [projectId, customerId]))
    .rows[0];
}

/** The profile row, created empty if missing, locked for the rest of the transaction. */
export async function lockProfile(q: Queryable, projectId: string, customerId: string, at: Date): Promise<ProfileRow> {
  await q.query(
    'INSERT INTO customer_profiles (project_id, customer_id, updated_at) VALUES ($1, $2, $3) ON CONFLICT (project_id, customer_id) DO NOTHING',
    [projectId, customerId, at],
  );
  const r = await q.query<ProfileRow>('SELECT * FROM customer_profiles WHERE project_id = $1 AND customer_id = $2 FOR UPDATE', [
    projectId,
    customerId,
  ]);
  return r.rows[0] as ProfileRow;
}

export async function saveProfile(q: Queryable, p: ProfileRow): Promise<ProfileRow> {
  const r = await q.query<ProfileRow>(
    `UPDATE customer_profiles SET organization = $3, industry = $4, timezone = $5, locale = $6, marketing_opt_in = $7,
       terms_accepted_at = $8, settings = $9, onboarding_steps = $10, onboarding_completed_at = $11, updated_at = $12
     WHERE project_id = $1 AND customer_id = $2 RETURNING *`,
    [
      p.project_id,
      p.customer_id,
      p.organization,
      p.industry,
      p.timezone,
      p.locale,
      p.marketing_opt_in,
      p.terms_accepted_at,
      JSON.stringify(p.settings),
      JSON.stringify(p.onboarding_steps),
      p.onboarding_completed_at,
      p.updated_at,
    ],
  );
  return r.rows[0] as ProfileRow;
}
