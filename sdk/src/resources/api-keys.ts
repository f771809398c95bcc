import type { Body, CallOptions } from '../types.js';
import type { RequestFn } from './request.js';

/** Your app's own API keys for its customers (docs/api-keys.md): issue, list, roll, revoke, verify. */
export function apiKeys(request: RequestFn) {
  return {
    /** The reply's `key` is the only time the key is shown. */
    create: (customerId: string, key: Body<'POST', '/v1/customers/{id}/api-keys'> = {}, o?: CallOptions) =>
      request('POST', '/v1/customers/{id}/api-keys', { params: { path: { id: customerId } }, body: key, ...o }),
    list: (customerId: string, o?: CallOptions) => request('GET', '/v1/customers/{id}/api-keys', { params: { path: { id: customerId } }, ...o }),
    /** A new key replacing this one; the old one keeps working for `grace_seconds` (default 0). */
    roll: (keyId: string, graceSeconds = 0, o?: CallOptions) =>
      request('POST', '/v1/api-keys/{id}/roll', { params: { path: { id: keyId } }, body: { grace_seconds: graceSeconds }, ...o }),
    revoke: (keyId: string, o?: CallOptions) => request('DELETE', '/v1/api-keys/{id}', { params: { path: { id: keyId } }, ...o }),
    /** `valid: false` comes with a `code`; an invalid key is an answer, never an exception. */
    verify: (key: string, o?: CallOptions) => request('POST', '/v1/api-keys/verify', { body: { key }, ...o }),
  };
}
