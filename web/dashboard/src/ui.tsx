import type { ReactNode } from 'react';

export function Card(props: { title?: ReactNode; children: ReactNode; actions?: ReactNode; testId?: string }) {
  return (
    <section className="card" data-testid={props.testId}>
      {(props.title || props.actions) && (
        <div className="card-head">
          {props.title && <h2>{props.title}</h2>}
          {props.actions}
        </div>
      )}
      {props.children}
    </section>
  );
}

export function Stat(props: { label: string; value: ReactNode; hint?: ReactNode; testId?: string }) {
  return (
    <div className="stat" data-testid={props.testId}>
      <div className="stat-label">{props.label}</div>
      <div className="stat-value">{props.value}</div>
      {props.hint && <div className="muted small">{props.hint}</div>}
    </div>
  );
}

export function Alert(props: { kind: 'error' | 'info' | 'success'; children: ReactNode }) {
  return (
    <div className={`alert ${props.kind}`} role={props.kind === 'error' ? 'alert' : 'status'}>
      {props.children}
    </div>
  );
}

export function Status(props: { value: string }) {
  return <span className={`badge badge-${props.value}`}>{props.value}</span>;
}

export function Loading(props: { error?: string; loading?: boolean }) {
  if (props.error) return <Alert kind="error">{props.error}</Alert>;
  return props.loading ? <p className="muted">Loading…</p> : null;
}

const narrow = () => window.innerWidth < 600;

/** "2026-03" → "Mar 26" (blank for every other month on a phone). */
function monthLabel(month: string, skip: boolean): string {
  if (skip) return '';
  const d = new Date(`${month}-01T00:00:00Z`);
  return `${d.toLocaleString(undefined, { month: 'short', timeZone: 'UTC' })} ${month.slice(2, 4)}`;
}

/** Bars per month; values in minor units, labels formatted by the caller. */
export function BarChart(props: { points: { label: string; value: number }[]; format: (v: number) => string; testId?: string }) {
  const max = Math.max(1, ...props.points.map((p) => p.value));
  const w = 640;
  const h = 180;
  const bw = w / Math.max(1, props.points.length);
  return (
    <svg className="chart" viewBox={`0 0 ${w} ${h + 34}`} role="img" aria-label="Revenue by month" data-testid={props.testId}>
      {props.points.map((p, i) => {
        const bh = Math.round((p.value / max) * (h - 20));
        return (
          <g key={p.label}>
            <rect x={i * bw + 6} y={h - bh} width={bw - 12} height={Math.max(bh, 1)} rx={4} className={p.value > 0 ? 'bar' : 'bar empty'}>
              <title>{`${p.label}: ${props.format(p.value)}`}</title>
            </rect>
            {p.value > 0 && !narrow() && (
              <text x={i * bw + bw / 2} y={h - bh - 6} textAnchor="middle" className="bar-value">
                {props.format(p.value)}
              </text>
            )}
            <text x={i * bw + bw / 2} y={h + 20} textAnchor="middle" className="bar-label">
              {monthLabel(p.label, props.points.length > 8 && i % 2 === 0 && narrow())}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

export function Json(props: { value: unknown }) {
  return <pre className="json">{JSON.stringify(props.value, null, 2)}</pre>;
}
