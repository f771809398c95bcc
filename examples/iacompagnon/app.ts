/**
 * IAcompagnon: an AI companion. `POST /signup {user_id, email}` (the user starts 14 days of
 * Premium), `GET /home/:user` (the trial banner and the upgrade link), `POST /chat/:user {message}`.
 */
import { createServer, field } from '../shared/http.ts';
import { countMessage, signUp, subscription, type Tollgate, upgradeUrl } from './tollgate.ts';

type Sub = Awaited<ReturnType<typeof subscription>>;

/** The countdown of a trial nobody has paid for yet. */
function banner(s: Sub) {
  if (s.status !== 'trialing' || s.days_remaining === null || s.next_charge) return null;
  const days = s.days_remaining === 1 ? '1 jour' : `${s.days_remaining} jours`;
  return { text: `Essai Premium : encore ${days}`, days_remaining: s.days_remaining };
}

export function createApp({ tollgate }: { tollgate: Tollgate }) {
  return createServer({
    'POST /signup': async (req) => {
      const user = await signUp(tollgate, field(req, 'user_id'), field(req, 'email'));
      return { status: 201, body: { user_id: user.id, subscription: await subscription(tollgate, user.id) } };
    },
    'GET /home/:user': async (req) => {
      const user = field(req, 'user');
      const sub = await subscription(tollgate, user);
      // Trialing without a card, or on a lower plan: offer Premium; Premium paid (or its trial
      // ending in a charge, card saved): nothing to sell.
      const premium = sub.plan === 'premium' && (sub.status === 'active' || sub.next_charge !== null);
      const upgrade = premium ? null : await upgradeUrl(tollgate, user, 'premium', `${req.origin}/home/${user}`);
      return { body: { ...sub, banner: banner(sub), upgrade_url: upgrade } };
    },
    'POST /chat/:user': async (req) => {
      const user = field(req, 'user');
      const message = field(req, 'message');
      if (!(await countMessage(tollgate, user))) return { status: 402, body: { error: 'message_limit_reached' } };
      return { body: { reply: `Je t'écoute : « ${message.slice(0, 200)} »` } };
    },
  });
}
