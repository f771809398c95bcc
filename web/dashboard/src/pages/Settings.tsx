import { type FormEvent, useState } from 'react';
import { v1, when } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { Alert, Card, Loading } from '../ui.tsx';

export function SettingsPage(props: { project: string }) {
  const project = useLoad(() => v1(props.project, 'GET', 'project'), [props.project]);
  const providers = useLoad(() => v1(props.project, 'GET', 'providers'), [props.project]);
  const [msg, setMsg] = useState<{ kind: 'success' | 'error'; text: string }>();
  async function save(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const origins = String(f.get('origins') ?? '')
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    try {
      await v1(props.project, 'PATCH', 'project', { name: String(f.get('name')), cors_origins: origins });
      setMsg({ kind: 'success', text: 'Saved.' });
      await project.reload();
    } catch (err) {
      setMsg({ kind: 'error', text: (err as Error).message });
    }
  }
  const p = project.data;
  return (
    <>
      <h1>Settings</h1>
      <Loading error={project.error} loading={project.loading && !p} />
      {p && (
        <Card title="Project">
          {msg && <Alert kind={msg.kind}>{msg.text}</Alert>}
          <form onSubmit={save} className="stack" key={`${p.id}-${p.cors_origins.join(',')}`}>
            <label htmlFor="name">Name</label>
            <input id="name" name="name" defaultValue={p.name} required maxLength={200} />
            <label htmlFor="origins">Browser origins allowed to call the API (CORS), one per line</label>
            <textarea id="origins" name="origins" rows={3} defaultValue={p.cors_origins.join('\n')} placeholder="https://app.example.com" />
            <button type="submit">Save</button>
          </form>
          <p className="muted small">
            Id <code>{p.id}</code> · created {when(p.created_at)} · catalog version {p.catalog_version}
          </p>
        </Card>
      )}
      {p && <EmailSettings project={props.project} email={p.email ?? {}} onSaved={project.reload} />}
      <Card title="Payment providers">
        <Loading error={providers.error} loading={providers.loading && !providers.data} />
        {providers.data && (
          <div className="table-wrap">
            <table>
              <tbody>
                {providers.data.data.map((x: any) => (
                  <tr key={x.provider}>
                    <td>{x.provider}</td>
                    <td>{x.mode}</td>
                    <td>{x.default ? <span className="badge">default</span> : ''}</td>
                    <td className="small muted">{x.preview ? Object.entries(x.preview).map(([k, v]) => `${k}: ${String(v)}`).join(' · ') : ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <p className="muted small">
          Webhook URL for each provider: <code>/v1/webhooks/&lt;provider&gt;/{props.project}</code>. Set credentials with PUT /v1/providers/&lt;provider&gt;.
        </p>
      </Card>
    </>
  );
}

const TEMPLATES: [string, string][] = [
  ['welcome', 'Welcome'],
  ['receipt', 'Receipt (invoice attached)'],
  ['trial_will_end', 'Trial ends in 3 days'],
  ['trial_ended', 'Trial ended'],
  ['payment_failed', 'Payment failed'],
  ['subscription_will_end', 'Subscription will end'],
  ['subscription_canceled', 'Subscription ended'],
  ['credits_low', 'Credits running low'],
  ['order_confirmation', 'Order confirmation'],
  ['api_key_ready', 'API key ready'],
];

/** `settings.email` through PATCH /v1/project: sender, portal link, and which e-mails go out. */
function EmailSettings(props: { project: string; email: any; onSaved: () => Promise<void> }) {
  const [msg, setMsg] = useState<{ kind: 'success' | 'error'; text: string }>();
  const e = props.email;
  async function save(ev: FormEvent<HTMLFormElement>) {
    ev.preventDefault();
    const f = new FormData(ev.currentTarget);
    const templates: Record<string, unknown> = {};
    for (const [name] of TEMPLATES) {
      const on = f.get(`t-${name}`) === 'on';
      const current = e.templates?.[name] ?? {};
      templates[name] = on && Object.keys(current).every((k) => k === 'enabled') ? null : { ...current, enabled: on };
    }
    try {
      await v1(props.project, 'PATCH', 'project', {
        email: {
          enabled: f.get('enabled') === 'on',
          from: String(f.get('from') ?? '').trim() || null,
          portal_url: String(f.get('portal_url') ?? '').trim() || null,
          templates,
        },
      });
      setMsg({ kind: 'success', text: 'Saved.' });
      await props.onSaved();
    } catch (err) {
      setMsg({ kind: 'error', text: (err as Error).message });
    }
  }
  return (
    <Card title="E-mails to customers" testId="email-settings">
      {msg && <Alert kind={msg.kind}>{msg.text}</Alert>}
      <form onSubmit={save} className="stack" key={JSON.stringify(e)}>
        <label className="row">
          <input type="checkbox" name="enabled" defaultChecked={e.enabled !== false} /> Send e-mails
        </label>
        <label htmlFor="from">Sender</label>
        <input id="from" name="from" defaultValue={e.from ?? ''} placeholder='"My app" <billing@localhost>' maxLength={300} />
        <label htmlFor="portal_url">Link in "payment failed" e-mails (your billing page)</label>
        <input id="portal_url" name="portal_url" type="url" defaultValue={e.portal_url ?? ''} placeholder="https://app.example.com/billing" />
        <fieldset className="checks">
          <legend>Templates</legend>
          {TEMPLATES.map(([name, label]) => (
            <label key={name} className="row">
              <input type="checkbox" name={`t-${name}`} defaultChecked={e.templates?.[name]?.enabled !== false} /> {label}
              {e.templates?.[name]?.subject ? <span className="muted small"> · subject: {e.templates[name].subject}</span> : null}
            </label>
          ))}
        </fieldset>
        <button type="submit">Save</button>
      </form>
      <p className="muted small">Subjects and texts can be overridden per template with PATCH /v1/project (see docs/emails.md).</p>
    </Card>
  );
}
