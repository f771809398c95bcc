import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { CustomerParams, IdParams } from '../../http/schemas.ts';
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

/** Answers with a document's PDF (the API, the billing portal and the hosted pages). */
export async function sendInvoicePdf(reply: FastifyReply, invoice: InvoiceRow): Promise<FastifyReply> {
  const pdf = await renderInvoicePdf(invoice);
  reply.header('content-type', 'application/pdf');
  reply.header('content-disposition', `inline; filename="${invoice.number}.pdf"`);
  return reply.send(pdf);
}

export function registerInvoiceRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get('/v1/invoices', { schema: { querystring: InvoicesQuery } }, async (req) => listInvoices(ctx.db, callerOf(req).projectId, req.query));

  app.get('/v1/invoices/:id', { schema: { params: IdParams } }, async (req) => getInvoice(ctx.db, callerOf(req).projectId, req.params.id));

  app.get('/v1/invoices/:id/pdf', { schema: { params: IdParams } }, async (req, reply) => {
    return sendInvoicePdf(reply, await requireInvoice(ctx.db, callerOf(req).projectId, req.params.id));
  });

  app.get('/v1/customers/:id/invoices', { schema: { params: CustomerParams, querystring: InvoicesQuery } }, async (req) =>
    listCustomerInvoices(ctx.db, callerOf(req).projectId, req.params.id, req.query),
  );

  app.get('/v1/customers/:id/billing-details', { schema: { params: CustomerParams } }, async (req) =>
    getBillingDetails(ctx.db, callerOf(req).projectId, req.params.id),
  );

  app.put('/v1/customers/:id/billing-details', { schema: { params: CustomerParams, body: BillingDetailsBody } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({
      status: 200,
      body: await putBillingDetails(ctx, q, callerOf(req).projectId, req.params.id, req.body),
    })),
  );

  app.get('/v1/reports/vat', { schema: { querystring: VatReportQuery } }, async (req, reply) => {
    const report = await vatReport(ctx.db, callerOf(req).projectId, req.query.quarter);
    const wantsCsv = req.query.format === 'csv' || /text\/csv/.test(String(req.headers.accept ?? ''));
    if (!wantsCsv) return report;
    reply.header('content-type', 'text/csv; charset=utf-8');
    reply.header('content-disposition', `attachment; filename="vat-${req.query.quarter}.csv"`);
    return reply.send(vatReportCsv(report));
  });

  app.get('/v1/invoice-settings', async (req) => getInvoiceSettings(ctx, callerOf(req).projectId));

  app.put('/v1/invoice-settings', { schema: { body: InvoiceSettingsBody } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ status: 200, body: await putInvoiceSettings(ctx, q, callerOf(req), req.body) })),
  );
}
