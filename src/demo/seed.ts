import type { AppContext } from '../app/context.ts';
import { ConflictError } from '../domain/errors.ts';
import { getCatalog, pushCatalog } from '../modules/catalog/catalog.service.ts';
import { createProject, getProject } from '../modules/projects/projects.service.ts';
import { DEMO_CATALOGS } from './catalogs.ts';

export interface DemoProjectKeys {
  project: string;
  name: string;
  secretKey: string | null;
  publishableKey: string | null;
}

/**
 * Creates the five demo projects with their catalogs (once). With TOLLGATE_DEMO_KEY the keys are
 * `<prefix>_<project>` and always valid; otherwise fresh keys are made and printed on the first
 * start only: keys are stored hashed, so a restart shows none and adds none (`secretKey: null`).
 */
export async function seedDemo(ctx: AppContext): Promise<DemoProjectKeys[]> {
  const prefix = ctx.config.demoKey;
  const out: DemoProjectKeys[] = [];
  for (const [id, demo] of Object.entries(DEMO_CATALOGS)) {
    const exists = await getProject(ctx, id).then(
      () => true,
      () => false,
    );
    let secretKey: string | null = null;
    let publishableKey: string | null = null;
    if (!exists || prefix) {
      // Another process may create it between the check and here: then it is simply an existing one.
      const res = await createProject(ctx, { id, name: demo.name, keyPrefix: prefix }).catch((err: unknown) => {
        if (err instanceof ConflictError) return null;
        throw err;
      });
      secretKey = res?.secretKey.key ?? null;
      publishableKey = res?.publishableKey.key ?? null;
    }
    if ((await getCatalog(ctx, id)).version === 0) await pushCatalog(ctx, id, demo.catalog, 'demo');
    out.push({ project: id, name: demo.name, secretKey, publishableKey });
  }
  return out;
}
