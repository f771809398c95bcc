import { type FormEvent, useState } from 'react';
import { ApiError, dash, money, v1, when } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { CustomerDisputes } from './Disputes.tsx';
import { InvoiceTable } from './Invoices.tsx';
import { href } from '../router.ts';
import { Alert, Card, Loading, Stat, Status } from '../ui.tsx';
import { EntitlementsTable, PartialRefund, ProfileForm, SubscriptionPanel } from './CustomerActions.tsx';

/** A module's read that may not exist on this instance (subscriptions, orders, vault): null when absent. */
async function optional(project: string, path: string): Promise<any | null> {
  try {
    return await v1(project, 'GET', path);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 403)) return null;
    throw e;
  }
}

export function CustomerPage(props: { project: string; id: string }) {
  const { project, id } = props;
  const cid = encodeURIComponent(id);
  const customer = useLoad(() => v1(project, 'GET', `customers/${cid}`), [project, id]);
  const ledger = useLoad(() => v1(project, 'GET', `customers/${cid}/credits/transactions?limit=20`), [project, id]);
  const payments = useLoad(() => v1(project, 'GET', `payments?limit=10&customer_id=${cid}`), [project, id]);
  const invoices = useLoad(() => v1(project, 'GET', `customers/${cid}/invoices?limit=10`), [project, id]);
  const emails = useLoad(() => optional(project, `customers/${cid}/emails?limit=10`), [project, id]);
  const extras = useLoad(
    async () => {
      const [subscription, orders, secrets, autoTopUp, members] = await Promise.all([
        optional(project, `customers/${cid}/subscription`),
        optional(project, `customers/${cid}/orders?limit=5`),
        optional(project, `customers/${cid}/secrets`),
        optional(project, `customers/${cid}/credits/auto-top-up`),
        optional(project, `customers/${cid}/members`),
      ]);
      return { subscription, orders, secrets, autoTopUp, members };
    },
    [project, id],
  );
  const catalog = useLoad(() => v1(project, 'GET', 'catalog'), [project]);
  const [msg, setMsg] = useState<{ kind: 'success' | 'error'; text: string }>();
  const [actionMsg, setActionMsg] = useState<{ kind: 'success' | 'error'; text: string }>();
  const [busy, setBusy] = useState(false);
  const [partial, setPartial] = useState<string>();
  const [paymentMsg, setPaymentMsgState] = useState<{ kind: 'success' | 'error'; text: string }>();
  const setPaymentMsg = (kind: 'success' | 'error', text: string) => setPaymentMsgState({ kind, text });
  const say = (kind: 'success' | 'error', text: string) => setActionMsg({ kind, text });
  const [profileMsg, setProfileMsg] = useState<{ kind: 'success' | 'error'; text: string }>();
  const sayProfile = (kind: 'success' | 'error', text: string) => setProfileMsg({ kind, text });
  const reloadAll = () => Promise.all([customer.reload(), ledger.reload(), payments.reload(), invoices.reload(), extras.reload()]);
  const cat = catalog.data;
  const plans = (cat?.plans ?? []).filter((p: any) => p.active);
  const featureNames: Record<string, string> = Object.fromEntries((cat?.features ?? []).map((f: any) => [f.id, f.name ?? f.id]));
  const sells = { products: (cat?.products ?? []).length > 0, plans: (cat?.plans ?? []).length > 0 };

  async function adjust(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const direction = String(f.get('direction'));
    setBusy(true);
    try {
      const r = await dash<any>('POST', `p/${encodeURIComponent(project)}/customers/${cid}/credits/adjust`, {
        direction,
        amount: Number(f.get('amount')),
        reason: String(f.get('reason') ?? ''),
      });
      setMsg({ kind: 'success', text: `${direction === 'grant' ? 'Granted' : 'Deducted'} ${f.get('amount')} credits. New balance: ${r.balance}.` });
      form.reset();
      await Promise.all([customer.reload(), ledger.reload()]);
    } catch (err) {
      setMsg({ kind: 'error', text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  }

  async function refund(p: any) {
    if (!window.confirm(`Refund ${money({ amount: p.amount - p.amount_refunded, currency: p.currency })} of ${p.id}? Credits bought with it are taken back.`)) return;
    try {
      await v1(project, 'POST', `payments/${encodeURIComponent(p.id)}/refund`, {});
      setMsg({ kind: 'success', text: `Refunded ${p.id}.` });
      await Promise.all([customer.reload(), ledger.reload(), payments.reload(), invoices.reload()]);
    } catch (err) {
      setMsg({ kind: 'error', text: (err as Error).message });
    }
  }

  async function openCreditsPage() {
    const s = await v1(project, 'POST', 'customer-sessions', { customer_id: id });
    window.open(s.urls.credits, '_blank', 'noopener');
  }

  const c = customer.data;
  const notFound = customer.error?.startsWith('No such customer');
  return (
    <>
      <p className="crumbs">
        <a href={href('p', project, 'customers')}>Customers</a> / {id}
      </p>
      <h1>{c?.name || c?.email || id}</h1>
      {notFound ? <Alert kind="info">This project has no customer “{id}”.</Alert> : <Loading error={customer.error} loading={customer.loading && !c} />}
      {c && (
        <>
          <div className="stats">
            <Stat testId="customer-balance" label="Credit balance" value={c.credits?.balance ?? c.balance ?? 0} hint={c.credits?.held ? `${c.credits.held} held` : undefined} />
            <Stat label="E-mail" value={<span className="small">{c.email ?? '—'}</span>} />
            <Stat label="Customer since" value={<span className="small">{when(c.created_at)}</span>} />
          </div>
          <CustomerDisputes disputes={c.disputes} />
          <div className="grid2">
            <Card title="Grant or deduct credits">
              {msg && <Alert kind={msg.kind}>{msg.text}</Alert>}
              <form onSubmit={adjust} className="stack" data-testid="adjust-form">
                <div className="row">
                  <label>
                    <input type="radio" name="direction" value="grant" defaultChecked /> Grant
                  </label>
                  <label>
                    <input type="radio" name="direction" value="deduct" /> Deduct
                  </label>
                </div>
                <label htmlFor="amount">Credits</label>
                <input id="amount" name="amount" type="number" min={1} step={1} required />
                <label htmlFor="reason">Reason (kept in the ledger and the audit log)</label>
                <input id="reason" name="reason" maxLength={500} required />
                <button type="submit" disabled={busy}>
                  Apply
                </button>
              </form>
            </Card>
            <Card title="Subscription and access" testId="subscription-card">
              {actionMsg && <Alert kind={actionMsg.kind}>{actionMsg.text}</Alert>}
              {extras.data?.subscription || sells.plans ? (
                <SubscriptionPanel key={JSON.stringify(extras.data?.subscription ?? null)} project={project} customer={id} sub={extras.data?.subscription} plans={plans} say={say} onChanged={reloadAll} />
              ) : (
                <p className="muted">No subscription plans in the catalog.</p>
              )}
              {c.entitlements && Object.keys(c.entitlements.features ?? {}).length > 0 && (
                <>
                  <h3>Usage and entitlements</h3>
                  <EntitlementsTable features={c.entitlements.features} names={featureNames} />
                </>
              )}
              <button type="button" className="secondary" onClick={openCreditsPage}>
                Open the customer's credits page
              </button>
            </Card>
          </div>
          <Card title="E-mail and metadata" testId="profile-card">
            {profileMsg && <Alert kind={profileMsg.kind}>{profileMsg.text}</Alert>}
            <ProfileForm key={c.updated_at} project={project} customer={c} say={sayProfile} onChanged={reloadAll} />
          </Card>
        </>
      )}
      {!notFound && (
        <>
          <Card title="Credit ledger" testId="ledger">
            <Loading error={ledger.error} loading={ledger.loading && !ledger.data} />
            {ledger.data && (
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th>Date</th>
                      <th className="hide-sm">Kind</th>
                      <th>Reason</th>
                      <th className="num">Amount</th>
                      <th className="num">Balance</th>
                    </tr>
                  </thead>
                  <tbody>
                    {ledger.data.data.map((e: any) => (
                      <tr key={e.id}>
                        <td>{when(e.created_at)}</td>
                        <td className="hide-sm">{e.kind}</td>
                        <td>
                          {e.reason}
                          {e.member_id && <span className="muted small"> · by {e.member_id}</span>}
                        </td>
                        <td className={`num ${e.amount > 0 ? 'pos' : 'neg'}`}>{e.amount > 0 ? `+${e.amount}` : e.amount}</td>
                        <td className="num">{e.balance_after}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Card>
          {(extras.data?.autoTopUp?.enabled || extras.data?.autoTopUp?.last_error) && (
            <Card title="Auto top-up" testId="auto-top-up">
              <dl className="kv">
                <dt>Status</dt>
                <dd>
                  <Status value={extras.data.autoTopUp.enabled ? 'enabled' : 'disabled'} />
                  {extras.data.autoTopUp.last_error && <span className="muted"> · last error: {extras.data.autoTopUp.last_error}</span>}
                </dd>
                <dt>Buys</dt>
                <dd>
                  pack {extras.data.autoTopUp.pack} when fewer than {extras.data.autoTopUp.threshold} credits are available
                </dd>
                <dt>This month</dt>
                <dd>
                  {extras.data.autoTopUp.spent_this_month} of {extras.data.autoTopUp.monthly_cap} (minor units, the monthly cap)
                </dd>
              </dl>
            </Card>
          )}
          {extras.data?.members && extras.data.members.data.length > 0 && (
            <Card title="Team members" testId="members">
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th>Member</th>
                      <th className="num">Spent this period</th>
                      <th className="num">Limit</th>
                    </tr>
                  </thead>
                  <tbody>
                    {extras.data.members.data.map((m: any) => (
                      <tr key={m.member_id} data-testid="member-row">
                        <td>{m.member_id}</td>
                        <td className="num">{m.spent_this_period}</td>
                        <td className="num">{m.limit ? `${m.limit.amount} / ${m.limit.period}` : 'none'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </Card>
          )}
          <Card title="Payments" testId="payments">
            {paymentMsg && <Alert kind={paymentMsg.kind}>{paymentMsg.text}</Alert>}
            <Loading error={payments.error} loading={payments.loading && !payments.data} />
            {payments.data && payments.data.data.length === 0 && <p className="muted">No payments.</p>}
            {payments.data && payments.data.data.length > 0 && (
              <div className="table-wrap">
                <table>
                  <tbody>
                    {payments.data.data.map((p: any) => (
                      <tr key={p.id}>
                        <td>{when(p.created_at)}</td>
                        <td>
                          {p.kind} {p.item_id}
                        </td>
                        <td className="num">{money(p)}</td>
                        <td>
                          <Status value={p.status} />
                        </td>
                        <td>
                          {(p.status === 'succeeded' || p.status === 'partially_refunded') && (
                            <div className="row wrap">
                              <button type="button" className="small-button danger" onClick={() => refund(p)}>
                                Refund
                              </button>
                              <button type="button" className="small-button" title="Refund part of this payment" onClick={() => setPartial(partial === p.id ? undefined : p.id)}>
                                Other amount…
                              </button>
                            </div>
                          )}
                          {partial === p.id && <PartialRefund project={project} payment={p} say={setPaymentMsg} onDone={reloadAll} onClose={() => setPartial(undefined)} />}
                          {p.amount_refunded > 0 && <div className="muted small">{money({ amount: p.amount_refunded, currency: p.currency })} refunded</div>}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Card>
          <Card title="Invoices" testId="customer-invoices">
            <Loading error={invoices.error} loading={invoices.loading && !invoices.data} />
            {invoices.data && invoices.data.data.length === 0 && <p className="muted">No invoices.</p>}
            {invoices.data && invoices.data.data.length > 0 && <InvoiceTable project={project} rows={invoices.data.data} />}
          </Card>
          {emails.data && (
            <Card title="E-mails" testId="customer-emails" actions={<a className="small" href={href('p', project, 'mailbox')}>Mailbox</a>}>
              {(emails.data.data ?? []).length === 0 && <p className="muted">No e-mails.</p>}
              <div className="table-wrap">
                <table>
                  <tbody>
                    {(emails.data.data ?? []).map((m: any) => (
                      <tr key={m.id}>
                        <td>{when(m.created_at)}</td>
                        <td className="details">{m.subject}</td>
                        <td className="hide-sm muted">{m.template}</td>
                        <td>
                          <Status value={m.status} />
                          {m.skip_reason ? <span className="muted"> · {String(m.skip_reason).replace(/_/g, ' ')}</span> : null}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </Card>
          )}
          {extras.data?.orders && sells.products && (
            <Card title="Orders" testId="orders">
              {(extras.data.orders.data ?? []).length === 0 && <p className="muted">No orders.</p>}
              <div className="table-wrap">
                <table>
                  <tbody>
                    {(extras.data.orders.data ?? []).map((o: any) => (
                      <tr key={o.id}>
                        <td>{when(o.created_at)}</td>
                        <td className="hide-sm">
                          <code>{o.id}</code>
                        </td>
                        <td>
                          {o.count} item{o.count === 1 ? '' : 's'}
                        </td>
                        <td className="num">{money(o.total)}</td>
                        <td>
                          <Status value={String(o.status)} />
                          {o.cancel_reason ? <span className="muted"> · {String(o.cancel_reason).replace(/_/g, ' ')}</span> : null}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </Card>
          )}
          {extras.data?.secrets && ((cat?.secrets ?? []).length > 0 || (extras.data.secrets.data ?? []).length > 0) && (
            <Card title="Vault">
              <ul>
                {(extras.data.secrets.data ?? []).map((s: any) => (
                  <li key={s.name}>
                    <code>{s.name}</code> <span className="muted">{s.preview}</span>
                  </li>
                ))}
              </ul>
            </Card>
          )}
        </>
      )}
    </>
  );
}
