/**
 * Ava: AI phone assistants. The onboarding wizard — `POST /onboarding/:user/start {email}`,
 * `.../vapi {api_key}`, `.../twilio {account_sid, auth_token}` or `{skip: true}`, `.../assistant
 * {tone, persona}`, `GET /onboarding/:user` — then `POST /calls/:user {to}` places a call with the
 * customer's own Vapi and Twilio keys, or the platform's when the customer brought none.
 * Vapi and Twilio are simulated by `dialer` (a test passes one that records the keys it got).
 */
import { randomUUID } from 'node:crypto';
import { createServer, field, HttpError } from '../shared/http.ts';
import { canCall, completeOnboarding, configureAssistant, countMinutes, keyFor, progress, saveKeys, signUp, skipStep, type Tollgate } from './tollgate.ts';

export interface CallKeys {
  vapi: string;
  twilio: { sid: string; token: string } | null;
}
export type Dialer = (call: { to: string; keys: CallKeys }) => Promise<{ id: string; minutes: number }>;

const simulatedDialer: Dialer = async () => ({ id: `call_${randomUUID()}`, minutes: 3 });

export function createApp({ tollgate, dialer = simulatedDialer }: { tollgate: Tollgate; dialer?: Dialer }) {
  return createServer({
    'POST /onboarding/:user/start': async (req) => ({ status: 201, body: { user_id: (await signUp(tollgate, field(req, 'user'), field(req, 'email'))).id } }),
    'GET /onboarding/:user': async (req) => ({ body: await progress(tollgate, field(req, 'user')) }),
    'POST /onboarding/:user/vapi': async (req) => ({ body: { saved: await saveKeys(tollgate, field(req, 'user'), 'vapi', { vapi_api_key: field(req, 'api_key') }) } }),
    'POST /onboarding/:user/twilio': async (req) => {
      const user = field(req, 'user');
      if (req.body.skip === true) {
        await skipStep(tollgate, user, 'twilio');
        return { body: { skipped: true, saved: [] } };
      }
      const keys = { twilio_account_sid: field(req, 'account_sid'), twilio_auth_token: field(req, 'auth_token') };
      return { body: { saved: await saveKeys(tollgate, user, 'twilio', keys) } };
    },
    'POST /onboarding/:user/assistant': async (req) => {
      const user = field(req, 'user');
      await configureAssistant(tollgate, user, { tone: field(req, 'tone'), persona: field(req, 'persona') });
      const done = await completeOnboarding(tollgate, user);
      if (!done.ok) return { status: 409, body: { error: 'onboarding_incomplete', pending_steps: done.pending_steps } };
      return { body: await progress(tollgate, user) };
    },
    'POST /calls/:user': async (req) => {
      const user = field(req, 'user');
      const to = field(req, 'to');
      if (!(await canCall(tollgate, user))) return { status: 402, body: { error: 'call_minutes_used_up' } };
      const [vapi, sid, token] = await Promise.all([keyFor(tollgate, user, 'vapi_api_key'), keyFor(tollgate, user, 'twilio_account_sid'), keyFor(tollgate, user, 'twilio_auth_token')]);
      if (!vapi) throw new HttpError(409, { error: 'vapi_not_connected', message: 'Connect Vapi in the onboarding first' });
      const call = await dialer({ to, keys: { vapi: vapi.value, twilio: sid && token ? { sid: sid.value, token: token.value } : null } });
      await countMinutes(tollgate, user, call.minutes);
      return { status: 201, body: { call_id: call.id, minutes: call.minutes, vapi_key: vapi.source, twilio_key: sid?.source ?? null } };
    },
  });
}
