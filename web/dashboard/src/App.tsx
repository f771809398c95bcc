import { type FormEvent, useEffect, useState } from 'react';
import { dash } from './api.ts';
import { useLoad } from './hooks.ts';
import { AuditPage } from './pages/Audit.tsx';
import { CatalogPage } from './pages/Catalog.tsx';
import { CustomerPage } from './pages/Customer.tsx';
import { CustomersPage } from './pages/Customers.tsx';
import { EventsPage } from './pages/Events.tsx';
import { InvoicesPage } from './pages/Invoices.tsx';
import { KeysPage } from './pages/Keys.tsx';
import { MailboxPage } from './pages/Mailbox.tsx';
import { OverviewPage } from './pages/Overview.tsx';
import { SettingsPage } from './pages/Settings.tsx';
import { WebhooksPage } from './pages/Webhooks.tsx';
import { go, href, useRoute } from './router.ts';
import { Alert } from './ui.tsx';

interface Me {
  id: string;
  email: string;
}
interface Project {
  id: string;
  /** The live mode's project id (`<id>_live`, docs/modes.md). */
  live_id: string;
  name: string;
}

/** A route's project id names a mode: `<id>_live` is the live mode of project `<id>`. */
function modeOf(projectId: string): { testId: string; mode: 'test' | 'live' } {
  return projectId.endsWith('_live') ? { testId: projectId.slice(0, -5), mode: 'live' } : { testId: projectId, mode: 'test' };
}

function ModeSwitch(props: { mode: 'test' | 'live'; onChange: (mode: 'test' | 'live') => void; place: 'header' | 'bar' }) {
  // In the header on a wide screen; in the mode bar below it on a phone, where the header has no room.
  return (
    <fieldset className={`mode-switch in-${props.place}`} aria-label="Mode" data-testid="mode-switch">
      {(['test', 'live'] as const).map((m) => (
        <button
          key={m}
          type="button"
          aria-pressed={props.mode === m}
          className={props.mode === m ? `mode-${m} active` : `mode-${m}`}
          onClick={() => props.mode !== m && props.onChange(m)}
        >
          {m === 'test' ? 'Test' : 'Live'}
        </button>
      ))}
    </fieldset>
  );
}

const NAV: [string, string][] = [
  ['', 'Overview'],
  ['customers', 'Customers'],
  ['catalog', 'Catalog'],
  ['invoices', 'Invoices'],
  ['events', 'Provider events'],
  ['webhooks', 'Webhooks'],
  ['mailbox', 'Mailbox'],
  ['keys', 'API keys'],
  ['audit', 'Audit log'],
  ['settings', 'Settings'],
];

export function App() {
  const route = useRoute();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  useEffect(() => {
    dash<Me>('GET', 'me').then(setMe, () => setMe(null));
    const out = () => setMe(null);
    window.addEventListener('tollgate:signed-out', out);
    return () => window.removeEventListener('tollgate:signed-out', out);
  }, []);
  if (route[0] === 'setup') return <Setup token={route[1] ?? ''} onDone={(m) => { setMe(m); go(); }} />;
  if (me === undefined) return <p className="muted center">Loading…</p>;
  if (me === null) return <Login onDone={setMe} />;
  return <Shell me={me} route={route} onSignOut={() => setMe(null)} />;
}

function Login(props: { onDone: (m: Me) => void }) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setBusy(true);
    try {
      props.onDone(await dash<Me>('POST', 'login', { email: f.get('email'), password: f.get('password') }));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="auth">
      <form className="card auth-card" onSubmit={submit}>
        <div className="logo">Tollgate</div>
        <h1>Sign in</h1>
        {error && <Alert kind="error">{error}</Alert>}
        <label htmlFor="email">E-mail</label>
        <input id="email" name="email" type="email" autoComplete="username" required />
        <label htmlFor="password">Password</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <p className="muted small">First time? Use the one-time link printed when Tollgate started.</p>
      </form>
    </div>
  );
}

function Setup(props: { token: string; onDone: (m: Me) => void }) {
  const [error, setError] = useState<string>();
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    if (f.get('password') !== f.get('confirm')) return setError('The passwords differ');
    try {
      props.onDone(await dash<Me>('POST', 'setup', { token: props.token, email: f.get('email'), password: f.get('password') }));
    } catch (err) {
      setError((err as Error).message);
    }
  }
  return (
    <div className="auth">
      <form className="card auth-card" onSubmit={submit}>
        <div className="logo">Tollgate</div>
        <h1>Create the first operator</h1>
        <p className="muted small">This link works once. Choose the e-mail and password you will sign in with.</p>
        {error && <Alert kind="error">{error}</Alert>}
        <label htmlFor="email">E-mail</label>
        <input id="email" name="email" type="email" autoComplete="username" required />
        <label htmlFor="password">Password (10 characters or more)</label>
        <input id="password" name="password" type="password" autoComplete="new-password" minLength={10} required />
        <label htmlFor="confirm">Confirm password</label>
        <input id="confirm" name="confirm" type="password" autoComplete="new-password" minLength={10} required />
        <button type="submit">Create and sign in</button>
      </form>
    </div>
  );
}

function Shell(props: { me: Me; route: string[]; onSignOut: () => void }) {
  const projects = useLoad(() => dash<{ data: Project[] }>('GET', 'projects'), []);
  const [menu, setMenu] = useState(false);
  const list = projects.data?.data ?? [];
  const project = props.route[0] === 'p' ? (props.route[1] ?? '') : '';
  const section = project ? (props.route[2] ?? '') : '';
  const { testId, mode } = modeOf(project);
  // Each mode has its own records: switching keeps the section, not a record of the other mode.
  const switchMode = (next: 'test' | 'live') => go('p', next === 'live' ? `${testId}_live` : testId, section);
  useEffect(() => {
    if (!project && list.length) go('p', list[0]!.id);
  }, [project, list]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the menu closes whenever the page changes
  useEffect(() => setMenu(false), [project, section]);
  async function signOut() {
    await dash('POST', 'logout').catch(() => undefined);
    props.onSignOut();
  }
  let page = <p className="muted">{projects.loading ? 'Loading…' : 'No projects yet: create one with "tollgate projects create".'}</p>;
  if (project) {
    const id = props.route[3];
    page =
      section === 'customers' && id ? (
        <CustomerPage key={`${project}/${id}`} project={project} id={id} />
      ) : section === 'customers' ? (
        <CustomersPage key={project} project={project} />
      ) : section === 'catalog' ? (
        <CatalogPage key={project} project={project} />
      ) : section === 'invoices' ? (
        <InvoicesPage key={project} project={project} />
      ) : section === 'events' ? (
        <EventsPage key={project} project={project} />
      ) : section === 'webhooks' ? (
        <WebhooksPage key={project} project={project} />
      ) : section === 'mailbox' ? (
        <MailboxPage key={project} project={project} />
      ) : section === 'keys' ? (
        <KeysPage key={project} project={project} />
      ) : section === 'audit' ? (
        <AuditPage key={project} project={project} />
      ) : section === 'settings' ? (
        <SettingsPage key={project} project={project} />
      ) : (
        <OverviewPage key={project} project={project} />
      );
  }
  return (
    <div className={project ? `shell ${mode}-mode` : 'shell'}>
      <header className="topbar">
        <button type="button" className="menu-button" aria-label="Menu" onClick={() => setMenu(!menu)}>
          ☰
        </button>
        <a className="logo" href={href('p', project)}>
          Tollgate
        </a>
        <select
          aria-label="Project"
          data-testid="project-select"
          value={testId}
          onChange={(e) => go('p', mode === 'live' ? `${e.target.value}_live` : e.target.value, section)}
        >
          {list.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name} ({p.id})
            </option>
          ))}
        </select>
        {project && <ModeSwitch mode={mode} onChange={switchMode} place="header" />}
        <span className="spacer" />
        <span className="muted small who">{props.me.email}</span>
        <button type="button" className="link-button" onClick={signOut}>
          Sign out
        </button>
      </header>
      {project && mode === 'test' && (
        <div className="mode-bar test-banner" role="status" data-testid="test-banner">
          <div className="mode-bar-text">
            <strong>Test mode</strong>
            <span>Test data: sandbox payments and test cards, no real money moves. Switch to Live for real customers.</span>
          </div>
          <ModeSwitch mode={mode} onChange={switchMode} place="bar" />
        </div>
      )}
      {project && mode === 'live' && (
        <div className="mode-bar live-bar" data-testid="live-bar">
          <strong>Live mode</strong>
          <ModeSwitch mode={mode} onChange={switchMode} place="bar" />
        </div>
      )}
      <nav className={menu ? 'sidebar open' : 'sidebar'}>
        {NAV.map(([s, label]) => (
          <a key={s} href={href('p', project, ...(s ? [s] : []))} className={section === s ? 'active' : ''}>
            {label}
          </a>
        ))}
      </nav>
      <main className="content">{page}</main>
    </div>
  );
}
