/**
 * ArkWatch: website monitoring. Its own data (the watches) lives in memory; Tollgate counts them
 * against the plan. `POST /signup {user_id, email}`, `GET /account/:user`, `GET|POST /watches/:user`
 * `{url}`, `DELETE /watches/:user/:id`, `POST /trial/:user {plan}`, `GET /billing/:user`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, field, HttpError } from '../shared/http.ts';
import { account, billingPortalUrl, giveBackWatch, pricingUrl, signUp, startTrial, takeWatch, type Tollgate } from './tollgate.ts';

interface Watch {
  id: string;
  url: string;
  created_at: string;
}

export function createApp({ tollgate }: { tollgate: Tollgate }) {
  const watches = new Map<string, Watch[]>();
  const of = (user: string) => watches.get(user) ?? [];
  return createServer({
    'POST /signup': async (req) => ({ status: 201, body: { user_id: (await signUp(tollgate, field(req, 'user_id'), field(req, 'email'))).id } }),
    'GET /account/:user': async (req) => ({ body: await account(tollgate, field(req, 'user')) }),
    'GET /watches/:user': (req) => ({ body: { data: of(field(req, 'user')) } }),
    'POST /watches/:user': async (req) => {
      const user = field(req, 'user');
      const url = field(req, 'url');
      if (!/^https?:\/\//.test(url)) throw new HttpError(400, { error: 'invalid_request', message: 'url must be http(s)' });
      const allowance = await takeWatch(tollgate, user);
      if (!allowance) {
        return {
          status: 402,
          body: { error: 'watch_limit_reached', message: 'Your plan watches no more sites: upgrade or start a free trial', upgrade_url: await pricingUrl(tollgate, user) },
        };
      }
      const watch = { id: `w_${randomUUID()}`, url, created_at: new Date().toISOString() };
      watches.set(user, [...of(user), watch]);
      return { status: 201, body: { ...watch, used: allowance.used, limit: allowance.limit } };
    },
    'DELETE /watches/:user/:id': async (req) => {
      const user = field(req, 'user');
      const list = of(user);
      const watch = list.find((w) => w.id === req.params.id);
      if (!watch) throw new HttpError(404, { error: 'watch_not_found' });
      await giveBackWatch(tollgate, user);
      watches.set(user, list.filter((w) => w !== watch));
      return { body: { deleted: true, id: watch.id } };
    },
    'POST /trial/:user': async (req) => {
      const sub = await startTrial(tollgate, field(req, 'user'), typeof req.body.plan === 'string' ? req.body.plan : 'pro');
      return { status: 201, body: { plan: sub.plan, status: sub.status, trial_end: sub.trial_end ?? null } };
    },
    'GET /billing/:user': async (req) => ({ body: { url: await billingPortalUrl(tollgate, field(req, 'user'), `${req.origin}/account/${req.params.user}`) } }),
  });
}
