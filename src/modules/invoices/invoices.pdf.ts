import PDFDocument from 'pdfkit';
import { formatMoney } from '../../domain/money.ts';
import type { InvoiceRow, Party } from './invoices.repository.ts';

function partyLines(p: Party): string[] {
  const a = p.address ?? {};
  return [
    p.name ?? '',
    a.line1 ?? '',
    a.line2 ?? '',
    [a.postal_code, a.city].filter(Boolean).join(' '),
    [a.state, p.country].filter(Boolean).join(', '),
    p.vat_id ? `VAT id: ${p.vat_id}` : '',
    p.email ?? '',
  ].filter((l) => l !== '');
}

/** The invoice or credit note as an A4 PDF (pdfkit, built-in Helvetica). */
export function renderInvoicePdf(i: InvoiceRow): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const doc = new PDFDocument({ size: 'A4', margin: 50, info: { Title: i.number, Author: i.seller.name ?? 'Tollgate' } });
    const chunks: Buffer[] = [];
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    const money = (amount: number) => formatMoney({ amount, currency: i.currency });
    const title = i.kind === 'credit_note' ? 'Credit note' : 'Invoice';

    doc.font('Helvetica-Bold').fontSize(20).text(`${title} ${i.number}`, 50, 50);
    doc.font('Helvetica').fontSize(10).text(`Issued ${i.issued_at.toISOString().slice(0, 10)}`, 50, 78);
    if (i.kind === 'credit_note' && i.tax_details.credits_invoice) doc.text(`Credits invoice ${String(i.tax_details.credits_invoice)}`, 50, 92);

    doc.font('Helvetica-Bold').text('From', 50, 125);
    doc.font('Helvetica').text(partyLines(i.seller).join('\n'), 50, 140, { width: 230 });
    doc.font('Helvetica-Bold').text('Bill to', 310, 125);
    doc.font('Helvetica').text(partyLines(i.buyer).join('\n') || '—', 310, 140, { width: 230 });

    let y = 260;
    const cols = { desc: 50, qty: 290, unit: 330, rate: 400, amount: 460 };
    doc.font('Helvetica-Bold');
    doc.text('Description', cols.desc, y);
    doc.text('Qty', cols.qty, y, { width: 35, align: 'right' });
    doc.text('Unit price', cols.unit, y, { width: 65, align: 'right' });
    doc.text('VAT', cols.rate, y, { width: 50, align: 'right' });
    doc.text('Amount', cols.amount, y, { width: 85, align: 'right' });
    y += 16;
    doc.moveTo(50, y).lineTo(545, y).stroke();
    y += 6;
    doc.font('Helvetica');
    for (const l of i.lines) {
      const h = doc.heightOfString(l.description, { width: 230 });
      doc.text(l.description, cols.desc, y, { width: 230 });
      doc.text(String(l.quantity), cols.qty, y, { width: 35, align: 'right' });
      doc.text(money(l.unit_amount), cols.unit, y, { width: 65, align: 'right' });
      doc.text(`${l.vat_rate}%`, cols.rate, y, { width: 50, align: 'right' });
      doc.text(money(l.amount), cols.amount, y, { width: 85, align: 'right' });
      y += Math.max(h, 14) + 6;
    }
    doc.moveTo(50, y).lineTo(545, y).stroke();
    y += 10;
    const total = (label: string, value: string, bold = false) => {
      doc.font(bold ? 'Helvetica-Bold' : 'Helvetica');
      doc.text(label, 330, y, { width: 120, align: 'right' });
      doc.text(value, cols.amount, y, { width: 85, align: 'right' });
      y += 16;
    };
    total('Subtotal (excl. VAT)', money(i.subtotal));
    total(`VAT${i.lines[0] ? ` ${i.lines[0].vat_rate}%` : ''}`, money(i.tax));
    total('Total', money(i.total), true);

    y += 20;
    doc.font('Helvetica').fontSize(9);
    const notes: string[] = [];
    if (i.tax_details.treatment === 'reverse_charge') notes.push(String(i.tax_details.note ?? 'Reverse charge'));
    if (i.tax_details.treatment === 'none') notes.push('No VAT charged.');
    if (i.tax_details.treatment === 'standard' && i.tax_details.country) notes.push(`VAT of ${String(i.tax_details.country)} applied.`);
    notes.push(i.tax_details.prices_include_tax === false ? 'Prices exclude VAT: VAT is added on top.' : 'Prices include VAT where VAT applies.');
    doc.text(notes.join('\n'), 50, y, { width: 495 });
    doc.end();
  });
}
