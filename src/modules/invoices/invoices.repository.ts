import type { Queryable } from '../../db/db.ts';

export interface InvoiceLine {
  description: string;
  quantity: number;
  /** As charged per unit (tax-inclusive). */
  unit_amount: number;
  vat_rate: number;
  net_amount: number;
  vat_amount: number;
  /** Line total as charged (net + VAT). */
  amount: number;
}

export interface Party {
  name: string | null;
  email?: string | null;
  address: Record<string, string>;
  country: string | null;
  vat_id: string | null;
}

export interface InvoiceRow {
  project_id: string;
  id: string;
  kind: 'invoice' | 'credit_note';
  number: string;
  year: number;
  sequence: number;
  customer_id: string | null;
  payment_id: string;
  refund_id: string | null;
  invoice_id: string | null;
  currency: string;
  subtotal: number;
  tax: number;
  total: number;
  seller: Party;
  buyer: Party;
  lines: InvoiceLine[];
  tax_details: Record<string, unknown>;
  issued_at: Date;
}

export interface BillingDetailsRow {
  project_id: string;
  customer_id: string;
  name: string | null;
  address: Record<string, string>;
  country: string | null;
  vat_id: string | null;
  updated_at: Date;
}

function num(r: InvoiceRow): InvoiceRow {
  return { ...r, subtotal: Number(r.subtotal), tax: Number(r.tax), total: Number(r.total) };
}

/** The next number of a series; the counter row stays locked until the issuing transaction ends. */
export async function nextSequence(q: Queryable, projectId: string, series: 'invoice' | 'credit_note', year: number): Promise<number> {
  const r = await q.query<{ last_number: number }>(
    `INSERT INTO invoice_series (project_id, series, year, last_number) VALUES ($1, $2, $3, 1)
     ON CONFLICT (project_id, series, year) DO UPDATE SET last_number = invoice_series.last_number + 1
     RETURNING last_number`,
    [projectId, series, year],
  );
  return r.rows[0]!.last_number;
}

export async function insertInvoice(q: Queryable, i: InvoiceRow): Promise<InvoiceRow> {
  const r = await q.query<InvoiceRow>(
    `INSERT INTO invoices (project_id, id, kind, number, year, sequence, customer_id, payment_id, refund_id, invoice_id, currency,
       subtotal, tax, total, seller, buyer, lines, tax_details, issued_at)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19) RETURNING *`,
    [
      i.project_id,
      i.id,
      i.kind,
      i.number,
      i.year,
      i.sequence,
      i.customer_id,
      i.payment_id,
      i.refund_id,
      i.invoice_id,
      i.currency,
      i.subtotal,
      i.tax,
      i.total,
      JSON.stringify(i.seller),
      JSON.stringify(i.buyer),
      JSON.stringify(i.lines),
      JSON.stringify(i.tax_details),
      i.issued_at,
    ],
  );
  return num(r.rows[0]!);
}

export async function findInvoice(q: Queryable, projectId: string, id: string): Promise<InvoiceRow | undefined> {
  const r = (await q.query<InvoiceRow>('SELECT * FROM invoices WHERE project_id = $1 AND id = $2', [projectId, id])).rows[0];
  return r && num(r);
}

export async function findPaymentInvoice(q: Queryable, projectId: string, paymentId: string): Promise<InvoiceRow | undefined> {
  const r = (
    await q.query<InvoiceRow>("SELECT * FROM invoices WHERE project_id = $1 AND payment_id = $2 AND kind = 'invoice'", [projectId, paymentId])
  ).rows[0];
  return r && num(r);
}

/** The invoice of the payment a checkout session was paid with, if any. */
export async function findSessionInvoice(q: Queryable, projectId: string, sessionId: string): Promise<InvoiceRow | undefined> {
  const r = (
    await q.query<InvoiceRow>(
      `SELECT i.* FROM invoices i JOIN payments p ON p.project_id = i.project_id AND p.id = i.payment_id
       WHERE i.project_id = $1 AND p.checkout_session_id = $2 AND i.kind = 'invoice' ORDER BY i.issued_at LIMIT 1`,
      [projectId, sessionId],
    )
  ).rows[0];
  return r && num(r);
}

/** VAT already credited against an invoice by its credit notes. */
export async function creditedTotals(q: Queryable, projectId: string, invoiceId: string): Promise<{ tax: number; total: number }> {
  const r = await q.query<{ tax: string; total: string }>(
    `SELECT COALESCE(SUM(tax), 0) AS tax, COALESCE(SUM(total), 0) AS total FROM invoices
     WHERE project_id = $1 AND invoice_id = $2 AND kind = 'credit_note'`,
    [projectId, invoiceId],
  );
  return { tax: Number(r.rows[0]!.tax), total: Number(r.rows[0]!.total) };
}

export async function listInvoices(
  q: Queryable,
  projectId: string,
  f: { limit: number; startingAfter?: string; customerId?: string; kind?: string },
): Promise<InvoiceRow[]> {
  const params: unknown[] = [projectId];
  let where = 'project_id = $1';
  if (f.customerId !== undefined) {
    params.push(f.customerId);
    where += ` AND customer_id = $${params.length}`;
  }
  if (f.kind !== undefined) {
    params.push(f.kind);
    where += ` AND kind = $${params.length}`;
  }
  if (f.startingAfter) {
    params.push(f.startingAfter);
    const p = `$${params.length}`;
    where += ` AND (issued_at, sequence, id) < (SELECT issued_at, sequence, id FROM invoices WHERE project_id = $1 AND id = ${p})`;
  }
  params.push(f.limit + 1);
  const r = await q.query<InvoiceRow>(`SELECT * FROM invoices WHERE ${where} ORDER BY issued_at DESC, sequence DESC, id DESC LIMIT $${params.length}`, params);
  return r.rows.map(num);
}

export async function findBillingDetails(q: Queryable, projectId: string, customerId: string): Promise<BillingDetailsRow | undefined> {
  return (
    await q.query<BillingDetailsRow>('SELECT * FROM customer_billing_details WHERE project_id = $1 AND customer_id = $2', [projectId, customerId])
  ).rows[0];
}

export async function upsertBillingDetails(q: Queryable, b: BillingDetailsRow): Promise<BillingDetailsRow> {
  const r = await q.query<BillingDetailsRow>(
    `INSERT INTO customer_billing_details (project_id, customer_id, name, address, country, vat_id, updated_at)
     VALUES ($1,$2,$3,$4,$5,$6,$7)
     ON CONFLICT (project_id, customer_id) DO UPDATE SET name = EXCLUDED.name, address = EXCLUDED.address,
       country = EXCLUDED.country, vat_id = EXCLUDED.vat_id, updated_at = EXCLUDED.updated_at
     RETURNING *`,
    [b.project_id, b.customer_id, b.name, JSON.stringify(b.address), b.country, b.vat_id, b.updated_at],
  );
  return r.rows[0]!;
}

export interface VatReportRow {
  country: string | null;
  treatment: string;
  rate: number;
  currency: string;
  invoices: number;
  credit_notes: number;
  net: number;
  tax: number;
  gross: number;
}

/** Invoices minus credit notes issued in [from, to), by VAT country, treatment, rate and currency. */
export async function vatTotals(q: Queryable, projectId: string, from: Date, to: Date): Promise<VatReportRow[]> {
  const r = await q.query<Record<string, string | number | null>>(
    `SELECT tax_details->>'country' AS country, COALESCE(tax_details->>'treatment', 'none') AS treatment,
       COALESCE((tax_details->>'rate')::numeric, 0) AS rate, currency,
       count(*) FILTER (WHERE kind = 'invoice') AS invoices, count(*) FILTER (WHERE kind = 'credit_note') AS credit_notes,
       SUM(CASE WHEN kind = 'invoice' THEN subtotal ELSE -subtotal END) AS net,
       SUM(CASE WHEN kind = 'invoice' THEN tax ELSE -tax END) AS tax,
       SUM(CASE WHEN kind = 'invoice' THEN total ELSE -total END) AS gross
     FROM invoices WHERE project_id = $1 AND issued_at >= $2 AND issued_at < $3
     GROUP BY 1, 2, 3, 4 ORDER BY 4, 1 NULLS FIRST, 2, 3`,
    [projectId, from, to],
  );
  return r.rows.map((x) => ({
    country: (x.country as string | null) ?? null,
    treatment: String(x.treatment),
    rate: Number(x.rate),
    currency: String(x.currency),
    invoices: Number(x.invoices),
    credit_notes: Number(x.credit_notes),
    net: Number(x.net),
    tax: Number(x.tax),
    gross: Number(x.gross),
  }));
}

/** VAT on the invoices of project $1's payments made in [from, to), less their credit notes (any date), per currency. */
export async function vatOfPayments(q: Queryable, projectId: string, from: Date, to: Date): Promise<{ currency: string; tax: number }[]> {
  const r = await q.query<{ currency: string; tax: string }>(
    `SELECT i.currency, SUM(CASE WHEN i.kind = 'invoice' THEN i.tax ELSE -i.tax END) AS tax
     FROM invoices i JOIN payments p ON p.project_id = i.project_id AND p.id = i.payment_id
     WHERE i.project_id = $1 AND p.created_at >= $2 AND p.created_at < $3
     GROUP BY 1 ORDER BY 1`,
    [projectId, from, to],
  );
  return r.rows.map((x) => ({ currency: x.currency, tax: Number(x.tax) }));
}
