import { dash, money, v1, when } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { href } from '../router.ts';
import { BarChart, Card, Loading, Stat, Status } from '../ui.tsx';
import { OverviewMoneyStats } from './Disputes.tsx';

interface Money {
  amount: number;
  currency: string;
}

/** The figures of GET /v1/metrics the overview shows (the dashboard reads them, it does not recount). */
interface Metrics {
  mrr: Money[];
  active_subscriptions: number;
  trialing_subscriptions: number;
  trial_conversion: { trials_ended: number; converted: number; rate: number | null };
  churn: { active_at_start: number; churned: number; rate: number | null };
}

interface Overview {
  months: string[];
  currencies: string[];
  revenue_by_month: { month: string; currency: string; net: number; payments: number }[];
  revenue_this_month: Money[];
  revenue_total: Money[];
  customers: number;
  new_customers_this_month: number;
  failed_payments_this_month: number;
  credits_sold: number;
  credits_consumed: number;
  subscriptions: { active: number; trialing: number; past_due: number; canceled: number };
  metrics: Metrics;
}

/** MRR at the end of each of the last six months, from GET /v1/metrics?as_of=. */
async function mrrHistory(project: string, months: string[]): Promise<{ month: string; mrr: Money[] }[]> {
  const last = months.slice(-6);
  return Promise.all(
    last.map(async (month) => {
      const [y, m] = month.split('-').map(Number) as [number, number];
      const end = new Date(Date.UTC(y, m, 1));
      const asOf = end.getTime() > Date.now() ? new Date().toISOString() : end.toISOString();
      const r = await v1<Metrics>(project, 'GET', `metrics?months=1&as_of=${encodeURIComponent(asOf)}`);
      return { month, mrr: r.mrr };
    }),
  );
}

export function OverviewPage(props: { project: string }) {
  const o = useLoad(() => dash<Overview>('GET', `p/${encodeURIComponent(props.project)}/overview`), [props.project]);
  const pays = useLoad(() => v1(props.project, 'GET', 'payments?limit=10'), [props.project]);
  // Which capabilities the project uses: cards for the others are not shown.
  const cat = useLoad(() => v1(props.project, 'GET', 'catalog'), [props.project]);
  const d = o.data;
  const months = d?.months.join(',');
  const history = useLoad(async () => (d ? mrrHistory(props.project, d.months) : null), [props.project, months]);
  const cur = d?.currencies[0] ?? 'eur';
  const fmt = (v: number) => money({ amount: v, currency: cur });
  const uses = {
    subscriptions: (cat.data?.plans ?? []).some((p: any) => p.price.amount > 0) || (d ? d.subscriptions.active + d.subscriptions.trialing + d.subscriptions.past_due + d.subscriptions.canceled > 0 : false),
    credits: (cat.data?.credit_packs ?? []).length > 0 || (cat.data?.features ?? []).some((f: any) => f.type === 'credits') || (d?.credits_sold ?? 0) > 0,
  };
  const revenuePoints = d ? d.months.map((m) => ({ label: m, value: d.revenue_by_month.filter((r) => r.month === m && r.currency === cur).reduce((s, r) => s + r.net, 0) })) : [];
  const pct = (r: number | null | undefined) => (r === null || r === undefined ? '—' : `${Math.round(r * 1000) / 10} %`);
  return (
    <>
      <h1>Overview</h1>
      <Loading error={o.error} loading={o.loading && !d} />
      {d && (
        <>
          <div className="stats">
            <Stat testId="stat-revenue-month" label="Revenue this month" value={d.revenue_this_month.map((m) => money(m)).join(' · ') || fmt(0)} />
            <Stat testId="stat-revenue-total" label="Revenue, last 12 months" value={d.revenue_total.map((m) => money(m)).join(' · ') || fmt(0)} />
            {uses.subscriptions && <Stat testId="stat-mrr" label="MRR" value={d.metrics.mrr.map((m) => money(m)).join(' · ') || fmt(0)} />}
            {uses.subscriptions && (
              <Stat
                testId="stat-active"
                label="Active subscriptions"
                value={d.metrics.active_subscriptions}
                hint={`${d.metrics.trialing_subscriptions} trialing${d.subscriptions.past_due ? ` · ${d.subscriptions.past_due} past due` : ''}`}
              />
            )}
            <Stat testId="stat-customers" label="Customers" value={d.customers} hint={`${d.new_customers_this_month} new this month`} />
            {uses.credits && <Stat testId="stat-credits" label="Credits sold" value={d.credits_sold.toLocaleString()} hint={`${d.credits_consumed.toLocaleString()} consumed`} />}
            {uses.subscriptions && (
              <Stat
                testId="stat-trial-conversion"
                label="Trial conversion (this month)"
                value={pct(d.metrics.trial_conversion.rate)}
                hint={`${d.metrics.trial_conversion.converted} of ${d.metrics.trial_conversion.trials_ended} trials`}
              />
            )}
            {uses.subscriptions && (
              <Stat testId="stat-churn" label="Churn (this month)" value={pct(d.metrics.churn.rate)} hint={`${d.metrics.churn.churned} of ${d.metrics.churn.active_at_start} subscriptions`} />
            )}
            <OverviewMoneyStats project={props.project} />
          </div>
          {uses.subscriptions && history.data?.some((x) => x.mrr.length > 0) && (
            <Card title="MRR, end of month">
              <BarChart
                testId="mrr-chart"
                format={fmt}
                points={history.data.map((x) => ({ label: x.month, value: x.mrr.filter((m) => m.currency === cur).reduce((s, m) => s + m.amount, 0) }))}
              />
            </Card>
          )}
          <Card title={`Revenue by month (${cur.toUpperCase()}, net of refunds)`}>
            {revenuePoints.some((p) => p.value !== 0) ? (
              <BarChart testId="revenue-chart" format={fmt} points={revenuePoints} />
            ) : (
              <p className="muted empty-chart" data-testid="revenue-empty">
                No revenue in the last 12 months yet. Payments appear here once customers pay.
              </p>
            )}
          </Card>
        </>
      )}
      <Card title="Recent payments" testId="recent-payments">
        <Loading error={pays.error} loading={pays.loading && !pays.data} />
        {pays.data && pays.data.data.length === 0 && <p className="muted">No payments yet.</p>}
        {pays.data && pays.data.data.length > 0 && (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Date</th>
                  <th>Customer</th>
                  <th className="hide-sm">What</th>
                  <th className="num">Amount</th>
                  <th>Status</th>
                </tr>
              </thead>
              <tbody>
                {pays.data.data.map((p: any) => (
                  <tr key={p.id}>
                    <td>{when(p.created_at)}</td>
                    <td>{p.customer_id ? <a href={href('p', props.project, 'customers', p.customer_id)}>{p.customer_id}</a> : '—'}</td>
                    <td className="hide-sm">
                      {p.kind} {p.item_id}
                    </td>
                    <td className="num">{money(p)}</td>
                    <td>
                      <Status value={p.status} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </>
  );
}
