import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../../app/context.ts';
import { EMAIL_STATUSES, EMAIL_TEMPLATE_NAMES } from '../../domain/emails.ts';
import { callerOf } from '../../http/auth.ts';
import { replies } from '../../http/openapi.ts';
import { CustomerParams, IdParams, listOf, Timestamp } from '../../http/schemas.ts';
import { EmailsQuery, getEmail, listCustomerEmails, listEmails } from './emails.service.ts';

const Email = z.object({
  id: z.string(),
  object: z.literal('email'),
  template: z.enum(EMAIL_TEMPLATE_NAMES as [string, ...string[]]),
  event_id: z.string(),
  event_type: z.string(),
  customer_id: z.string().nullable(),
  from: z.string(),
  to: z.string().nullable(),
  subject: z.string(),
  locale: z.string(),
  status: z.enum(EMAIL_STATUSES as [string, ...string[]]).describe('pending, sent (accepted by the SMTP server), captured (dev mailbox), failed, skipped'),
  skip_reason: z.string().nullable().describe('no_email, template_disabled or emails_disabled when skipped'),
  attempts: z.number().int(),
  next_attempt_at: Timestamp.nullable(),
  last_error: z.string().nullable(),
  attachments: z.array(z.object({ filename: z.string(), content_type: z.string(), invoice_id: z.string() })),
  created_at: Timestamp,
  sent_at: Timestamp.nullable(),
});
const EmailWithBody = Email.extend({ text: z.string(), html: z.string() });

export function registerEmailRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get('/v1/emails', { schema: { summary: 'List e-mails sent to customers', querystring: EmailsQuery, response: replies({ 200: listOf(Email) }) } }, async (req) =>
    listEmails(ctx.db, callerOf(req).projectId, req.query),
  );

  app.get('/v1/emails/:id', { schema: { summary: 'Get an e-mail with its text and HTML', params: IdParams, response: replies({ 200: EmailWithBody }) } }, async (req) =>
    getEmail(ctx.db, callerOf(req).projectId, req.params.id),
  );

  app.get(
    '/v1/customers/:id/emails',
    { schema: { summary: "List a customer's e-mails", params: CustomerParams, querystring: EmailsQuery.omit({ customer_id: true }), response: replies({ 200: listOf(Email) }) } },
    async (req) => listCustomerEmails(ctx.db, callerOf(req).projectId, req.params.id, req.query),
  );
}
