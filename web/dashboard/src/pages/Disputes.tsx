import { money, v1, when } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { Alert, Card, Stat, Status } from '../ui.tsx';

interface Dispute {
  id: string;
  payment_id: string;
  amount: number;
  currency: string;
  reason: string | null;
  status: 'needs_response' | 'under_review' | 'won' | 'lost';
  provider: string;
  evidence_due_by: string | null;
  credits: { requested: number; held: number; reversed: number; shortfall: number };
  /** The provider's dispute fee (Stripe's); null when none was stated (PayPal, the sandbox). */
  fee: { amount: number; currency: string } | null;
  created_at: string;
}

/** The customer view's `disputes` (GET /v1/customers/:id). */
export interface CustomerDisputesView {
  open: number;
  lost: number;
  credits_held: number;
  subscription_at_risk: boolean;
  data: Dispute[];
}

function creditsLine(d: Dispute): string {
  const parts = [
    d.credits.held > 0 ? `${d.credits.held} held` : '',
    d.credits.reversed > 0 ? `${d.credits.reversed} taken back` : '',
    d.credits.shortfall > 0 ? `${d.credits.shortfall} already spent` : '',
  ].filter(Boolean);
  return parts.join(' · ') || '—';
}

/** The customer page's disputes card: open and lost disputes; hidden when the customer has none. */
export function CustomerDisputes(props: { disputes: CustomerDisputesView | undefined }) {
  const d = props.disputes;
  if (!d || d.data.length === 0) return null;
  return (
    <Card title={`Disputes (${d.open} open, ${d.lost} lost)`} testId="customer-disputes">
      {d.subscription_at_risk && <Alert kind="error">A payment of this customer's subscription is disputed: the subscription is at risk.</Alert>}
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Opened</th>
              <th className="num">Amount</th>
              <th className="num">Fee</th>
              <th className="hide-sm">Reason</th>
              <th>Status</th>
              <th className="hide-sm">Credits</th>
            </tr>
          </thead>
          <tbody>
            {d.data.map((x) => (
              <tr key={x.id}>
                <td>{when(x.created_at)}</td>
                <td className="num">{money(x)}</td>
                <td className="num" data-testid="dispute-fee">
                  {money(x.fee)}
                </td>
                <td className="hide-sm">{x.reason ?? '—'}</td>
                <td>
                  <Status value={x.status} />
                </td>
                <td className="hide-sm small">{creditsLine(x)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Card>
  );
}

interface NetRow {
  currency: string;
  net: number;
  fees: number;
}

/** Overview figures: net revenue this month (after refunds, provider fees and disputes) and open disputes. */
export function OverviewMoneyStats(props: { project: string }) {
  const figures = useLoad(async () => {
    const [metrics, needs, review] = await Promise.all([
      v1<{ net_revenue: NetRow[] }>(props.project, 'GET', 'metrics?months=1'),
      v1<{ data: unknown[]; has_more: boolean }>(props.project, 'GET', 'disputes?status=needs_response&limit=100'),
      v1<{ data: unknown[]; has_more: boolean }>(props.project, 'GET', 'disputes?status=under_review&limit=100'),
    ]);
    const open = needs.data.length + review.data.length;
    return { net: metrics.net_revenue, open: needs.has_more || review.has_more ? `${open}+` : String(open) };
  }, [props.project]);
  const f = figures.data;
  if (!f) return null;
  return (
    <>
      <Stat
        testId="stat-net-revenue"
        label="Net revenue this month"
        value={f.net.map((r) => money({ amount: r.net, currency: r.currency })).join(' · ') || '—'}
        hint={f.net.length > 0 ? `after ${f.net.map((r) => money({ amount: r.fees, currency: r.currency })).join(' · ')} fees, refunds and disputes` : undefined}
      />
      <Stat testId="stat-disputes" label="Open disputes" value={f.open} />
    </>
  );
}
