import { useState } from 'react';
import { v1, when } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { Alert, Card, Json, Loading, Status } from '../ui.tsx';

async function endpoints(project: string) {
  return v1(project, 'GET', 'webhook-endpoints');
}

function Deliveries(props: { project: string; endpoint: string }) {
  const list = useLoad(() => v1(props.project, 'GET', `webhook-endpoints/${encodeURIComponent(props.endpoint)}/deliveries?limit=20`), [props.project, props.endpoint]);
  const [msg, setMsg] = useState<string>();
  const [log, setLog] = useState<any>();
  async function toggle(id: string) {
    if (log?.id === id) return setLog(undefined);
    setLog(await v1(props.project, 'GET', `webhook-deliveries/${encodeURIComponent(id)}`));
  }
  async function redeliver(id: string) {
    try {
      const r = await v1(props.project, 'POST', `webhook-deliveries/${encodeURIComponent(id)}/redeliver`);
      setMsg(`Redelivered ${id}: ${r.status ?? 'queued'}.`);
      await list.reload();
    } catch (e) {
      setMsg((e as Error).message);
    }
  }
  return (
    <div>
      {msg && <Alert kind="info">{msg}</Alert>}
      <Loading error={list.error} loading={list.loading && !list.data} />
      {list.data && list.data.data.length === 0 && <p className="muted">No deliveries yet.</p>}
      {list.data && list.data.data.length > 0 && (
        <div className="table-wrap">
          <table>
            <tbody>
              {list.data.data.map((d: any) => (
                <tr key={d.id} data-testid="delivery-row">
                  <td>{when(d.created_at)}</td>
                  <td>
                    <button type="button" className="link-button" onClick={() => toggle(d.id)}>
                      {d.event_type}
                    </button>
                    {log?.id === d.id && <Json value={log.attempt_log ?? log} />}
                  </td>
                  <td>
                    <Status value={String(d.status)} />
                  </td>
                  <td className="small">
                    {d.last_status_code ? `HTTP ${d.last_status_code}` : (d.last_error ?? '')} · {d.attempts} attempt{d.attempts === 1 ? '' : 's'}
                    {d.next_attempt_at ? ` · next ${when(d.next_attempt_at)}` : ''}
                  </td>
                  <td>
                    <button type="button" className="small-button" onClick={() => redeliver(d.id)}>
                      Redeliver
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

export function WebhooksPage(props: { project: string }) {
  const list = useLoad(() => endpoints(props.project), [props.project]);
  const [open, setOpen] = useState<string>();
  return (
    <>
      <h1>Outgoing webhooks</h1>
      <Loading error={list.error} loading={list.loading && list.data === undefined} />
      {list.data && list.data.data.length === 0 && (
        <Card>
          <p className="muted">No endpoints. Create one with POST /v1/webhook-endpoints.</p>
        </Card>
      )}
      {list.data?.data.map((ep: any) => (
        <Card
          key={ep.id}
          title={<code className="wrap">{ep.url}</code>}
          actions={
            <button type="button" className="small-button" onClick={() => setOpen(open === ep.id ? undefined : ep.id)}>
              {open === ep.id ? 'Hide deliveries' : 'Deliveries'}
            </button>
          }
        >
          <p className="muted small">
            {ep.enabled === false ? `disabled${ep.disabled_reason ? ` (${ep.disabled_reason})` : ''}` : 'enabled'} · events: {(ep.events ?? ['*']).join(', ')}
            {ep.description ? ` · ${ep.description}` : ''}
          </p>
          {open === ep.id && <Deliveries project={props.project} endpoint={ep.id} />}
          {open === ep.id && (
            <details>
              <summary>Endpoint</summary>
              <Json value={ep} />
            </details>
          )}
        </Card>
      ))}
    </>
  );
}
