import { useState } from 'react';
import { ApiError, v1, when } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { Alert, Card, Json, Loading, Status } from '../ui.tsx';

async function endpoints(project: string) {
  try {
    return await v1(project, 'GET', 'webhook-endpoints');
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

function Deliveries(props: { project: string; endpoint: string }) {
  const list = useLoad(() => v1(props.project, 'GET', `webhook-endpoints/${encodeURIComponent(props.endpoint)}/deliveries?limit=20`), [props.project, props.endpoint]);
  const [msg, setMsg] = useState<string>();
  async function redeliver(id: string) {
    try {
      await v1(props.project, 'POST', `webhook-deliveries/${encodeURIComponent(id)}/redeliver`);
      setMsg(`Redelivery of ${id} queued.`);
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
                  <td>{when(d.created_at ?? d.last_attempt_at)}</td>
                  <td>{d.event_type ?? d.type ?? d.event?.type ?? d.event_id}</td>
                  <td>
                    <Status value={String(d.status)} />
                  </td>
                  <td className="small">
                    {d.response_status ?? d.last_status ?? ''} · {d.attempts ?? 0} attempts
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
      {list.data === null && <Alert kind="info">Outgoing webhooks are not available on this Tollgate version.</Alert>}
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
            {ep.enabled === false || ep.disabled_at ? 'disabled' : 'enabled'} · events: {(ep.events ?? ['*']).join(', ')}
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
