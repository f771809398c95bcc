import { useState } from 'react';
import { money, v1, when } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { href } from '../router.ts';
import { Card, Loading } from '../ui.tsx';

/** The PDF of an invoice or credit note, fetched through the operator's session (same origin). */
export const pdfHref = (project: string, id: string) => `/dashboard/api/p/${encodeURIComponent(project)}/v1/invoices/${encodeURIComponent(id)}/pdf`;

/** Invoices and credit notes as a table: number, date, customer, net, VAT, total, PDF. */
export function InvoiceTable(props: { project: string; rows: any[]; showCustomer?: boolean }) {
  return (
    <div className="table-wrap">
      <table data-testid="invoices">
        <thead>
          <tr>
            <th>Number</th>
            <th className="hide-sm">Issued</th>
            {props.showCustomer && <th>Customer</th>}
            <th className="num hide-sm">Net</th>
            <th className="num hide-sm">VAT</th>
            <th className="num">Total</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {props.rows.map((i) => (
            <tr key={i.id} data-testid="invoice-row">
              <td>
                {i.number}
                {i.object === 'credit_note' && <span className="muted small"> credit note</span>}
              </td>
              <td className="hide-sm">{when(i.issued_at)}</td>
              {props.showCustomer && (
                <td>
                  <a href={href('p', props.project, 'customers', i.customer_id)}>{i.customer_id}</a>
                </td>
              )}
              <td className="num hide-sm">{money({ amount: i.subtotal, currency: i.currency })}</td>
              <td className="num hide-sm">{money({ amount: i.tax, currency: i.currency })}</td>
              <td className="num">{money({ amount: i.total, currency: i.currency })}</td>
              <td>
                <a className="small-button" href={pdfHref(props.project, i.id)} target="_blank" rel="noreferrer">
                  PDF
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function InvoicesPage(props: { project: string }) {
  const [kind, setKind] = useState('');
  const [after, setAfter] = useState<string[]>([]);
  const cursor = after.at(-1);
  const list = useLoad(
    () => v1(props.project, 'GET', `invoices?limit=25${kind ? `&kind=${kind}` : ''}${cursor ? `&starting_after=${encodeURIComponent(cursor)}` : ''}`),
    [props.project, kind, cursor],
  );
  const rows: any[] = list.data?.data ?? [];
  return (
    <>
      <h1>Invoices</h1>
      <p className="muted">
        Every succeeded payment is invoiced and every refund gets a credit note, numbered without gaps. Issued documents never change.
      </p>
      <div className="search">
        <select
          aria-label="Kind"
          value={kind}
          onChange={(e) => {
            setKind(e.target.value);
            setAfter([]);
          }}
        >
          <option value="">Invoices and credit notes</option>
          <option value="invoice">Invoices</option>
          <option value="credit_note">Credit notes</option>
        </select>
      </div>
      <Card>
        <Loading error={list.error} loading={list.loading && !list.data} />
        {list.data && rows.length === 0 && <p className="muted">No invoices yet: the first succeeded payment issues one.</p>}
        {rows.length > 0 && <InvoiceTable project={props.project} rows={rows} showCustomer />}
        {(after.length > 0 || list.data?.has_more) && (
          <div className="row">
            {after.length > 0 && (
              <button type="button" className="secondary" onClick={() => setAfter(after.slice(0, -1))}>
                Newer
              </button>
            )}
            {list.data?.has_more && (
              <button type="button" className="secondary" onClick={() => setAfter([...after, rows.at(-1).id])}>
                Older
              </button>
            )}
          </div>
        )}
      </Card>
    </>
  );
}
