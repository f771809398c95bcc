import { type FormEvent, useState } from 'react';
import { v1, when } from '../api.ts';
import { FieldError, type FormError, FormAlert, formError } from '../forms.tsx';
import { useLoad } from '../hooks.ts';
import { Alert, Card, Loading } from '../ui.tsx';
import { ProviderConnections } from './Providers.tsx';

export function SettingsPage(props: { project: string }) {
  const project = useLoad(() => v1(props.project, 'GET', 'project'), [props.project]);
  const p = project.data;
  return (
    <>
      <h1>Settings</h1>
      <Loading error={project.error} loading={project.loading && !p} />
      {p && <ProjectSettings project={props.project} p={p} onSaved={project.reload} />}
      {p && <RateLimits project={props.project} p={p} onSaved={project.reload} />}
      {p && <Branding project={props.project} p={p} onSaved={project.reload} />}
      <ProviderConnections project={props.project} />
      {p && <EmailSettings project={props.project} email={p.email ?? {}} onSaved={project.reload} />}
    </>
  );
}

type SectionProps = { project: string; p: any; onSaved: () => Promise<void> };

/** One settings form: PATCH /v1/project with what `body` builds; the API's error shown next to its field. */
function useSave(props: SectionProps) {
  const [error, setError] = useState<FormError>();
  const [saved, setSaved] = useState(false);
  async function save(body: unknown) {
    setSaved(false);
    try {
      await v1(props.project, 'PATCH', 'project', body);
      setError(undefined);
      setSaved(true);
      await props.onSaved();
    } catch (err) {
      setError(formError(err));
    }
  }
  return { error, saved, save, invalid: (f: string) => (error?.field === f ? true : undefined) };
}

function ProjectSettings(props: SectionProps) {
  const { error, saved, save, invalid } = useSave(props);
  const p = props.p;
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const origins = String(f.get('origins') ?? '')
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    void save({ name: String(f.get('name')), cors_origins: origins });
  }
  return (
    <Card title="Project" testId="project-settings">
      {saved && <Alert kind="success">Saved.</Alert>}
      <FormAlert error={error} fields={['name']} />
      <form onSubmit={submit} className="stack" key={`${p.id}-${p.name}-${p.cors_origins.join(',')}`} noValidate>
        <label htmlFor="name">Name</label>
        <input id="name" name="name" defaultValue={p.name} required maxLength={200} aria-invalid={invalid('name')} />
        <FieldError error={error} field="name" />
        <label htmlFor="origins">Browser origins allowed to call the API (CORS), one per line</label>
        <textarea id="origins" name="origins" rows={3} defaultValue={p.cors_origins.join('\n')} placeholder="https://app.example.com" aria-invalid={error?.field?.startsWith('cors_origins') ? true : undefined} />
        {error?.field?.startsWith('cors_origins') && (
          <span className="field-error" role="alert" data-testid="error-cors_origins">
            {corsMessage(error)}
          </span>
        )}
        <button type="submit">Save</button>
      </form>
      <p className="muted small">
        Id <code>{p.id}</code> · created {when(p.created_at)} · catalog version {p.catalog_version}
      </p>
    </Card>
  );
}

/** "cors_origins.1" is the second line the operator typed. */
function corsMessage(error: FormError): string {
  const i = Number(error.field?.split('.')[1]);
  return `${Number.isInteger(i) ? `Line ${i + 1}: ` : ''}${clean(error.message)}`;
}

const clean = (m: string) => m.replace(/^Invalid body parameter '[^']+': /, '');

function RateLimits(props: SectionProps) {
  const { error, saved, save, invalid } = useSave(props);
  const rl = props.p.rate_limit;
  const fields = ['rate_limit.per_key_per_second', 'rate_limit.per_customer_per_second'];
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const num = (k: string) => {
      const v = String(f.get(k) ?? '').trim();
      return v === '' ? null : Number(v);
    };
    void save({ rate_limit: { per_key_per_second: num('per_key'), per_customer_per_second: num('per_customer') } });
  }
  const dflt = (n: number) => (n === 0 ? 'unlimited' : `${n} per second`);
  return (
    <Card title="Rate limits" testId="rate-limits">
      {saved && <Alert kind="success">Saved.</Alert>}
      <FormAlert error={error} fields={fields} />
      <form onSubmit={submit} className="stack" key={JSON.stringify(rl)} noValidate>
        <div className="form-grid">
          <div>
            <label htmlFor="per_key">Requests per second per API key</label>
            <input id="per_key" name="per_key" inputMode="numeric" defaultValue={rl.per_key_per_second ?? ''} placeholder={`server default: ${dflt(rl.server_defaults.per_key_per_second)}`} aria-invalid={invalid(fields[0]!)} />
            <FieldError error={error && { ...error, message: clean(error.message) }} field={fields[0]!} />
          </div>
          <div>
            <label htmlFor="per_customer">Requests per second per customer</label>
            <input id="per_customer" name="per_customer" inputMode="numeric" defaultValue={rl.per_customer_per_second ?? ''} placeholder={`server default: ${dflt(rl.server_defaults.per_customer_per_second)}`} aria-invalid={invalid(fields[1]!)} />
            <FieldError error={error && { ...error, message: clean(error.message) }} field={fields[1]!} />
          </div>
        </div>
        <span className="hint">0 means unlimited; leave a field empty for the server default. A request over the limit gets 429 with Retry-After.</span>
        <button type="submit">Save rate limits</button>
      </form>
    </Card>
  );
}

function Branding(props: SectionProps) {
  const { error, saved, save, invalid } = useSave(props);
  const b = props.p.branding;
  const fields = ['branding.name', 'branding.primary_color', 'branding.logo_url', 'locale'];
  const shown = error && { ...error, message: clean(error.message) };
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const v = (k: string) => String(f.get(k) ?? '').trim() || null;
    void save({ branding: { name: v('brand_name'), primary_color: v('primary_color'), logo_url: v('logo_url') }, locale: v('locale') });
  }
  return (
    <Card title="Branding and language" testId="branding">
      {saved && <Alert kind="success">Saved.</Alert>}
      <FormAlert error={error} fields={fields} />
      <form onSubmit={submit} className="stack" key={JSON.stringify([b, props.p.locale])} noValidate>
        <div className="form-grid">
          <div>
            <label htmlFor="brand_name">Name on hosted pages and e-mails</label>
            <input id="brand_name" name="brand_name" defaultValue={b.name ?? ''} placeholder="the catalog's theme name" maxLength={100} aria-invalid={invalid('branding.name')} />
            <FieldError error={shown} field="branding.name" />
          </div>
          <div>
            <label htmlFor="primary_color">Color</label>
            <input id="primary_color" name="primary_color" defaultValue={b.primary_color ?? ''} placeholder="#4f46e5" maxLength={7} aria-invalid={invalid('branding.primary_color')} />
            <FieldError error={shown} field="branding.primary_color" />
          </div>
          <div>
            <label htmlFor="logo_url">Logo URL</label>
            <input id="logo_url" name="logo_url" type="url" defaultValue={b.logo_url ?? ''} placeholder="https://app.example.com/logo.svg" aria-invalid={invalid('branding.logo_url')} />
            <FieldError error={shown} field="branding.logo_url" />
          </div>
          <div>
            <label htmlFor="locale">Language (locale)</label>
            <input id="locale" name="locale" defaultValue={props.p.locale ?? ''} placeholder="the catalog's, e.g. fr-FR" maxLength={35} aria-invalid={invalid('locale')} />
            <FieldError error={shown} field="locale" />
          </div>
        </div>
        <span className="hint">Empty fields take the catalog's theme and locale.</span>
        <button type="submit">Save branding</button>
      </form>
    </Card>
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
