import { type FormEvent, useState } from 'react';
import { v1, when } from '../api.ts';
import { FieldError, type FormError, FormAlert, formError, OnceSecret } from '../forms.tsx';
import { useLoad } from '../hooks.ts';
import { Alert, Card, Loading } from '../ui.tsx';

const SCOPES: [string, string][] = [
  ['full', 'full — read and change everything'],
  ['read', 'read — GET requests only'],
  ['secrets:reveal', 'secrets:reveal — may read customers’ vault secrets'],
];

/** "3 min ago" for recent use, else the date; "never" until the key is used. */
function lastUse(v: string | null): string {
  if (!v) return 'never';
  const mins = Math.round((Date.now() - new Date(v).getTime()) / 60_000);
  if (mins >= 0 && mins < 60) return mins <= 5 ? 'in the last 5 min' : `${mins} min ago`;
  return when(v);
}

export function KeysPage(props: { project: string }) {
  const list = useLoad(() => v1(props.project, 'GET', 'keys'), [props.project]);
  const [created, setCreated] = useState<any>();
  const [error, setError] = useState<FormError>();
  const [revokeError, setRevokeError] = useState<string>();
  const [kind, setKind] = useState('secret');
  const [confirm, setConfirm] = useState<string>();
  async function create(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const scopes = f.getAll('scope').map(String);
    try {
      setCreated(await v1(props.project, 'POST', 'keys', { kind, name: String(f.get('name') || '') || undefined, ...(kind === 'secret' ? { scopes } : {}) }));
      setError(undefined);
      await list.reload();
    } catch (err) {
      const fe = formError(err);
      setError({ ...fe, field: fe.field?.startsWith('scopes') ? 'scopes' : fe.field, message: fe.message.replace(/^Invalid body parameter '[^']+': /, '') });
    }
  }
  async function revoke(id: string) {
    try {
      await v1(props.project, 'DELETE', `keys/${encodeURIComponent(id)}`);
      setConfirm(undefined);
      setRevokeError(undefined);
      await list.reload();
    } catch (err) {
      setRevokeError((err as Error).message);
    }
  }
  const keys: any[] = list.data?.data ?? [];
  return (
    <>
      <h1>API keys</h1>
      {created && (
        <OnceSecret testId="new-key" value={created.key} label={`New ${created.kind} key (${created.scopes.join(', ')}) — copy it now, it is shown only once:`} />
      )}
      <Card title="Create a key">
        <FormAlert error={error} fields={['scopes', 'name']} />
        <form onSubmit={create} className="stack" noValidate>
          <div className="form-grid">
            <div>
              <label htmlFor="key-kind">Kind</label>
              <select id="key-kind" name="kind" value={kind} onChange={(e) => setKind(e.target.value)}>
                <option value="secret">Secret (your server)</option>
                <option value="publishable">Publishable (browsers: public catalog only)</option>
              </select>
            </div>
            <div>
              <label htmlFor="key-name">Name</label>
              <input id="key-name" name="name" placeholder="e.g. backend" maxLength={100} aria-invalid={error?.field === 'name' ? true : undefined} />
              <FieldError error={error} field="name" />
            </div>
          </div>
          {kind === 'secret' && (
            <fieldset className="checks">
              <legend>Scopes</legend>
              {SCOPES.map(([s, label]) => (
                <label key={s} className="row">
                  <input type="checkbox" name="scope" value={s} defaultChecked={s === 'full'} data-testid={`scope-${s}`} /> {label}
                </label>
              ))}
            </fieldset>
          )}
          <FieldError error={error} field="scopes" />
          <button type="submit">Create key</button>
        </form>
      </Card>
      <Card title="Keys">
        {revokeError && <Alert kind="error">{revokeError}</Alert>}
        <Loading error={list.error} loading={list.loading && !list.data} />
        {list.data && keys.length === 0 && <p className="muted">No keys yet: create one above.</p>}
        {keys.length > 0 && (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Key</th>
                  <th>Name</th>
                  <th>Scopes</th>
                  <th>Last used</th>
                  <th className="hide-sm">Created</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {keys.map((k: any) => (
                  <tr key={k.id} className={k.revoked_at ? 'revoked' : ''} data-testid="key-row" data-key={k.id}>
                    <td>
                      <code>{k.preview}</code>
                    </td>
                    <td>{k.name ?? '—'}</td>
                    <td className="small">{k.scopes.join(', ')}</td>
                    <td className="small" data-testid="last-used">
                      {lastUse(k.last_used_at)}
                    </td>
                    <td className="hide-sm">{when(k.created_at)}</td>
                    <td>
                      {k.revoked_at ? (
                        <span className="muted small">revoked {when(k.revoked_at)}</span>
                      ) : confirm === k.id ? (
                        <span className="confirm">
                          <span className="small">Apps using it stop at once.</span>
                          <button type="button" className="small-button danger" onClick={() => revoke(k.id)} data-testid="confirm-revoke">
                            Revoke
                          </button>
                          <button type="button" className="small-button" onClick={() => setConfirm(undefined)}>
                            Cancel
                          </button>
                        </span>
                      ) : (
                        <button type="button" className="small-button danger" onClick={() => setConfirm(k.id)} data-testid="revoke">
                          Revoke…
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <p className="muted small">Last use is recorded to within 5 minutes.</p>
      </Card>
    </>
  );
}
