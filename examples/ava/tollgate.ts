/**
 * Everything Ava does with Tollgate (the app itself is in app.ts): the onboarding wizard keeps the
 * customer's own Vapi and Twilio keys in the vault and its steps on the customer; a call resolves
 * the keys (the customer's own, else the platform's) and counts its minutes.
 */
import { ConflictError, NotFoundError, Tollgate } from '@tollgate/sdk';

export type { Tollgate };
export const connect = (env = process.env) =>
  new Tollgate({ apiKey: env.TOLLGATE_KEY ?? 'sk_test_demo_ava', baseUrl: env.TOLLGATE_URL ?? 'http://localhost:4242' });

export const signUp = (tg: Tollgate, id: string, email: string) => tg.customers.create({ id, email });
type Step = 'vapi' | 'twilio' | 'assistant';
const mark = (tg: Tollgate, id: string, step: Step, status: 'completed' | 'skipped') => tg.customers.update(id, { onboarding: { steps: { [step]: status } } });

/** Stores the keys of a step (encrypted; replies carry previews only) and marks the step done. */
export async function saveKeys(tg: Tollgate, id: string, step: Step, keys: Record<string, string>) {
  const saved = await Promise.all(Object.entries(keys).map(([name, value]) => tg.secrets.put(id, name, value)));
  await mark(tg, id, step, 'completed');
  return saved.map((s) => ({ name: s.name, preview: s.preview }));
}
export const skipStep = (tg: Tollgate, id: string, step: Step) => mark(tg, id, step, 'skipped');
export const configureAssistant = (tg: Tollgate, id: string, studio: Record<string, unknown>) =>
  tg.customers.update(id, { settings: { studio }, onboarding: { steps: { assistant: 'completed' } } });
export async function completeOnboarding(tg: Tollgate, id: string) {
  try {
    await tg.request('POST', '/v1/customers/{id}/onboarding/complete', { params: { path: { id } } });
    return { ok: true as const };
  } catch (err) {
    if (err instanceof ConflictError) return { ok: false as const, pending_steps: err.body.pending_steps as string[] };
    throw err;
  }
}

export async function progress(tg: Tollgate, id: string) {
  const [customer, secrets] = await Promise.all([tg.customers.get(id), tg.secrets.list(id)]);
  return { onboarding: customer.onboarding, keys: secrets.data.map((s) => ({ name: s.name, preview: s.preview })) };
}

/** The key to call with: the customer's own (BYOK), else the platform's; `null` when neither exists. */
export async function keyFor(tg: Tollgate, id: string, name: string) {
  const r = await tg.secrets.resolve(id, name).catch((err: unknown) => (err instanceof NotFoundError ? null : Promise.reject(err)));
  return r && { value: r.value, source: r.source };
}
export const countMinutes = async (tg: Tollgate, id: string, minutes: number) => (await tg.track(id, 'call_minutes', minutes)).allowed;
export const canCall = async (tg: Tollgate, id: string) => (await tg.check(id, 'call_minutes', 1)).allowed;
