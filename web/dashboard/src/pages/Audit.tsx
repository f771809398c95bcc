import { useState } from 'react';
import { v1, when } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { href } from '../router.ts';
import { Card, Loading } from '../ui.tsx';

async function audit(project: string, action: string) {
  return v1(project, 'GET', `audit?limit=100${action ? `&action=${encodeURIComponent(action)}` : ''}`);
}

export function AuditPage(props: { project: string }) {
  const [action, setAction] = useState('');
  const [q, setQ] = useState('');
  const list = useLoad(() => audit(props.project, q), [props.project, q]);
  // Key ids → key names, so the log says who acted ("Backend key"), not "key:key_8f…".
  const keys = useLoad(() => v1(props.project, 'GET', 'keys').catch(() => ({ data: [] })), [props.project]);
  const names: Record<string, string> = Object.fromEntries((keys.data?.data ?? []).map((k: any) => [k.id, `${k.name || `${k.kind} key`} (${k.preview})`]));
  return (
    <>
      <h1>Audit log</h1>
      <p className="muted">Administrative changes: keys, catalog, providers, vault, manual grants — who, what, when, from where.</p>
      <form
        className="search"
        onSubmit={(e) => {
          e.preventDefault();
          setQ(action.trim());
        }}
      >
        <input aria-label="Action" placeholder="Action or family, e.g. credits or key.created" value={action} onChange={(e) => setAction(e.target.value)} />
        <button type="submit">Filter</button>
      </form>
      <Loading error={list.error} loading={list.loading && list.data === undefined} />
      {list.data && (
        <Card>
          {list.data.data.length === 0 && <p className="muted">Nothing recorded.</p>}
          {list.data.data.length > 0 && (
            <div className="table-wrap">
              <table data-testid="audit-table">
                <thead>
                  <tr>
                    <th>When</th>
                    <th>Who</th>
                    <th>Action</th>
                    <th>Customer</th>
                    <th className="hide-sm">From</th>
                  </tr>
                </thead>
                <tbody>
                  {list.data.data.map((r: any) => (
                    <tr key={r.id}>
                      <td>{when(r.created_at)}</td>
                      <td className="small details" data-testid="audit-actor">
                        <Actor actor={r.actor} names={names} />
                      </td>
                      <td className="details">
                        <code>{r.action}</code> {r.target && <span className="muted small">{r.target}</span>}
                        <div className="small muted">
                          {Object.entries(r.details ?? {})
                            .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
                            .join(' · ')}
                        </div>
                      </td>
                      <td>{r.customer_id ? <a href={href('p', props.project, 'customers', r.customer_id)}>{r.customer_id}</a> : '—'}</td>
                      <td className="small muted hide-sm">{r.ip ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Card>
      )}
    </>
  );
}

/** Who acted, by name: an operator's e-mail, an API key's name, a customer's id. */
function Actor(props: { actor: string; names: Record<string, string> }) {
  const at = props.actor.indexOf(':');
  const kind = at > 0 ? props.actor.slice(0, at) : '';
  const who = at > 0 ? props.actor.slice(at + 1) : props.actor;
  if (kind === 'key') {
    return (
      <span title={props.actor}>
        {props.names[who] ?? 'A deleted API key'}
      </span>
    );
  }
  if (kind === 'dashboard') {
    return (
      <span title="Signed in to the dashboard">
        <span className="muted">dashboard:</span>
        {who}
      </span>
    );
  }
  if (kind === 'customer') return <span>customer {who}</span>;
  return <span>{props.actor}</span>;
}
