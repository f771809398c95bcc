import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { z } from 'zod';
import { binary, content, replies } from '../../http/openapi.ts';
import { CustomerParams, IdParams, listOf, Timestamp } from '../../http/schemas.ts';
import { renderInvoicePdf } from './invoices.pdf.ts';
import {
  BillingDetailsBody,
  getBillingDetails,
  getInvoice,
  getInvoiceSettings,
  type InvoiceRow,
  InvoiceSettingsBody,
  InvoicesQuery,
  listCustomerInvoices,
  listInvoices,
  putBillingDetails,
  putInvoiceSettings,
  requireInvoice,
  VatReportQuery,
  vatReport,
  vatReportCsv,
} from './invoices.service.ts';

const Address = z.record(z.string(), z.string()).describe('Postal address: line1, line2, postal_code, city, state');
const Party = z.object({
  name: z.string().nullable(),
  email: z.string().nullable().optional(),
  address: Address,
  country: z.string().nullable(),
  vat_id: z.string().nullable(),
});
const Invoice = z.object({
  id: z.string(),
  object: z.enum(['invoice', 'credit_note']),
  number: z.string(),
  customer_id: z.string().nullable(),
  payment_id: z.string(),
  refund_id: z.string().nullable().describe('Credit notes: the refund it documents'),
  invoice_id: z.string().nullable().describe('Credit notes: the invoice it corrects'),
  currency: z.string(),
  subtotal: z.number().int(),
  tax: z.number().int(),
  total: z.number().int(),
  seller: Party,
  buyer: Party,
  lines: z.array(
    z.object({
      description: z.string(),
      quantity: z.number().int(),
      unit_amount: z.number().describe('As charged per unit (tax-inclusive)'),
      vat_rate: z.number(),
      net_amount: z.number().int(),
      vat_amount: z.number().int(),
      amount: z.number().int(),
    }),
  ),
  tax_details: z
    .looseObject({
      treatment: z.string(),
      country: z.string().nullable(),
      rate: z.number(),
      prices_include_tax: z.boolean(),
      computed_by: z.string(),
      evidence: z.record(z.string(), z.unknown()).optional(),
      note: z.string().optional(),
      credits_invoice: z.string().optional(),
    })
    .describe('How the VAT was decided'),
  issued_at: Timestamp,
  pdf_url: z.string(),
});
const BillingDetails = z.object({
  object: z.literal('billing_details'),
  customer_id: z.string(),
  name: z.string().nullable(),
  address: Address,
  country: z.string().nullable(),
  vat_id: z.string().nullable(),
  updated_at: Timestamp.nullable(),
});
const VatReport = z.object({
  object: z.literal('vat_report'),
  quarter: z.string(),
  from: Timestamp,
  to: Timestamp,
  rows: z.array(
    z.object({
      country: z.string().nullable(),
      treatment: z.string(),
      rate: z.number(),
      currency: z.string(),
      invoices: z.number().int(),
      credit_notes: z.number().int(),
      net: z.number().int(),
      tax: z.number().int(),
      gross: z.number().int(),
    }),
  ),
  totals: z.record(z.string(), z.object({ net: z.number().int(), tax: z.number().int(), gross: z.number().int() })).describe('By currency'),
});
const InvoiceSettings = z.object({
  object: z.literal('invoice_settings'),
  seller: z
    .object({
      name: z.string(),
      address: Address,
      country: z.string().nullable(),
      vat_id: z.string().nullable(),
      email: z.string().nullable().optional(),
    })
    .nullable(),
  prefix: z.string(),
  credit_note_prefix: z.string(),
  vat_rates: z.record(z.string(), z.number()),
  /** Whether catalog prices include VAT (a price's own tax_behavior overrides it). */
  prices_include_tax: z.boolean(),
});

/** Answers with a document's PDF (the API, the billing portal and the hosted pages). */
export async function sendInvoicePdf(reply: FastifyReply, invoice: InvoiceRow): Promise<FastifyReply> {
  const pdf = await renderInvoicePdf(invoice);
  reply.header('content-type', 'application/pdf');
  reply.header('content-disposition', `inline; filename="${invoice.number}.pdf"`);
  return reply.send(pdf);
}

export function registerInvoiceRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get('/v1/invoices', { schema: { querystring: InvoicesQuery, response: replies({ 200: listOf(Invoice) }) } }, async (req) => listInvoices(ctx.db, callerOf(req).projectId, req.query));

  app.get('/v1/invoices/:id', { schema: { params: IdParams, response: replies({ 200: Invoice }) } }, async (req) => getInvoice(ctx.db, callerOf(req).projectId, req.params.id));

  app.get('/v1/invoices/:id/pdf',
    {
      schema: {
        summary: 'Get an invoice as PDF',
        params: IdParams,
        response: replies({ 200: content('The invoice or credit note as a PDF document', { 'application/pdf': binary }) }),
      },
    }, async (req, reply) => {
    return sendInvoicePdf(reply, await requireInvoice(ctx.db, callerOf(req).projectId, req.params.id));
  });

  app.get('/v1/customers/:id/invoices', { schema: { params: CustomerParams, querystring: InvoicesQuery, response: replies({ 200: listOf(Invoice) }) } }, async (req) =>
    listCustomerInvoices(ctx.db, callerOf(req).projectId, req.params.id, req.query),
  );

  app.get('/v1/customers/:id/billing-details', { schema: { params: CustomerParams, response: replies({ 200: BillingDetails }) } }, async (req) =>
    getBillingDetails(ctx.db, callerOf(req).projectId, req.params.id),
  );

  app.put('/v1/customers/:id/billing-details', { schema: { params: CustomerParams, body: BillingDetailsBody, response: replies({ 200: BillingDetails }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({
      status: 200,
      body: await putBillingDetails(ctx, q, callerOf(req).projectId, req.params.id, req.body),
    })),
  );

  app.get('/v1/reports/vat', {
      schema: {
        summary: 'Get the VAT report of a quarter',
        querystring: VatReportQuery,
        response: replies({
          200: content('The report as JSON, or as CSV with format=csv or Accept: text/csv', { 'application/json': VatReport, 'text/csv': z.string() }),
        }),
      },
    }, async (req, reply) => {
    const report = await vatReport(ctx.db, callerOf(req).projectId, req.query.quarter);
    const wantsCsv = req.query.format === 'csv' || /text\/csv/.test(String(req.headers.accept ?? ''));
    if (!wantsCsv) return report;
    reply.header('content-type', 'text/csv; charset=utf-8');
    reply.header('content-disposition', `attachment; filename="vat-${req.query.quarter}.csv"`);
    return reply.send(vatReportCsv(report));
  });

  app.get('/v1/invoice-settings', { schema: { response: replies({ 200: InvoiceSettings }) } }, async (req) => getInvoiceSettings(ctx, callerOf(req).projectId));

  app.put('/v1/invoice-settings', { schema: { body: InvoiceSettingsBody, response: replies({ 200: InvoiceSettings }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ status: 200, body: await putInvoiceSettings(ctx, q, callerOf(req), req.body) })),
  );
}
