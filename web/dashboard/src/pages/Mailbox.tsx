import { useState } from 'react';
import { v1, when } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { href } from '../router.ts';
import { Card, Loading, Status } from '../ui.tsx';

/**
 * Every e-mail Tollgate made for the project's customers, newest first. Without an SMTP server they
 * are kept here (status "captured"), like a local Mailpit; a click shows the HTML and the text.
 */
export function MailboxPage(props: { project: string }) {
  const [status, setStatus] = useState('');
  const [customer, setCustomer] = useState('');
  const query = `emails?limit=50${status ? `&status=${status}` : ''}${customer ? `&customer_id=${encodeURIComponent(customer)}` : ''}`;
  const list = useLoad(() => v1(props.project, 'GET', query), [props.project, query]);
  const [open, setOpen] = useState<string>();
  const rows: any[] = list.data?.data ?? [];
  return (
    <>
      <h1>Mailbox</h1>
      <p className="muted">
        E-mails sent to customers (receipts, trial reminders, failed payments…). Without <code>TOLLGATE_SMTP_URL</code> they are not sent but kept
        here as <em>captured</em>.
      </p>
      <div className="search">
        <input aria-label="Customer id" placeholder="Customer id" value={customer} onChange={(e) => setCustomer(e.target.value.trim())} />
        <select aria-label="Status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">All statuses</option>
          {['captured', 'sent', 'pending', 'failed', 'skipped'].map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <div className={open ? 'mailbox with-reader' : 'mailbox'}>
        <Card testId="mail-list">
          <Loading error={list.error} loading={list.loading && !list.data} />
          {list.data && rows.length === 0 && <p className="muted">No e-mails yet.</p>}
          {rows.map((m) => (
            <button
              type="button"
              key={m.id}
              data-testid="mail-row"
              className={open === m.id ? 'mail-row active' : 'mail-row'}
              onClick={() => setOpen(open === m.id ? undefined : m.id)}
              aria-expanded={open === m.id}
            >
              <span className="mail-line">
                <span className="mail-to">{m.to ?? m.customer_id}</span>
                <span className="muted small">{when(m.created_at)}</span>
              </span>
              <span className="mail-subject">{m.subject}</span>
              <span className="mail-line">
                <span className="muted small">
                  {m.template} · {m.locale}
                  {m.attachments.length > 0 ? ` · 📎 ${m.attachments.length}` : ''}
                </span>
                <Status value={m.status} />
              </span>
            </button>
          ))}
        </Card>
        {open && <Reader key={open} project={props.project} id={open} />}
      </div>
    </>
  );
}

function Reader(props: { project: string; id: string }) {
  const mail = useLoad(() => v1(props.project, 'GET', `emails/${encodeURIComponent(props.id)}`), [props.project, props.id]);
  const [tab, setTab] = useState<'html' | 'text'>('html');
  const m = mail.data;
  return (
    <Card testId="mail-reader">
      <Loading error={mail.error} loading={mail.loading && !m} />
      {m && (
        <>
          <h2 className="mail-title">{m.subject}</h2>
          <dl className="kv small">
            <dt>From</dt>
            <dd className="wrap">{m.from}</dd>
            <dt>To</dt>
            <dd className="wrap">{m.to ?? '—'}</dd>
            <dt>Customer</dt>
            <dd>{m.customer_id ? <a href={href('p', props.project, 'customers', m.customer_id)}>{m.customer_id}</a> : '—'}</dd>
            <dt>Status</dt>
            <dd>
              <Status value={m.status} /> {m.skip_reason ? <span className="muted">{m.skip_reason.replace(/_/g, ' ')}</span> : null}
              {m.last_error ? <span className="muted"> · {m.last_error}</span> : null}
            </dd>
            <dt>Event</dt>
            <dd className="wrap">
              {m.event_type} <span className="muted">{m.event_id}</span>
            </dd>
            {m.attachments.length > 0 && (
              <>
                <dt>Attached</dt>
                <dd>
                  {m.attachments.map((a: any) => (
                    <a key={a.filename} href={`/dashboard/api/p/${encodeURIComponent(props.project)}/v1/invoices/${encodeURIComponent(a.invoice_id)}/pdf`} target="_blank" rel="noreferrer">
                      {a.filename}
                    </a>
                  ))}
                </dd>
              </>
            )}
          </dl>
          <div className="tabs" role="tablist">
            <button type="button" role="tab" aria-selected={tab === 'html'} className={tab === 'html' ? 'tab active' : 'tab'} onClick={() => setTab('html')}>
              HTML
            </button>
            <button type="button" role="tab" aria-selected={tab === 'text'} className={tab === 'text' ? 'tab active' : 'tab'} onClick={() => setTab('text')}>
              Text
            </button>
          </div>
          {tab === 'html' ? (
            <iframe className="mail-html" data-testid="mail-html" title="HTML part" sandbox="" srcDoc={m.html} />
          ) : (
            <pre className="mail-text" data-testid="mail-text">
              {m.text}
            </pre>
          )}
        </>
      )}
    </Card>
  );
}
