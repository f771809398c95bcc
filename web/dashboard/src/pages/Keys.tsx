import { type FormEvent, useState } from 'react';
import { v1, when } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { Alert, Card, Loading } from '../ui.tsx';

export function KeysPage(props: { project: string }) {
  const list = useLoad(() => v1(props.project, 'GET', 'keys'), [props.project]);
  const [created, setCreated] = useState<any>();
  const [error, setError] = useState<string>();
  async function create(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const kind = String(f.get('kind'));
    const scopes = String(f.get('scopes')).split(',');
    try {
      setCreated(await v1(props.project, 'POST', 'keys', { kind, name: String(f.get('name') || '') || undefined, ...(kind === 'secret' ? { scopes } : {}) }));
      setError(undefined);
      await list.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  }
  async function revoke(id: string) {
    if (!window.confirm(`Revoke ${id}? Apps using it stop working at once.`)) return;
    try {
      await v1(props.project, 'DELETE', `keys/${encodeURIComponent(id)}`);
      await list.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  }
  return (
    <>
      <h1>API keys</h1>
      {error && <Alert kind="error">{error}</Alert>}
      {created && (
        <Alert kind="success">
          New {created.kind} key — copy it now, it is shown only once:
          <code className="secret" data-testid="new-key">
            {created.key}
          </code>
        </Alert>
      )}
      <Card title="Create a key">
        <form onSubmit={create} className="row wrap">
          <select name="kind" aria-label="Kind" defaultValue="secret">
            <option value="secret">Secret</option>
            <option value="publishable">Publishable</option>
          </select>
          <select name="scopes" aria-label="Scopes" defaultValue="full">
            <option value="full">full</option>
            <option value="read">read</option>
            <option value="full,secrets:reveal">full + secrets:reveal</option>
          </select>
          <input name="name" aria-label="Name" placeholder="Name (e.g. backend)" maxLength={100} />
          <button type="submit">Create key</button>
        </form>
      </Card>
      <Card title="Keys">
        <Loading error={list.error} loading={list.loading && !list.data} />
        {list.data && (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Key</th>
                  <th>Name</th>
                  <th>Scopes</th>
                  <th>Created</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {list.data.data.map((k: any) => (
                  <tr key={k.id} className={k.revoked_at ? 'revoked' : ''}>
                    <td>
                      <code>{k.preview}</code>
                    </td>
                    <td>{k.name ?? '—'}</td>
                    <td className="small">{k.scopes.join(', ')}</td>
                    <td>{when(k.created_at)}</td>
                    <td>
                      {k.revoked_at ? (
                        <span className="muted small">revoked {when(k.revoked_at)}</span>
                      ) : (
                        <button type="button" className="small-button danger" onClick={() => revoke(k.id)}>
                          Revoke
                        </button>
                      )}
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
