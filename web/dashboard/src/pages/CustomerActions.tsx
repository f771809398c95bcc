import { type FormEvent, useState } from 'react';
import { money, v1, when } from '../api.ts';
import { Status } from '../ui.tsx';

type Say = (kind: 'success' | 'error', text: string) => void;

const LIVE = ['trialing', 'active', 'past_due'];

/** What the subscription's dates mean, in words: a past-due subscription is not "renewing". */
export function renewalLine(s: any): { label: string; value: string } | null {
  if (!s || s.status === 'free') return null;
  if (s.status === 'past_due') return { label: 'Billing', value: 'Past due — retrying payment' };
  if (s.status === 'canceled' || s.status === 'expired') return s.ended_at ? { label: 'Ended', value: when(s.ended_at) } : null;
  if (s.cancel_at_period_end) return { label: 'Ends', value: when(s.status === 'trialing' ? s.trial_end : s.current_period_end) };
  if (s.status === 'trialing') return { label: 'Trial ends', value: `${when(s.trial_end)}${s.days_remaining !== null ? ` (${s.days_remaining} days left)` : ''}` };
  return { label: 'Renews', value: when(s.current_period_end) };
}

/** Plan, status, dates and the operator's actions on the subscription: cancel, resume, change plan, extend a trial. */
export function SubscriptionPanel(props: { project: string; customer: string; sub: any; plans: any[]; say: Say; onChanged: () => Promise<unknown> }) {
  const { project, sub, say } = props;
  const cid = encodeURIComponent(props.customer);
  const [plan, setPlan] = useState('');
  const [preview, setPreview] = useState<any>();
  const [busy, setBusy] = useState(false);
  const live = sub && LIVE.includes(sub.status);
  const line = renewalLine(sub);

  async function act(fn: () => Promise<unknown>, done: string) {
    setBusy(true);
    try {
      await fn();
      say('success', done);
      setPreview(undefined);
      await props.onChanged();
    } catch (err) {
      say('error', (err as Error).message);
    } finally {
      setBusy(false);
    }
  }
  const cancel = (atPeriodEnd: boolean) => {
    const q = atPeriodEnd
      ? `Cancel ${props.customer}'s ${sub.plan_name ?? sub.plan} subscription at the end of the period (${when(sub.current_period_end)})?`
      : `Cancel ${props.customer}'s ${sub.plan_name ?? sub.plan} subscription now? Access ends at once and nothing is refunded.`;
    if (!window.confirm(q)) return;
    void act(() => v1(project, 'POST', `customers/${cid}/subscription/cancel`, { at_period_end: atPeriodEnd }), atPeriodEnd ? 'The subscription ends at the period end.' : 'The subscription is canceled.');
  };
  async function previewChange(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (!plan) return;
    try {
      setPreview(await v1(project, 'GET', `customers/${cid}/subscription/preview?plan=${encodeURIComponent(plan)}`));
    } catch (err) {
      setPreview(undefined);
      say('error', (err as Error).message);
    }
  }
  async function extend(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const days = Number(f.get('days'));
    const reason = String(f.get('trial-reason') ?? '').trim();
    await act(() => v1(project, 'POST', `customers/${cid}/subscription/extend-trial`, { days, ...(reason ? { reason } : {}) }), `Trial extended by ${days} days.`);
    form.reset();
  }

  return (
    <div data-testid="subscription">
      {sub ? (
        <dl className="kv">
          <dt>Plan</dt>
          <dd>{sub.plan_name ?? sub.plan ?? '—'}</dd>
          <dt>Status</dt>
          <dd>
            <Status value={String(sub.status)} />
            {sub.cancel_at_period_end && live && <span className="muted small"> · set to cancel</span>}
          </dd>
          {line && (
            <>
              <dt>{line.label}</dt>
              <dd data-testid="renewal">{line.value}</dd>
            </>
          )}
          {live && sub.next_charge && (
            <>
              <dt>Next charge</dt>
              <dd>
                {money(sub.next_charge)} · {when(sub.next_charge.at)}
              </dd>
            </>
          )}
          {sub.pending_plan && (
            <>
              <dt>Next period</dt>
              <dd>moves to {sub.pending_plan}</dd>
            </>
          )}
        </dl>
      ) : (
        <p className="muted">No subscription.</p>
      )}
      {live && (
        <div className="actions" data-testid="subscription-actions">
          {sub.cancel_at_period_end ? (
            <button type="button" className="secondary" disabled={busy} onClick={() => act(() => v1(project, 'POST', `customers/${cid}/subscription/resume`, {}), 'The subscription is resumed.')}>
              Resume
            </button>
          ) : (
            <button type="button" className="secondary" disabled={busy} onClick={() => cancel(true)}>
              Cancel at period end
            </button>
          )}
          <button type="button" className="danger" disabled={busy} onClick={() => cancel(false)}>
            Cancel now
          </button>
        </div>
      )}
      {live && props.plans.length > 0 && (
        <form className="stack" onSubmit={previewChange} data-testid="change-plan">
          <label htmlFor="plan">Change plan</label>
          <div className="row wrap">
            <select
              id="plan"
              value={plan}
              onChange={(e) => {
                setPlan(e.target.value);
                setPreview(undefined);
              }}
            >
              <option value="">Choose a plan…</option>
              {props.plans
                .filter((p) => p.id !== sub.plan)
                .map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name} — {money(p.price)}/{p.interval}
                  </option>
                ))}
            </select>
            <button type="submit" className="secondary" disabled={!plan}>
              Preview
            </button>
          </div>
          {preview && (
            <div className="preview" data-testid="change-preview">
              <p>
                {preview.change === 'upgrade' ? 'Upgrade' : preview.change === 'downgrade' ? 'Downgrade' : 'No change'} to <strong>{plan}</strong>.{' '}
                {preview.change === 'downgrade' ? `It takes effect at the period end (${when(preview.current_period_end)}).` : ''}
              </p>
              <p>
                Charged today: <strong data-testid="amount-due">{money(preview.amount_due_today)}</strong>
                {preview.proration && (
                  <span className="muted small">
                    {' '}
                    (remaining part of the new plan {money({ amount: preview.proration.charge, currency: preview.proration.currency })}, minus the unused part of the old one{' '}
                    {money({ amount: preview.proration.credit, currency: preview.proration.currency })})
                  </span>
                )}
              </p>
              {preview.next_charge && (
                <p className="muted small">
                  Then {money(preview.next_charge)} on {when(preview.next_charge.at)}.
                </p>
              )}
              <button
                type="button"
                disabled={busy}
                onClick={() => act(() => v1(project, 'POST', `customers/${cid}/subscription/change`, { plan }), `Plan changed to ${plan}.`)}
              >
                Confirm the change
              </button>
            </div>
          )}
        </form>
      )}
      {sub?.status === 'trialing' && (
        <form className="stack" onSubmit={extend} data-testid="extend-trial">
          <label htmlFor="days">Extend the trial by (days)</label>
          <div className="row wrap">
            <input id="days" name="days" type="number" min={1} max={365} step={1} required />
            <input aria-label="Reason for the extension" name="trial-reason" placeholder="Reason (optional)" maxLength={500} />
            <button type="submit" className="secondary" disabled={busy}>
              Extend
            </button>
          </div>
        </form>
      )}
    </div>
  );
}

/** The customer's entitlements as a table: each feature, what is used of what is allowed. */
export function EntitlementsTable(props: { features: Record<string, any>; names: Record<string, string> }) {
  const rows = Object.entries(props.features);
  if (rows.length === 0) return <p className="muted">No features in the catalog.</p>;
  return (
    <div className="table-wrap">
      <table data-testid="entitlements">
        <thead>
          <tr>
            <th>Feature</th>
            <th>Access</th>
            <th className="num">Used</th>
            <th className="num">Limit</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([id, e]) => (
            <tr key={id}>
              <td>{props.names[id] ?? id}</td>
              <td>{e.allowed ? 'yes' : 'no'}</td>
              <td className="num">{e.type === 'metered' || e.type === 'allocated' ? e.usage : e.type === 'credits' ? `${e.balance} credits` : '—'}</td>
              <td className="num">
                {e.type === 'metered' || e.type === 'allocated' ? (e.limit === null ? 'unlimited' : e.limit) : e.type === 'value' ? String(e.value ?? '—') : '—'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** E-mail, name and metadata, saved through PATCH /v1/customers/:id (metadata keys merge; a key removed here is sent as null, which removes it). */
export function ProfileForm(props: { project: string; customer: any; say: Say; onChanged: () => Promise<unknown> }) {
  const c = props.customer;
  async function save(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    let metadata: Record<string, unknown>;
    try {
      metadata = JSON.parse(String(f.get('metadata') || '{}'));
      if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) throw new Error('not an object');
    } catch {
      props.say('error', 'Metadata must be a JSON object, e.g. {"plan_source": "sales"}');
      return;
    }
    for (const k of Object.keys(c.metadata ?? {})) if (!(k in metadata)) metadata[k] = null;
    const email = String(f.get('email') ?? '').trim();
    const name = String(f.get('name') ?? '').trim();
    try {
      await v1(props.project, 'PATCH', `customers/${encodeURIComponent(c.id)}`, { email: email || null, name: name || null, metadata });
      props.say('success', 'Customer saved.');
      await props.onChanged();
    } catch (err) {
      props.say('error', (err as Error).message);
    }
  }
  return (
    <form className="stack" onSubmit={save} data-testid="profile-form">
      <label htmlFor="customer-email">E-mail</label>
      <input id="customer-email" name="email" type="email" maxLength={320} defaultValue={c.email ?? ''} />
      <label htmlFor="customer-name">Name</label>
      <input id="customer-name" name="name" maxLength={200} defaultValue={c.name ?? ''} />
      <label htmlFor="customer-metadata">Metadata (JSON object)</label>
      <textarea id="customer-metadata" name="metadata" rows={4} defaultValue={JSON.stringify(c.metadata ?? {}, null, 2)} />
      <button type="submit">Save</button>
    </form>
  );
}

const EXP: Record<string, number> = { jpy: 0, krw: 0, clp: 0, vnd: 0, isk: 0, bhd: 3, kwd: 3, jod: 3, tnd: 3 };

/** A refund of part of a payment: the amount in the payment's currency, a reason, and a confirmation. */
export function PartialRefund(props: { project: string; payment: any; say: Say; onDone: () => Promise<unknown>; onClose: () => void }) {
  const p = props.payment;
  const exp = EXP[p.currency] ?? 2;
  const left = p.amount - p.amount_refunded;
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const amount = Math.round(Number(f.get('refund-amount')) * 10 ** exp);
    const reason = String(f.get('refund-reason') ?? '').trim();
    if (!Number.isSafeInteger(amount) || amount < 1 || amount > left) {
      props.say('error', `Enter an amount between ${money({ amount: 1, currency: p.currency })} and ${money({ amount: left, currency: p.currency })}.`);
      return;
    }
    if (!window.confirm(`Refund ${money({ amount, currency: p.currency })} of ${p.id}?`)) return;
    try {
      await v1(props.project, 'POST', `payments/${encodeURIComponent(p.id)}/refund`, { amount, ...(reason ? { reason } : {}) });
      props.say('success', `Refunded ${money({ amount, currency: p.currency })} of ${p.id}.`);
      props.onClose();
      await props.onDone();
    } catch (err) {
      props.say('error', (err as Error).message);
    }
  }
  return (
    <form className="row refund-form" onSubmit={submit} data-testid="partial-refund">
      <input
        aria-label={`Amount (${p.currency.toUpperCase()})`}
        name="refund-amount"
        type="number"
        min={1 / 10 ** exp}
        max={left / 10 ** exp}
        step={1 / 10 ** exp}
        defaultValue={(left / 10 ** exp).toFixed(exp)}
        required
      />
      <input aria-label="Reason for the refund" name="refund-reason" placeholder="Reason" maxLength={500} />
      <button type="submit" className="small-button danger">
        Refund this amount
      </button>
      <button type="button" className="small-button secondary" onClick={props.onClose}>
        Close
      </button>
    </form>
  );
}
