import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { CustomerParams } from '../../http/schemas.ts';
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

export function registerVaultRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  // Replies carry the name and a preview, never the value (idempotent() stores replies).
  app.put(
    '/v1/customers/:id/secrets/:name',
    { schema: { params: CustomerSecretParams, body: SecretBody }, config: { auth: 'customer' } },
    async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({
        body: await putCustomerSecret(ctx, q, callerOf(req), req.params.id, req.params.name, req.body.value),
      })),
  );

  app.get('/v1/customers/:id/secrets', { schema: { params: CustomerParams }, config: { auth: 'customer' } }, async (req) =>
    listCustomerSecrets(ctx, callerOf(req).projectId, req.params.id),
  );

  app.delete('/v1/customers/:id/secrets/:name', { schema: { params: CustomerSecretParams }, config: { auth: 'customer' } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({
      body: await deleteCustomerSecret(ctx, q, callerOf(req), req.params.id, req.params.name),
    })),
  );

  // Reveal changes nothing but the audit log, so repeating it is harmless; it is deliberately not
  // run through idempotent(), whose stored reply would keep the plaintext in idempotency_keys.
  app.post(
    '/v1/customers/:id/secrets/:name/reveal',
    { schema: { params: CustomerSecretParams }, config: { auth: 'secret', scope: 'secrets:reveal' } },
    async (req) => revealCustomerSecret(ctx, callerOf(req), req.params.id, req.params.name),
  );

  app.get(
    '/v1/customers/:id/secrets/:name/resolve',
    { schema: { params: CustomerSecretParams }, config: { auth: 'secret', scope: 'secrets:reveal' } },
    async (req) => resolveSecret(ctx, callerOf(req), req.params.id, req.params.name),
  );

  app.put('/v1/secrets/:name', { schema: { params: PlatformSecretParams, body: SecretBody } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await putPlatformSecret(ctx, q, callerOf(req), req.params.name, req.body.value) })),
  );

  app.get('/v1/secrets', async (req) => listPlatformSecrets(ctx, callerOf(req).projectId));

  app.delete('/v1/secrets/:name', { schema: { params: PlatformSecretParams } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await deletePlatformSecret(ctx, q, callerOf(req), req.params.name) })),
  );
}
