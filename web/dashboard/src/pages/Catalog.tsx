import { type FormEvent, type ReactNode, useState } from 'react';
import { ApiError, dash, money, v1 } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { Alert, Card, Json, Loading } from '../ui.tsx';

/**
 * The catalog editor. The catalog is one versioned document: every change here (add, archive, restore,
 * an uploaded file) builds the next document, shows its diff (POST /v1/catalog/diff) and the pricing
 * page it gives, and pushes it (PUT /v1/catalog) once confirmed. Archiving sets `active: false`: the
 * item is no longer sold, and existing subscribers keep their plan and its entitlements.
 */

type Section = 'plans' | 'credit_packs' | 'products' | 'coupons';
type Doc = Record<string, any>;

interface Draft {
  doc: Doc;
  what: string;
  diff?: { current_version: number; lines: string[]; items: unknown[]; settings: unknown[] };
  preview?: string;
  error?: string;
}

const EXP: Record<string, number> = { jpy: 0, krw: 0, clp: 0, vnd: 0, isk: 0, bhd: 3, kwd: 3, jod: 3, tnd: 3 };
const minor = (major: FormDataEntryValue | null, currency: string) => Math.round(Number(major) * 10 ** (EXP[currency] ?? 2));

/** `tollgate push` ignores keys starting with "//" (template comments); so does the upload. */
function stripComments(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripComments);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([k]) => !k.startsWith('//'))
        .map(([k, x]) => [k, stripComments(x)]),
    );
  }
  return v;
}

const SINGULAR: Record<Section, string> = { plans: 'plan', credit_packs: 'credit pack', products: 'product', coupons: 'coupon' };

export function CatalogPage(props: { project: string }) {
  const { project } = props;
  const cat = useLoad(() => v1(project, 'GET', 'catalog'), [project]);
  const [adding, setAdding] = useState<Section | 'upload'>();
  const [draft, setDraft] = useState<Draft>();
  const [msg, setMsg] = useState<{ kind: 'success' | 'error'; text: string }>();
  const [busy, setBusy] = useState(false);
  const c = cat.data;
  const currency: string = c?.currency ?? 'eur';

  /** The current document without its version: what PUT /v1/catalog takes back. */
  const current = (): Doc => {
    const { version: _v, ...doc } = c ?? {};
    return structuredClone(doc);
  };

  async function review(doc: Doc, what: string) {
    setMsg(undefined);
    const d: Draft = { doc, what };
    try {
      d.diff = await v1(project, 'POST', 'catalog/diff', doc);
      d.preview = (await dash<{ html: string }>('POST', `p/${encodeURIComponent(project)}/catalog/pricing-preview`, { catalog: doc })).html;
    } catch (err) {
      d.error = (err as Error).message;
    }
    setDraft(d);
    setAdding(undefined);
  }

  async function push() {
    if (!draft?.diff) return;
    if (!window.confirm(`Push catalog version ${draft.diff.current_version + 1} (${draft.diff.lines.filter((l) => !l.startsWith(' ')).length} changes)? It applies at once.`)) return;
    setBusy(true);
    try {
      // Pushed over what was reviewed only (expected_version, checked by the server under the project's
      // lock): a version pushed meanwhile (CLI, another operator) is a 409 and means a new review.
      const saved = await v1(project, 'PUT', 'catalog', { ...draft.doc, expected_version: draft.diff.current_version });
      setDraft(undefined);
      setMsg({ kind: 'success', text: `Pushed catalog version ${saved.version}.` });
      await cat.reload();
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && err.code === 'conflict') {
        const now = await v1(project, 'GET', 'catalog').catch(() => undefined);
        setDraft({
          ...draft,
          diff: undefined,
          preview: undefined,
          error: `The catalog changed since this review${now ? ` (now version ${now.version})` : ''}. Discard and make the change again.`,
        });
        await cat.reload();
        return;
      }
      setDraft({ ...draft, error: (err as Error).message });
    } finally {
      setBusy(false);
    }
  }

  function setActive(section: Section, id: string, active: boolean) {
    const doc = current();
    doc[section] = (doc[section] ?? []).map((x: Doc) => (x.id === id ? { ...x, active } : x));
    void review(doc, `${active ? 'Restore' : 'Archive'} ${SINGULAR[section]} ${id}`);
  }

  function add(section: Section, item: Doc) {
    const doc = current();
    doc[section] = [...(doc[section] ?? []), item];
    void review(doc, `Add ${SINGULAR[section]} ${item.id}`);
  }

  async function upload(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const file = (new FormData(e.currentTarget).get('file') as File | null) ?? null;
    if (!file?.size) return setMsg({ kind: 'error', text: 'Choose a catalog file (JSON, as tollgate push takes).' });
    let doc: unknown;
    try {
      doc = stripComments(JSON.parse(await file.text()));
    } catch (err) {
      return setMsg({ kind: 'error', text: `${file.name} is not valid JSON: ${(err as Error).message}` });
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return setMsg({ kind: 'error', text: `${file.name} is not a catalog: a JSON object is expected.` });
    await review(doc as Doc, `Upload ${file.name}`);
  }

  const archiveButton = (section: Section, item: Doc) =>
    item.active === false ? (
      <button type="button" className="small-button" disabled={!!draft} onClick={() => setActive(section, item.id, true)}>
        Restore
      </button>
    ) : (
      <button type="button" className="small-button danger" disabled={!!draft} onClick={() => setActive(section, item.id, false)}>
        Archive
      </button>
    );
  const name = (item: Doc) => (
    <>
      {item.name ?? item.code} {item.popular && <span className="badge">popular</span>} {item.active === false && <span className="badge badge-archived">archived</span>}
    </>
  );

  return (
    <>
      <h1>Catalog</h1>
      <Loading error={cat.error} loading={cat.loading && !c} />
      {msg && <Alert kind={msg.kind}>{msg.text}</Alert>}
      {c && (
        <>
          <p className="muted">
            Version {c.version} · currency {String(currency).toUpperCase()} · each change below becomes the next version, shown as a diff before it is pushed (as{' '}
            <code>tollgate push catalog.json --project {project} --dry-run</code>).
          </p>
          <div className="actions" data-testid="catalog-actions">
            {(['plans', 'credit_packs', 'products', 'coupons'] as Section[]).map((s) => (
              <button key={s} type="button" className="secondary" disabled={!!draft} onClick={() => setAdding(adding === s ? undefined : s)}>
                Add {SINGULAR[s]}
              </button>
            ))}
            <button type="button" className="secondary" disabled={!!draft} onClick={() => setAdding(adding === 'upload' ? undefined : 'upload')}>
              Upload a catalog file
            </button>
          </div>
          {adding === 'upload' && (
            <Card title="Upload a catalog file">
              <form className="stack" onSubmit={upload} data-testid="upload-form">
                <label htmlFor="catalog-file">Catalog file (JSON, as tollgate push takes; keys starting with {"//"} are comments)</label>
                <input id="catalog-file" name="file" type="file" accept=".json,application/json" />
                <button type="submit">Show the changes</button>
              </form>
            </Card>
          )}
          {adding && adding !== 'upload' && <ItemForm section={adding} currency={currency} plans={c.plans ?? []} onCancel={() => setAdding(undefined)} onAdd={(item) => add(adding, item)} />}
          {draft && (
            <Card title={`Review: ${draft.what}`} testId="catalog-review">
              {draft.error && <Alert kind="error">{draft.error}</Alert>}
              {draft.diff && (
                <>
                  <p className="muted small">
                    Against version {draft.diff.current_version}; pushing makes version {draft.diff.current_version + 1}.
                  </p>
                  {draft.diff.lines.length === 0 ? (
                    <p className="muted">No changes.</p>
                  ) : (
                    <div className="diff" data-testid="catalog-diff">
                      {draft.diff.lines.map((l, i) => (
                        // biome-ignore lint/suspicious/noArrayIndexKey: lines are shown in order and never reordered
                        <div key={i} className={l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : ''}>
                          {l}
                        </div>
                      ))}
                    </div>
                  )}
                </>
              )}
              {draft.preview && (
                <details open>
                  <summary>Pricing page preview</summary>
                  <iframe className="pricing-frame" title="Pricing page preview" sandbox="" srcDoc={draft.preview} data-testid="pricing-preview" />
                </details>
              )}
              <div className="actions">
                {draft.diff && (
                  <button type="button" disabled={busy || draft.diff.lines.length === 0} onClick={push}>
                    Push version {draft.diff.current_version + 1}
                  </button>
                )}
                <button type="button" className="secondary" onClick={() => setDraft(undefined)}>
                  Discard
                </button>
              </div>
            </Card>
          )}
          <ItemTable title="Plans" rows={c.plans ?? []} empty="No plans: add one to sell subscriptions." testId="catalog-plans" head={['Id', 'Name', 'Price', 'Interval', 'Trial', '']}>
            {(p) => [
              <code key="id">{p.id}</code>,
              name(p),
              money(p.price),
              p.interval,
              p.trial_days ? `${p.trial_days} days` : '—',
              archiveButton('plans', p),
            ]}
          </ItemTable>
          <ItemTable title="Credit packs" rows={c.credit_packs ?? []} empty="No credit packs." testId="catalog-packs" head={['Id', 'Name', 'Credits', 'Price', '']}>
            {(p) => [<code key="id">{p.id}</code>, name(p), p.credits, money(p.price), archiveButton('credit_packs', p)]}
          </ItemTable>
          <ItemTable title="Products" rows={c.products ?? []} empty="No products." testId="catalog-products" head={['Id', 'Name', 'Price', 'Stock', '']}>
            {(p) => [<code key="id">{p.id}</code>, name(p), money(p.price), p.stock === null ? 'unlimited' : `${p.stock}`, archiveButton('products', p)]}
          </ItemTable>
          <ItemTable title="Coupons and promotion codes" rows={c.coupons ?? []} empty="No coupons." testId="catalog-coupons" head={['Id', 'Code', 'Discount', 'Duration', '']}>
            {(p) => [
              <code key="id">{p.id}</code>,
              name(p),
              p.percent_off ? `${p.percent_off} %` : money(p.amount_off),
              p.duration === 'repeating' ? `${p.duration_in_months} months` : p.duration,
              archiveButton('coupons', p),
            ]}
          </ItemTable>
          {c.features?.length > 0 && (
            <Card title="Features">
              <ul>
                {c.features.map((f: any) => (
                  <li key={f.id}>
                    <code>{f.id}</code> {f.name} <span className="muted">({f.type})</span>
                  </li>
                ))}
              </ul>
            </Card>
          )}
          <details className="card">
            <summary>Catalog document</summary>
            <Json value={c} />
          </details>
        </>
      )}
    </>
  );
}

/** Numbers right-aligned; on a phone the id, interval, trial and duration columns are left out (the name says which item it is). */
const PHONE_HIDDEN = new Set(['Interval', 'Trial', 'Duration']);
const cls = (head: string, i: number) => [head === 'Price' || head === 'Credits' ? 'num' : '', i === 0 || PHONE_HIDDEN.has(head) ? 'hide-sm' : ''].join(' ').trim();

function ItemTable(props: { title: string; rows: Doc[]; empty: string; head: string[]; testId: string; children: (row: Doc) => ReactNode[] }) {
  return (
    <Card title={props.title} testId={props.testId}>
      {props.rows.length === 0 ? (
        <p className="muted">{props.empty}</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                {props.head.map((h, i) => (
                  <th key={h || i} className={cls(h, i)}>
                    {h}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {props.rows.map((r) => (
                <tr key={r.id} data-testid={`row-${r.id}`}>
                  {props.children(r).map((cell, i) => (
                    <td key={props.head[i] || i} className={cls(props.head[i] ?? '', i)}>
                      {cell}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

/** The fields of a new plan, credit pack, product or coupon; prices in major units of the catalog currency. */
function ItemForm(props: { section: Section; currency: string; plans: Doc[]; onAdd: (item: Doc) => void; onCancel: () => void }) {
  const { section, currency } = props;
  const [kind, setKind] = useState<'percent' | 'amount'>('percent');
  const [duration, setDuration] = useState('once');
  const cur = currency.toUpperCase();
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const s = (k: string) => String(f.get(k) ?? '').trim();
    const price = () => ({ amount: minor(f.get('price'), currency), currency });
    const base = { id: s('id') };
    if (section === 'plans') {
      props.onAdd({ ...base, name: s('name'), price: price(), interval: s('interval'), trial_days: Number(s('trial_days') || 0), popular: f.get('popular') === 'on' });
    } else if (section === 'credit_packs') {
      props.onAdd({ ...base, name: s('name'), credits: Number(s('credits')), price: price(), popular: f.get('popular') === 'on' });
    } else if (section === 'products') {
      props.onAdd({ ...base, name: s('name'), price: price(), stock: s('stock') === '' ? null : Number(s('stock')), digital: f.get('digital') === 'on' });
    } else {
      const off = kind === 'percent' ? { percent_off: Number(s('percent_off')) } : { amount_off: { amount: minor(f.get('amount_off'), currency), currency } };
      const plans = f.getAll('coupon_plans').map(String);
      props.onAdd({
        ...base,
        code: s('code'),
        ...off,
        duration,
        ...(duration === 'repeating' ? { duration_in_months: Number(s('duration_in_months')) } : {}),
        ...(plans.length ? { plans } : {}),
      });
    }
  }
  return (
    <Card title={`New ${SINGULAR[section]}`} testId="item-form">
      <form className="stack" onSubmit={submit}>
        <div className="row fields">
          <div className="stack">
            <label htmlFor="item-id">Id (lowercase letters, digits, - or _)</label>
            <input id="item-id" name="id" required pattern="[a-z0-9][a-z0-9_\-]*" maxLength={64} />
          </div>
          {section === 'coupons' ? (
            <div className="stack">
              <label htmlFor="item-code">Promotion code customers type</label>
              <input id="item-code" name="code" required maxLength={64} />
            </div>
          ) : (
            <div className="stack">
              <label htmlFor="item-name">Name</label>
              <input id="item-name" name="name" required maxLength={200} />
            </div>
          )}
        </div>
        {section !== 'coupons' && (
          <div className="row fields">
            <div className="stack">
              <label htmlFor="item-price">Price ({cur}, tax as the project's invoice setting says)</label>
              <input id="item-price" name="price" type="number" min={0} step={1 / 10 ** (EXP[currency] ?? 2)} required />
            </div>
            {section === 'plans' && (
              <>
                <div className="stack">
                  <label htmlFor="item-interval">Billed every</label>
                  <select id="item-interval" name="interval" defaultValue="month">
                    <option value="month">month</option>
                    <option value="year">year</option>
                  </select>
                </div>
                <div className="stack">
                  <label htmlFor="item-trial">Trial (days)</label>
                  <input id="item-trial" name="trial_days" type="number" min={0} max={730} step={1} defaultValue={0} />
                </div>
              </>
            )}
            {section === 'credit_packs' && (
              <div className="stack">
                <label htmlFor="item-credits">Credits</label>
                <input id="item-credits" name="credits" type="number" min={1} step={1} required />
              </div>
            )}
            {section === 'products' && (
              <div className="stack">
                <label htmlFor="item-stock">Stock (empty: unlimited)</label>
                <input id="item-stock" name="stock" type="number" min={0} step={1} />
              </div>
            )}
          </div>
        )}
        {(section === 'plans' || section === 'credit_packs') && (
          <label className="row">
            <input type="checkbox" name="popular" /> Highlight as popular
          </label>
        )}
        {section === 'products' && (
          <label className="row">
            <input type="checkbox" name="digital" /> Digital (nothing to ship)
          </label>
        )}
        {section === 'coupons' && (
          <>
            <div className="row fields">
              <div className="stack">
                <label htmlFor="item-kind">Discount</label>
                <select id="item-kind" value={kind} onChange={(e) => setKind(e.target.value as 'percent' | 'amount')}>
                  <option value="percent">Percent off</option>
                  <option value="amount">Amount off ({cur})</option>
                </select>
              </div>
              {kind === 'percent' ? (
                <div className="stack">
                  <label htmlFor="item-percent">Percent off</label>
                  <input id="item-percent" name="percent_off" type="number" min={1} max={100} step={1} required />
                </div>
              ) : (
                <div className="stack">
                  <label htmlFor="item-amount-off">Amount off ({cur})</label>
                  <input id="item-amount-off" name="amount_off" type="number" min={0} step={1 / 10 ** (EXP[currency] ?? 2)} required />
                </div>
              )}
              <div className="stack">
                <label htmlFor="item-duration">Applies</label>
                <select id="item-duration" value={duration} onChange={(e) => setDuration(e.target.value)}>
                  <option value="once">once</option>
                  <option value="repeating">for some months</option>
                  <option value="forever">forever</option>
                </select>
              </div>
              {duration === 'repeating' && (
                <div className="stack">
                  <label htmlFor="item-months">Months</label>
                  <input id="item-months" name="duration_in_months" type="number" min={1} max={120} step={1} required />
                </div>
              )}
            </div>
            {props.plans.length > 0 && (
              <fieldset className="checks">
                <legend>Only for these plans (none ticked: every plan)</legend>
                {props.plans.map((p) => (
                  <label key={p.id} className="row">
                    <input type="checkbox" name="coupon_plans" value={p.id} /> {p.name}
                  </label>
                ))}
              </fieldset>
            )}
          </>
        )}
        <div className="actions">
          <button type="submit">Review the change</button>
          <button type="button" className="secondary" onClick={props.onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </Card>
  );
}
