import { useState } from 'react';
import { v1, when } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { go, href } from '../router.ts';
import { Card, Loading } from '../ui.tsx';

export function CustomersPage(props: { project: string }) {
  const [search, setSearch] = useState('');
  const [q, setQ] = useState('');
  const list = useLoad(() => v1(props.project, 'GET', `customers?limit=50${q ? `&search=${encodeURIComponent(q)}` : ''}`), [props.project, q]);
  return (
    <>
      <h1>Customers</h1>
      <form
        className="search"
        onSubmit={(e) => {
          e.preventDefault();
          setQ(search.trim());
        }}
      >
        <input type="search" aria-label="Search customers" placeholder="Search by id, e-mail or name" value={search} onChange={(e) => setSearch(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      <form
        className="search"
        onSubmit={(e) => {
          e.preventDefault();
          const id = new FormData(e.currentTarget).get('id');
          if (typeof id === 'string' && id.trim()) go('p', props.project, 'customers', id.trim());
        }}
      >
        <input name="id" aria-label="Open customer by id" placeholder="Open a customer by id" />
        <button type="submit" className="secondary">
          Open
        </button>
      </form>
      <Card>
        <Loading error={list.error} loading={list.loading && !list.data} />
        {list.data && list.data.data.length === 0 && <p className="muted">No customers{q ? ` matching “${q}”` : ''}.</p>}
        {list.data && list.data.data.length > 0 && (
          <div className="table-wrap">
            <table data-testid="customers-table">
              <thead>
                <tr>
                  <th>Id</th>
                  <th>E-mail</th>
                  <th>Name</th>
                  <th>Since</th>
                </tr>
              </thead>
              <tbody>
                {list.data.data.map((c: any) => (
                  <tr key={c.id}>
                    <td>
                      <a href={href('p', props.project, 'customers', c.id)}>{c.id}</a>
                    </td>
                    <td>{c.email ?? '—'}</td>
                    <td>{c.name ?? '—'}</td>
                    <td>{when(c.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {list.data?.has_more && <p className="muted small">Showing the first 50; refine the search.</p>}
      </Card>
    </>
  );
}
