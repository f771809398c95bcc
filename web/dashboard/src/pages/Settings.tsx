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
