import { type FormEvent, useState } from 'react';
import { v1, when } from '../api.ts';
import { FieldError, type FormError, FormAlert, formError } from '../forms.tsx';
import { useLoad } from '../hooks.ts';
import { Alert, Card, Loading, Status } from '../ui.tsx';

interface Field {
  name: string;
  label: string;
  type?: 'password' | 'text';
  placeholder?: string;
  optional?: boolean;
}

/** What each provider asks for (PUT /v1/providers/:provider); secrets are typed again to change them. */
const PROVIDERS: { id: 'stripe' | 'paypal'; title: string; fields: Field[]; help: string }[] = [
  {
    id: 'stripe',
    title: 'Stripe',
    fields: [
      { name: 'secret_key', label: 'Secret key', type: 'password', placeholder: 'sk_test_… or sk_live_…' },
      { name: 'webhook_secret', label: 'Webhook signing secret', type: 'password', placeholder: 'whsec_…' },
      { name: 'publishable_key', label: 'Publishable key', placeholder: 'pk_test_… (optional)', optional: true },
    ],
    help: 'In Stripe: Developers → API keys for the secret key; Developers → Webhooks → Add endpoint with the URL below for the signing secret.',
  },
  {
    id: 'paypal',
    title: 'PayPal',
    fields: [
      { name: 'client_id', label: 'Client id', placeholder: 'from your PayPal REST app' },
      { name: 'client_secret', label: 'Client secret', type: 'password' },
      { name: 'webhook_id', label: 'Webhook id', placeholder: 'the id PayPal shows for the webhook' },
    ],
    help: 'In the PayPal developer dashboard: your REST app gives the client id and secret; add a webhook with the URL below and copy its id.',
  },
];

function body(provider: string, f: FormData): Record<string, unknown> {
  const v = (k: string) => String(f.get(k) ?? '').trim();
  if (provider === 'stripe') {
    return {
      secret_key: v('secret_key'),
      webhook_secrets: v('webhook_secret') ? [v('webhook_secret')] : [],
      ...(v('publishable_key') ? { publishable_key: v('publishable_key') } : {}),
      ...(f.get('default') === 'on' ? { default: true } : {}),
    };
  }
  return {
    client_id: v('client_id'),
    client_secret: v('client_secret'),
    webhook_id: v('webhook_id'),
    mode: v('paypal_mode') || 'sandbox',
    ...(f.get('default') === 'on' ? { default: true } : {}),
  };
}

/** API params → form fields (`webhook_secrets.0` is the one signing secret field). */
const fieldOf = (param?: string) => (param?.startsWith('webhook_secrets') ? 'webhook_secret' : param);

function Provider(props: { project: string; spec: (typeof PROVIDERS)[number]; saved?: any; isDefault: boolean; onSaved: () => Promise<void> }) {
  const { spec } = props;
  const status = useLoad(() => v1(props.project, 'GET', `providers/${spec.id}/status`), [props.project, spec.id]);
  const [error, setError] = useState<FormError>();
  const [notice, setNotice] = useState<string>();
  const [check, setCheck] = useState<any>();
  const [editing, setEditing] = useState(false);
  const [busy, setBusy] = useState(false);
  async function save(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setBusy(true);
    setNotice(undefined);
    setCheck(undefined);
    try {
      await v1(props.project, 'PUT', `providers/${spec.id}`, body(spec.id, new FormData(e.currentTarget)));
      setError(undefined);
      setEditing(false);
      setNotice(`${spec.title} keys saved. Verify the connection, then paste the webhook URL into ${spec.title}.`);
      await Promise.all([props.onSaved(), status.reload()]);
    } catch (err) {
      const fe = formError(err);
      setError({ ...fe, field: fieldOf(fe.field), message: fe.message.replace(/^Invalid parameter '[^']+': /, '') });
    } finally {
      setBusy(false);
    }
  }
  async function verify() {
    setBusy(true);
    try {
      setCheck(await v1(props.project, 'POST', `providers/${spec.id}/verify`));
      // The status shows the provider's webhook endpoint too: read again with the check.
      await status.reload();
    } catch (err) {
      setCheck({ ok: false, error: (err as Error).message, warnings: [] });
    } finally {
      setBusy(false);
    }
  }
  const st = status.data;
  const preview = props.saved ? Object.entries(props.saved).filter(([k]) => !['object', 'provider', 'mode', 'default', 'updated_at', 'automatic_tax'].includes(k)) : [];
  const names = spec.fields.map((f) => f.name);
  return (
    <Card
      testId={`provider-${spec.id}`}
      title={
        <>
          {spec.title}{' '}
          {props.saved ? <Status value={props.saved.mode === 'live' ? 'live' : 'connected'} /> : <span className="badge badge-canceled">not connected</span>}
          {props.isDefault && <span className="badge"> default</span>}
        </>
      }
    >
      {notice && <Alert kind="success">{notice}</Alert>}
      {check && (
        <div data-testid={`verify-${spec.id}`}>
          <Alert kind={check.ok ? 'success' : 'error'}>
            {check.ok ? `Connected: ${spec.title} accepted the ${check.mode} credentials (${when(check.checked_at)}).` : `Not connected: ${check.error}`}
          </Alert>
          {check.webhook && check.webhook.status !== 'registered' && (
            <Alert kind="info">
              <span data-testid={`verify-webhook-${spec.id}`}>{webhookRegistrationText(check.webhook)}</span>
            </Alert>
          )}
          {check.warnings?.map((w: string) => (
            <Alert key={w} kind="info">
              {w}
            </Alert>
          ))}
        </div>
      )}
      <Loading error={status.error} loading={status.loading && !st} />
      {props.saved && (
        <dl className="status-list" data-testid={`preview-${spec.id}`}>
          <dt>Mode</dt>
          <dd>{props.saved.mode}</dd>
          {preview.map(([k, v]) => (
            <FragmentRow key={k} k={k} v={Array.isArray(v) ? v.join(', ') || '—' : v === null ? '—' : String(v)} />
          ))}
        </dl>
      )}
      {st && (
        <dl className="status-list" data-testid={`status-${spec.id}`}>
          <dt>Webhook URL</dt>
          <dd>
            <code className="wrap" data-testid={`webhook-url-${spec.id}`}>
              {st.webhook_url}
            </code>
          </dd>
          {st.webhook && (
            <>
              <dt>Webhook endpoint in {spec.title}</dt>
              <dd data-testid={`webhook-registration-${spec.id}`}>{webhookRegistrationText(st.webhook)}</dd>
            </>
          )}
          <dt>Last webhook</dt>
          <dd>{st.webhooks.last_received_at ? `${when(st.webhooks.last_received_at)} (${st.webhooks.received} received)` : 'none received yet'}</dd>
          <dt>Webhook errors</dt>
          <dd>{st.webhooks.last_error ? `${st.webhooks.failed} failed · last ${when(st.webhooks.last_error.at)}: ${st.webhooks.last_error.message}` : 'none'}</dd>
          {st.catalog_sync && (
            <>
              <dt>Catalog sync</dt>
              <dd data-testid={`catalog-sync-${spec.id}`}>
                {st.catalog_sync.status === 'never'
                  ? 'not synced yet (tollgate push syncs plans and packs to Stripe)'
                  : `${st.catalog_sync.status}${st.catalog_sync.catalog_version !== null ? ` · catalog v${st.catalog_sync.catalog_version}` : ''}${st.catalog_sync.synced_at ? ` · ${when(st.catalog_sync.synced_at)}` : ''}${st.catalog_sync.last_error ? ` · ${st.catalog_sync.last_error}` : ''}`}
              </dd>
            </>
          )}
        </dl>
      )}
      <div className="actions">
        {props.saved && (
          <button type="button" className="small-button" onClick={verify} disabled={busy} data-testid={`verify-button-${spec.id}`}>
            Verify connection
          </button>
        )}
        {!editing && (
          <button type="button" className="small-button" onClick={() => setEditing(true)} data-testid={`edit-${spec.id}`}>
            {props.saved ? 'Change keys' : `Connect ${spec.title}`}
          </button>
        )}
      </div>
      {editing && (
        <form onSubmit={save} className="stack" noValidate data-testid={`form-${spec.id}`}>
          <p className="hint">{spec.help}</p>
          <FormAlert error={error} fields={names} />
          <div className="form-grid">
            {spec.fields.map((f) => (
              <div key={f.name}>
                <label htmlFor={`${spec.id}-${f.name}`}>{f.label}</label>
                <input
                  id={`${spec.id}-${f.name}`}
                  name={f.name}
                  type={f.type ?? 'text'}
                  autoComplete="off"
                  placeholder={f.placeholder}
                  aria-invalid={error?.field === f.name ? true : undefined}
                />
                <FieldError error={error} field={f.name} />
              </div>
            ))}
            {spec.id === 'paypal' && (
              <div>
                <label htmlFor="paypal-mode">PayPal environment</label>
                <select id="paypal-mode" name="paypal_mode" defaultValue={props.saved?.paypal_mode ?? 'sandbox'}>
                  <option value="sandbox">Sandbox (test)</option>
                  <option value="live">Live</option>
                </select>
              </div>
            )}
          </div>
          <label className="row">
            <input type="checkbox" name="default" defaultChecked={props.isDefault} /> New checkouts use {spec.title}
          </label>
          {props.saved && <span className="hint">Saved secrets are only shown as previews: type them again to change them.</span>}
          <div className="actions">
            <button type="submit" disabled={busy}>
              Save {spec.title} keys
            </button>
            <button type="button" className="secondary" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </Card>
  );
}

function FragmentRow(props: { k: string; v: string }) {
  return (
    <>
      <dt>{props.k.replace(/_/g, ' ')}</dt>
      <dd>
        <code className="wrap">{props.v}</code>
      </dd>
    </>
  );
}

/** Stripe and PayPal: keys in, webhook URL out, a live check against the provider and what it sent lately. */
export function ProviderConnections(props: { project: string }) {
  const list = useLoad(() => v1(props.project, 'GET', 'providers'), [props.project]);
  const rows: any[] = list.data?.data ?? [];
  return (
    <>
      <h2 className="section-title">Payment providers</h2>
      <Loading error={list.error} loading={list.loading && !list.data} />
      {list.data && (
        <p className="muted small" data-testid="default-provider">
          New checkouts use <strong>{list.data.default}</strong>
          {list.data.default === 'sandbox' ? ' (the built-in test provider: no real money moves)' : ''}.
        </p>
      )}
      {list.data &&
        PROVIDERS.map((spec) => (
          <Provider
            key={spec.id}
            project={props.project}
            spec={spec}
            saved={rows.find((r) => r.provider === spec.id)}
            isDefault={list.data.default === spec.id}
            onSaved={list.reload}
          />
        ))}
    </>
  );
}

/** What GET /v1/providers/stripe/status and its verify say of the provider's webhook endpoint for this project. */
function webhookRegistrationText(w: { status: string; url: string; endpoint_id: string | null; error: string | null }): string {
  if (w.status === 'registered') return `registered (${w.endpoint_id}) for this URL`;
  if (w.status === 'disabled') return `disabled in Stripe (${w.endpoint_id}): enable it there, or Stripe sends nothing`;
  if (w.status === 'missing') return `missing: add an endpoint for ${w.url} in Stripe (Developers → Webhooks), or payments are not recorded`;
  return `unknown: ${w.error ?? 'Stripe could not say'}`;
}
