import { useState } from 'react';
import { v1, when } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { Alert, Card, Json, Loading, Status } from '../ui.tsx';

export function EventsPage(props: { project: string }) {
  const [status, setStatus] = useState('');
  const list = useLoad(() => v1(props.project, 'GET', `events?limit=50${status ? `&status=${status}` : ''}`), [props.project, status]);
  const [open, setOpen] = useState<string>();
  const [msg, setMsg] = useState<{ kind: 'success' | 'error'; text: string }>();
  async function replay(id: string) {
    try {
      const r = await v1(props.project, 'POST', `events/${encodeURIComponent(id)}/replay`);
      setMsg({ kind: 'success', text: `Replayed ${id}: ${r.status ?? 'done'}` });
      await list.reload();
    } catch (e) {
      setMsg({ kind: 'error', text: (e as Error).message });
    }
  }
  return (
    <>
      <h1>Provider events</h1>
      <p className="muted">Every verified webhook from Stripe, PayPal and the sandbox, stored once. Replaying runs its processing again; effects happen at most once.</p>
      <div className="search">
        <select aria-label="Status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">All statuses</option>
          <option value="processed">processed</option>
          <option value="failed">failed</option>
          <option value="pending">pending</option>
          <option value="ignored">ignored</option>
        </select>
      </div>
      {msg && <Alert kind={msg.kind}>{msg.text}</Alert>}
      <Card>
        <Loading error={list.error} loading={list.loading && !list.data} />
        {list.data && list.data.data.length === 0 && <p className="muted">No events.</p>}
        {list.data?.data.map((e: any) => (
          <div key={e.id} className="event" data-testid="event-row">
            <div className="event-head">
              <button type="button" className="link-button" onClick={() => setOpen(open === e.id ? undefined : e.id)} aria-expanded={open === e.id}>
                {e.type}
              </button>
              <Status value={e.status} />
              <span className="muted small">
                {e.provider} · {when(e.received_at)} · {e.attempts} attempt{e.attempts === 1 ? '' : 's'}
              </span>
              <span className="spacer" />
              <button type="button" className="small-button" onClick={() => replay(e.id)}>
                Replay
              </button>
            </div>
            {e.last_error && <div className="muted small">Last error: {e.last_error}</div>}
            {open === e.id && <Json value={e.payload} />}
          </div>
        ))}
      </Card>
    </>
  );
}
