/**
 * AurisVoice: a dubbing API. `POST /signup {user_id, email}`, `GET /credits/:user`,
 * `POST /dub {user_id, seconds}` (402 with the credits page when the balance is short).
 * The dubbing engine is simulated: it dubs 90 % of the estimate, or fails when asked to.
 */
import { createServer, field, HttpError } from '../shared/http.ts';
import { balance, paidDubbing, signUp, type Tollgate } from './tollgate.ts';

export class DubbingFailed extends Error {}
export type Dubber = (job: { seconds: number; fail: boolean }) => Promise<{ seconds: number; audio_url: string }>;

const simulatedDubber: Dubber = async ({ seconds, fail }) => {
  if (fail) throw new DubbingFailed('the dubbing engine failed');
  return { seconds: Math.round(seconds * 0.9), audio_url: `https://cdn.aurisvoice.example/${Date.now()}.mp3` };
};

export function createApp({ tollgate, dubber = simulatedDubber }: { tollgate: Tollgate; dubber?: Dubber }) {
  return createServer({
    'POST /signup': async (req) => {
      const user = await signUp(tollgate, field(req, 'user_id'), field(req, 'email'));
      return { status: 201, body: { user_id: user.id, credits: await balance(tollgate, user.id) } };
    },
    'GET /credits/:user': async (req) => ({ body: { credits: await balance(tollgate, field(req, 'user')) } }),
    'POST /dub': async (req) => {
      const seconds = Number(req.body.seconds);
      if (!Number.isInteger(seconds) || seconds < 1) throw new HttpError(400, { error: 'invalid_request', message: 'seconds must be a positive integer' });
      const user = field(req, 'user_id');
      try {
        const paid = await paidDubbing(tollgate, user, seconds, () => dubber({ seconds, fail: req.body.simulate_failure === true }));
        if (!paid.ok) {
          const { ok: _, ...short } = paid;
          return { status: 402, body: { error: 'insufficient_credits', ...short } };
        }
        return { body: { ...paid.result, credits_charged: paid.charged, credits: await balance(tollgate, user) } };
      } catch (err) {
        if (err instanceof DubbingFailed) {
          return { status: 502, body: { error: 'dubbing_failed', credits_released: true, credits: await balance(tollgate, user) } };
        }
        throw err;
      }
    },
  });
}
