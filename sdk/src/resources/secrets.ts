import type { List, ResolvedSecret, SecretInfo } from '../models.js';
import type { CallOptions } from '../types.js';
import type { R, RequestFn } from './request.js';

type One = '/v1/customers/{id}/secrets/{name}';

/** The vault: a customer's own API keys, stored encrypted; replies carry a preview, never the value. */
export function secrets(request: RequestFn) {
  const at = (id: string, name: string) => ({ path: { id, name } });
  return {
    put: (customerId: string, name: string, value: string, o?: CallOptions) =>
      request('PUT', '/v1/customers/{id}/secrets/{name}', { params: at(customerId, name), body: { value }, ...o }) as R<'PUT', One, SecretInfo>,
    list: (customerId: string, o?: CallOptions) =>
      request('GET', '/v1/customers/{id}/secrets', { params: { path: { id: customerId } }, ...o }) as R<'GET', '/v1/customers/{id}/secrets', List<SecretInfo>>,
    /** The value to use for the customer: their own secret, else the project's platform secret (needs scope `secrets:reveal`). */
    resolve: (customerId: string, name: string, o?: CallOptions) =>
      request('GET', '/v1/customers/{id}/secrets/{name}/resolve', { params: at(customerId, name), ...o }) as R<
        'GET',
        '/v1/customers/{id}/secrets/{name}/resolve',
        ResolvedSecret
      >,
    delete: (customerId: string, name: string, o?: CallOptions) =>
      request('DELETE', '/v1/customers/{id}/secrets/{name}', { params: at(customerId, name), ...o }) as R<'DELETE', One, SecretInfo & { deleted: true }>,
  };
}
