import { type FormEvent, useState } from 'react';
import { OUTBOX_EVENT_TYPES } from '../../../../src/domain/webhook-events.ts';
import { v1, when } from '../api.ts';
import { FieldError, type FormError, FormAlert, formError, OnceSecret } from '../forms.tsx';
import { useLoad } from '../hooks.ts';
import { Alert, Card, Json, Loading, Status } from '../ui.tsx';

/** The event types an endpoint can ask for: the API's own list. */
const EVENT_TYPES: readonly string[] = OUTBOX_EVENT_TYPES;

const clean = (m: string) => m.replace(/^Invalid body parameter '[^']+': /, '');

function Deliveries(props: { project: string; endpoint: string; version: number }) {
  const list = useLoad(
    () => v1(props.project, 'GET', `webhook-endpoints/${encodeURIComponent(props.endpoint)}/deliveries?limit=20`),
    [props.project, props.endpoint, props.version],
  );
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
      {list.data && list.data.data.length === 0 && <p className="muted">No deliveries yet: send a test event.</p>}
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

/** URL, events and description: the create form and the edit form. */
function EndpointForm(props: { initial?: any; submitLabel: string; onSubmit: (body: any) => Promise<void>; onCancel?: () => void; testId: string }) {
  const [error, setError] = useState<FormError>();
  const init = props.initial;
  const [all, setAll] = useState<boolean>(init ? init.events.includes('*') : true);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const events = all ? ['*', ...f.getAll('event').map(String).filter((t) => t === 'credits.deducted')] : f.getAll('event').map(String);
    const description = String(f.get('description') ?? '').trim();
    try {
      await props.onSubmit({ url: String(f.get('url') ?? '').trim(), events, description: description || (init ? null : undefined) });
      setError(undefined);
    } catch (err) {
      const fe = formError(err);
      setError({ ...fe, field: fe.field?.startsWith('events') ? 'events' : fe.field, message: clean(fe.message) });
    }
  }
  const id = (k: string) => `${props.testId}-${k}`;
  return (
    <form onSubmit={submit} className="stack" noValidate data-testid={props.testId}>
      <FormAlert error={error} fields={['url', 'events', 'description']} />
      <label htmlFor={id('url')}>Endpoint URL</label>
      <input id={id('url')} name="url" type="url" required defaultValue={init?.url ?? ''} placeholder="https://app.example.com/webhooks/tollgate" aria-invalid={error?.field === 'url' ? true : undefined} />
      <FieldError error={error} field="url" />
      <label htmlFor={id('description')}>Description</label>
      <input id={id('description')} name="description" defaultValue={init?.description ?? ''} maxLength={500} placeholder="optional" />
      <FieldError error={error} field="description" />
      <fieldset className="checks">
        <legend>Events</legend>
        <label className="row">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} data-testid={id('all-events')} /> All events (every type except credits.deducted)
        </label>
        <div className="events-grid">
          {EVENT_TYPES.map((t) => (
            <label key={t}>
              <input type="checkbox" name="event" value={t} disabled={all && t !== 'credits.deducted'} defaultChecked={init?.events.includes(t)} /> {t}
            </label>
          ))}
        </div>
      </fieldset>
      <FieldError error={error} field="events" />
      <div className="actions">
        <button type="submit">{props.submitLabel}</button>
        {props.onCancel && (
          <button type="button" className="secondary" onClick={props.onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

function Endpoint(props: { project: string; ep: any; onChanged: () => Promise<void> }) {
  const { ep } = props;
  const path = `webhook-endpoints/${encodeURIComponent(ep.id)}`;
  const [open, setOpen] = useState(false);
  const [editing, setEditing] = useState(false);
  const [confirmRotate, setConfirmRotate] = useState(false);
  const [secret, setSecret] = useState<{ value: string; until: string | null }>();
  const [test, setTest] = useState<any>();
  const [error, setError] = useState<string>();
  const [version, setVersion] = useState(0);
  const [busy, setBusy] = useState(false);
  async function act(fn: () => Promise<void>) {
    setBusy(true);
    try {
      await fn();
      setError(undefined);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }
  const toggle = () =>
    act(async () => {
      await v1(props.project, 'PATCH', path, { enabled: !ep.enabled });
      await props.onChanged();
    });
  const sendTest = () =>
    act(async () => {
      setTest(undefined);
      setTest(await v1(props.project, 'POST', `${path}/test`));
      setOpen(true);
      setVersion((v) => v + 1);
    });
  const rotate = () =>
    act(async () => {
      const r = await v1(props.project, 'POST', `${path}/rotate-secret`, { expires_in_seconds: 86_400 });
      setSecret({ value: r.secret, until: r.previous_secret_expires_at });
      setConfirmRotate(false);
      await props.onChanged();
    });
  const attempt = test?.attempt_log?.[test.attempt_log.length - 1];
  return (
    <Card
      testId="endpoint"
      title={<code className="wrap">{ep.url}</code>}
      actions={<Status value={ep.enabled ? 'active' : 'disabled'} />}
    >
      <p className="muted small">
        {ep.enabled ? 'enabled' : `disabled${ep.disabled_reason ? ` (${ep.disabled_reason})` : ''}`} · events: {ep.events.join(', ')}
        {ep.description ? ` · ${ep.description}` : ''}
        {ep.previous_secret_expires_at ? ` · previous secret valid until ${when(ep.previous_secret_expires_at)}` : ''}
      </p>
      {error && <Alert kind="error">{error}</Alert>}
      {secret && (
        <OnceSecret
          testId="rotated-secret"
          value={secret.value}
          label={`New signing secret — copy it now, it is shown only once.${secret.until ? ` The old one keeps signing until ${when(secret.until)}.` : ''}`}
        />
      )}
      {test && (
        <div data-testid="test-result">
          <Alert kind={test.status === 'succeeded' ? 'success' : 'error'}>
            Test event {test.status === 'succeeded' ? 'delivered' : test.status === 'pending' ? 'not delivered yet (retrying)' : 'failed'}
            {attempt ? `: ${attempt.status_code ? `HTTP ${attempt.status_code}` : (attempt.error ?? 'no answer')} in ${attempt.duration_ms} ms` : ''}
          </Alert>
        </div>
      )}
      <div className="actions">
        <button type="button" className="small-button" onClick={sendTest} disabled={busy || !ep.enabled} data-testid="send-test">
          Send test event
        </button>
        <button type="button" className="small-button" onClick={() => setEditing(!editing)} data-testid="edit-endpoint">
          {editing ? 'Close editor' : 'Edit'}
        </button>
        <button type="button" className={ep.enabled ? 'small-button danger' : 'small-button'} onClick={toggle} disabled={busy} data-testid="toggle-endpoint">
          {ep.enabled ? 'Disable' : 'Enable'}
        </button>
        {confirmRotate ? (
          <span className="confirm">
            <span className="small">A new secret; the old one signs too for 24 h.</span>
            <button type="button" className="small-button danger" onClick={rotate} disabled={busy} data-testid="confirm-rotate">
              Rotate now
            </button>
            <button type="button" className="small-button" onClick={() => setConfirmRotate(false)}>
              Cancel
            </button>
          </span>
        ) : (
          <button type="button" className="small-button" onClick={() => setConfirmRotate(true)} data-testid="rotate-secret">
            Rotate secret
          </button>
        )}
        <button type="button" className="small-button" onClick={() => setOpen(!open)}>
          {open ? 'Hide deliveries' : 'Deliveries'}
        </button>
      </div>
      {editing && (
        <EndpointForm
          testId="edit-form"
          initial={ep}
          submitLabel="Save endpoint"
          onCancel={() => setEditing(false)}
          onSubmit={async (body) => {
            await v1(props.project, 'PATCH', path, body);
            setEditing(false);
            await props.onChanged();
          }}
        />
      )}
      {open && <Deliveries project={props.project} endpoint={ep.id} version={version} />}
    </Card>
  );
}

export function WebhooksPage(props: { project: string }) {
  const list = useLoad(() => v1(props.project, 'GET', 'webhook-endpoints?limit=100'), [props.project]);
  const [created, setCreated] = useState<{ id: string; secret: string }>();
  const [creating, setCreating] = useState(false);
  const endpoints: any[] = list.data?.data ?? [];
  return (
    <>
      <h1>Outgoing webhooks</h1>
      <p className="muted small">Tollgate tells your app what happened (a payment, a plan change, credits running low) by POSTing signed events to these URLs (Standard Webhooks).</p>
      {created && (
        <OnceSecret testId="new-secret" value={created.secret} label="Endpoint created. Its signing secret — copy it now, it is shown only once:" />
      )}
      <Card
        title="Add an endpoint"
        actions={
          !creating && (
            <button type="button" className="small-button" onClick={() => setCreating(true)} data-testid="add-endpoint">
              Add endpoint
            </button>
          )
        }
      >
        {creating ? (
          <EndpointForm
            testId="create-form"
            submitLabel="Create endpoint"
            onCancel={() => setCreating(false)}
            onSubmit={async (body) => {
              const r = await v1(props.project, 'POST', 'webhook-endpoints', body);
              setCreated({ id: r.id, secret: r.secret });
              setCreating(false);
              await list.reload();
            }}
          />
        ) : (
          <p className="muted small">Each endpoint gets its own signing secret; send it a test event to check your receiver.</p>
        )}
      </Card>
      <Loading error={list.error} loading={list.loading && list.data === undefined} />
      {list.data && endpoints.length === 0 && (
        <Card testId="no-endpoints">
          <p className="muted">No endpoints yet. Add one to receive events in your app.</p>
        </Card>
      )}
      {endpoints.map((ep) => (
        <Endpoint key={ep.id} project={props.project} ep={ep} onChanged={list.reload} />
      ))}
    </>
  );
}
