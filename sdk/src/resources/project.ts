import type { Body, CallOptions } from '../types.js';
import type { RequestFn } from './request.js';

/** The key's project and its mode (docs/modes.md): `mode` is `test` for an `sk_test_` key, `live` for `sk_live_`. */
export function project(request: RequestFn) {
  return {
    get: (o?: CallOptions) => request('GET', '/v1/project', { ...o }),
    update: (patch: Body<'PATCH', '/v1/project'>, o?: CallOptions) => request('PATCH', '/v1/project', { body: patch, ...o }),
  };
}

/** Tollgate keys of the project: `create({ mode: 'live' })` makes an `sk_live_` key (shown once, in the reply). */
export function keys(request: RequestFn) {
  return {
    create: (key: Body<'POST', '/v1/keys'> = {}, o?: CallOptions) => request('POST', '/v1/keys', { body: key, ...o }),
    list: (o?: CallOptions) => request('GET', '/v1/keys', { ...o }),
    revoke: (keyId: string, o?: CallOptions) => request('DELETE', '/v1/keys/{id}', { params: { path: { id: keyId } }, ...o }),
  };
}
