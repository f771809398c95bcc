import { money, v1 } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { Card, Json, Loading } from '../ui.tsx';

export function CatalogPage(props: { project: string }) {
  const cat = useLoad(() => v1(props.project, 'GET', 'catalog'), [props.project]);
  const c = cat.data;
  return (
    <>
      <h1>Catalog</h1>
      <Loading error={cat.error} loading={cat.loading && !c} />
      {c && (
        <>
          <p className="muted">
            Version {c.version} · currency {String(c.currency ?? '').toUpperCase()} · push a new version with <code>tollgate push catalog.json --project {props.project}</code>
          </p>
          {c.plans?.length > 0 && (
            <Card title="Plans">
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th>Id</th>
                      <th>Name</th>
                      <th className="num">Price</th>
                      <th>Interval</th>
                      <th>Trial</th>
                      <th>Features</th>
                    </tr>
                  </thead>
                  <tbody>
                    {c.plans.map((p: any) => (
                      <tr key={p.id}>
                        <td>
                          <code>{p.id}</code>
                        </td>
                        <td>
                          {p.name} {p.popular && <span className="badge">popular</span>} {!p.active && <span className="badge">inactive</span>}
                        </td>
                        <td className="num">{money(p.price)}</td>
                        <td>{p.interval}</td>
                        <td>{p.trial_days ? `${p.trial_days} days` : '—'}</td>
                        <td className="small">
                          {Object.entries(p.features ?? {})
                            .map(([k, v]: [string, any]) => `${k}: ${typeof v === 'boolean' ? (v ? 'yes' : 'no') : (v.limit ?? v.value ?? 'unlimited')}`)
                            .join(', ')}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </Card>
          )}
          {c.credit_packs?.length > 0 && (
            <Card title="Credit packs">
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th>Id</th>
                      <th>Name</th>
                      <th className="num">Credits</th>
                      <th className="num">Price</th>
                    </tr>
                  </thead>
                  <tbody>
                    {c.credit_packs.map((p: any) => (
                      <tr key={p.id}>
                        <td>
                          <code>{p.id}</code>
                        </td>
                        <td>
                          {p.name} {p.popular && <span className="badge">popular</span>}
                        </td>
                        <td className="num">{p.credits}</td>
                        <td className="num">{money(p.price)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </Card>
          )}
          {c.products?.length > 0 && (
            <Card title="Products">
              <div className="table-wrap">
                <table>
                  <tbody>
                    {c.products.map((p: any) => (
                      <tr key={p.id}>
                        <td>
                          <code>{p.id}</code>
                        </td>
                        <td>{p.name}</td>
                        <td className="num">{money(p.price)}</td>
                        <td>{p.stock === null ? 'unlimited' : `stock ${p.stock}`}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </Card>
          )}
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
