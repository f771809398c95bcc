import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../app/context.ts';
import { DEMO_CATALOGS } from '../demo/catalogs.ts';
import { NotFoundError } from '../domain/errors.ts';
import { createCustomerSession } from '../modules/customer-sessions/customer-sessions.service.ts';
import { getProject } from '../modules/projects/projects.service.ts';
import { esc, page } from './html.ts';

/** The customer a visitor of the home page acts as when opening a demo project's hosted pages. */
export const DEMO_VISITOR = 'demo_visitor';
const HOSTED = ['pricing', 'credits', 'account'] as const;
type Hosted = (typeof HOSTED)[number];

/** The demo projects that exist in this database (a project deleted or never seeded is left out). */
async function demoProjects(ctx: AppContext): Promise<{ id: string; name: string }[]> {
  if (!ctx.config.demo) return [];
  const found = await Promise.all(
    Object.entries(DEMO_CATALOGS).map(async ([id, d]) => {
      try {
        await getProject(ctx, id);
        return { id, name: d.name };
      } catch (err) {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      }
    }),
  );
  return found.filter((p): p is { id: string; name: string } => p !== undefined);
}

function homePage(ctx: AppContext, demos: { id: string; name: string }[]): string {
  const rows = demos
    .map(
      (d) => `<div class="demo"><div><strong>${esc(d.name)}</strong><div class="muted"><code>${esc(d.id)}</code></div></div><div class="actions">${HOSTED.map(
        (p) =>
          `<form method="post" action="/try/${encodeURIComponent(d.id)}/${p}"><button type="submit" class="button secondary" data-testid="try-${esc(d.id)}-${p}">${p}</button></form>`,
      ).join('')}</div></div>`,
    )
    .join('');
  const demoCard = demos.length
    ? `<section class="card"><h2>Demo projects</h2>
      <p class="muted">Each button opens the hosted page as the demo customer <code>${DEMO_VISITOR}</code> (sandbox provider: pay with card 4242 4242 4242 4242).</p>
      <div class="demos">${rows}</div></section>`
    : '';
  const body = `<style>
    .links { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); margin-bottom: 1.5rem; }
    .links a { display: block; text-decoration: none; color: inherit; }
    .links a strong { color: var(--primary); }
    .demo { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: .6rem; padding: .7rem 0; border-top: 1px solid var(--border); }
    .demo .actions { display: flex; gap: .4rem; }
    .demo .actions form { margin: 0; }
    .demo .actions .button { padding: .35rem .7rem; font-size: .85rem; width: auto; margin: 0; }
  </style>
  <h1>Tollgate</h1>
  <p class="muted">Self-hosted monetization server: catalog, subscriptions, credits, usage limits, cart and orders, payments.</p>
  <div class="links">
    <a class="card" href="/dashboard/" data-testid="link-dashboard"><strong>Dashboard</strong><div class="muted">Customers, revenue, settings</div></a>
    <a class="card" href="/docs" data-testid="link-docs"><strong>API reference</strong><div class="muted">Every endpoint, with examples</div></a>
    <a class="card" href="/openapi.json" data-testid="link-openapi"><strong>OpenAPI document</strong><div class="muted">For generated clients</div></a>
  </div>
  ${demoCard}`;
  return page({ title: 'Tollgate', theme: { name: 'Tollgate' }, body });
}

/** `GET /`: links to the dashboard, the API reference and each demo project's hosted pages. */
export function registerHomePage(app: FastifyInstance, ctx: AppContext): void {
  const opts = { schema: { hide: true }, config: { auth: 'none' as const } };
  app.get('/', opts, async (_req, reply) => {
    const html = homePage(ctx, await demoProjects(ctx));
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  });
  // Opening a hosted page needs a customer session; creating one is a write, so it is a POST (a form).
  type Req = FastifyRequest<{ Params: { project: string; page: string } }>;
  app.post('/try/:project/:page', opts, async (req: Req, reply: FastifyReply) => {
    const demos = await demoProjects(ctx);
    const target = HOSTED.find((p) => p === req.params.page) as Hosted | undefined;
    if (!target || !demos.some((d) => d.id === req.params.project)) {
      return reply.code(404).type('text/html; charset=utf-8').send(page({ title: 'Not found', body: '<div class="card"><h1>Not found</h1><p class="muted">Only the demo projects can be opened from the home page.</p><p><a href="/">Back</a></p></div>' }));
    }
    const projectId = req.params.project;
    const caller = { projectId, keyId: 'home', kind: 'secret' as const, scopes: ['full'], actor: 'home:demo' };
    const { token } = await ctx.db.tx((q) => createCustomerSession(ctx, q, caller, DEMO_VISITOR));
    return reply.code(303).header('location', `/p/${encodeURIComponent(projectId)}/${target}?session=${encodeURIComponent(token)}`).send();
  });
}
