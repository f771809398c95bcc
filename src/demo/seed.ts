import type { AppContext } from '../app/context.ts';
import { getCatalog, pushCatalog } from '../modules/catalog/catalog.service.ts';
import { createKey, createProject } from '../modules/projects/projects.service.ts';
import { DEMO_CATALOGS } from './catalogs.ts';

export interface DemoProjectKeys {
  project: string;
  name: string;
  secretKey: string | null;
  publishableKey: string | null;
}

/**
 * Creates the five demo projects with their catalogs (once). With TOLLGATE_DEMO_KEY the keys are
 * `<prefix>_<project>` and always valid; otherwise fresh keys are made and printed.
 */
export async function seedDemo(ctx: AppContext): Promise<DemoProjectKeys[]> {
  const prefix = ctx.config.demoKey;
  const out: DemoProjectKeys[] = [];
  for (const [id, demo] of Object.entries(DEMO_CATALOGS)) {
    const res = await createProject(ctx, { id, name: demo.name, keyPrefix: prefix });
    if ((await getCatalog(ctx, id)).version === 0) await pushCatalog(ctx, id, demo.catalog, 'demo');
    let secretKey: string | null = res.secretKey.key;
    let publishableKey: string | null = res.publishableKey.key;
    if (!res.created && !prefix) {
      // Keys are stored hashed: an existing project's keys cannot be shown again, so mint a new pair.
      secretKey = (await createKey(ctx.db, id, { kind: 'secret', scopes: ['full', 'secrets:reveal'], name: 'demo' })).key;
      publishableKey = (await createKey(ctx.db, id, { kind: 'publishable', name: 'demo' })).key;
    }
    out.push({ project: id, name: demo.name, secretKey, publishableKey });
  }
  return out;
}
