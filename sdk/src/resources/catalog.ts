import type { Body, CallOptions } from '../types.js';
import type { RequestFn } from './request.js';

/** The catalog document: read it, preview a push (validate and diff, change nothing), push the next version. */
export function catalog(request: RequestFn) {
  return {
    /** The current catalog with its version. */
    get: (o?: CallOptions) => request('GET', '/v1/catalog', { ...o }),
    /** What pushing `next` would change, item by item (`lines` as `tollgate push --dry-run` prints them); stores nothing. */
    diff: (next: Body<'POST', '/v1/catalog/diff'>, o?: CallOptions) => request('POST', '/v1/catalog/diff', { body: next, ...o }),
    /** Replaces the catalog: the document becomes the next version. */
    push: (next: Body<'PUT', '/v1/catalog'>, o?: CallOptions) => request('PUT', '/v1/catalog', { body: next, ...o }),
  };
}
