import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { replies } from '../../http/openapi.ts';
import { CustomerParams, listOf, Timestamp } from '../../http/schemas.ts';
import {
  deleteCustomerSecret,
  deletePlatformSecret,
  listCustomerSecrets,
  listPlatformSecrets,
  putCustomerSecret,
  putPlatformSecret,
  resolveSecret,
  revealCustomerSecret,
  SecretBody,
  SecretNameSchema,
} from './vault.service.ts';

const CustomerSecretParams = CustomerParams.extend({ name: SecretNameSchema });
const PlatformSecretParams = z.object({ name: SecretNameSchema });

/** A stored secret: its name and a preview, never the value. */
const Secret = z.object({
  object: z.literal('secret'),
  name: z.string(),
  label: z.string().optional().describe("The catalog's label for this key name, when it declares one"),
  customer_id: z.string().nullable().describe('null for a platform secret'),
  preview: z.string(),
  key_id: z.string().describe('The encryption key the value is sealed with'),
  created_at: Timestamp,
  updated_at: Timestamp,
});
const DeletedSecret = Secret.extend({ deleted: z.literal(true) });

export function registerVaultRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  // Replies carry the name and a preview, never the value (idempotent() stores replies).
  app.put(
    '/v1/customers/:id/secrets/:name',
    { schema: { params: CustomerSecretParams, body: SecretBody, response: replies({ 200: Secret }) }, config: { auth: 'customer' } },
    async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({
        body: await putCustomerSecret(ctx, q, callerOf(req), req.params.id, req.params.name, req.body.value),
      })),
  );

  app.get('/v1/customers/:id/secrets', { schema: { params: CustomerParams, response: replies({ 200: listOf(Secret) }) }, config: { auth: 'customer' } }, async (req) =>
    listCustomerSecrets(ctx, callerOf(req).projectId, req.params.id),
  );

  app.delete('/v1/customers/:id/secrets/:name', { schema: { params: CustomerSecretParams, response: replies({ 200: DeletedSecret }) }, config: { auth: 'customer' } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({
      body: await deleteCustomerSecret(ctx, q, callerOf(req), req.params.id, req.params.name),
    })),
  );

  // Reveal changes nothing but the audit log, so repeating it is harmless; it is deliberately not
  // run through idempotent(), whose stored reply would keep the plaintext in idempotency_keys.
  app.post(
    '/v1/customers/:id/secrets/:name/reveal',
    { schema: { params: CustomerSecretParams, response: replies({ 200: Secret.extend({ value: z.string() }) }) }, config: { auth: 'secret', scope: 'secrets:reveal' } },
    async (req) => revealCustomerSecret(ctx, callerOf(req), req.params.id, req.params.name),
  );

  app.get(
    '/v1/customers/:id/secrets/:name/resolve',
    {
      schema: {
        params: CustomerSecretParams,
        response: replies({
          200: z.object({
            object: z.literal('resolved_secret'),
            name: z.string(),
            source: z.enum(['customer', 'platform']).describe("customer: the customer's own key; platform: the project's key of that name"),
            preview: z.string(),
            key_id: z.string(),
            updated_at: Timestamp,
            value: z.string(),
          }),
        }),
      },
      config: { auth: 'secret', scope: 'secrets:reveal' },
    },
    async (req) => resolveSecret(ctx, callerOf(req), req.params.id, req.params.name),
  );

  app.put('/v1/secrets/:name', { schema: { params: PlatformSecretParams, body: SecretBody, response: replies({ 200: Secret }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await putPlatformSecret(ctx, q, callerOf(req), req.params.name, req.body.value) })),
  );

  app.get('/v1/secrets', { schema: { response: replies({ 200: listOf(Secret) }) } }, async (req) => listPlatformSecrets(ctx, callerOf(req).projectId));

  app.delete('/v1/secrets/:name', { schema: { params: PlatformSecretParams, response: replies({ 200: DeletedSecret }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await deletePlatformSecret(ctx, q, callerOf(req), req.params.name) })),
  );
}
