/**
 * Types that tie a call to the OpenAPI document: the operation at (method, path), its path and
 * query parameters, its JSON body and its success reply, all read from the generated `paths`.
 */
import type { paths } from './schema.js';

export type { components, operations, paths } from './schema.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Lower<M extends Method> = Lowercase<M> & keyof paths[keyof paths];

/** Every documented path that answers `method`. */
export type PathsWith<M extends Method> = {
  [P in keyof paths]-?: [NonNullable<paths[P][Lower<M>]>] extends [never] ? never : P;
}[keyof paths];

/** The operation object of `method path`. */
export type Operation<M extends Method, P extends PathsWith<M>> = NonNullable<paths[P][Lower<M>]>;

type PathParams<O> = O extends { parameters: { path: infer X } } ? X : never;
type QueryParams<O> = O extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

type PathPart<O> = [PathParams<O>] extends [never] ? { path?: undefined } : { path: PathParams<O> };
type QueryPart<O> = [QueryParams<O>] extends [never]
  ? { query?: undefined }
  : O extends { parameters: { query: object } }
    ? { query: QueryParams<O> }
    : { query?: QueryParams<O> };
type NeedsParams<O> = O extends { parameters: { path: object } } | { parameters: { query: object } } ? true : false;

type JsonBody<O> = O extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;
type BodyPart<O> = [JsonBody<O>] extends [never]
  ? { body?: undefined }
  : O extends { requestBody: object }
    ? { body: JsonBody<O> }
    : { body?: JsonBody<O> };

/** Per-call options every request takes. */
export interface CallOptions {
  /**
   * The Idempotency-Key of a mutation. Without one a key is generated; either way the same key is
   * sent on every retry of this call, so a retried call never takes effect twice.
   */
  idempotencyKey?: string;
  /** Overrides the client's timeout for this call (milliseconds, per attempt). */
  timeoutMs?: number;
  /** Overrides the client's retry count for this call. */
  maxRetries?: number;
  /** Cancels the call (and its pending retries). */
  signal?: AbortSignal;
}

/** What `request(method, path, options)` takes for one operation: its params, its body, call options. */
export type RequestOptions<O> = (NeedsParams<O> extends true
  ? { params: PathPart<O> & QueryPart<O> }
  : { params?: PathPart<O> & QueryPart<O> }) &
  BodyPart<O> &
  CallOptions;

/** The options argument: required when the operation has path parameters, a required query or body. */
export type RequestArgs<O> = NeedsParams<O> extends true
  ? [options: RequestOptions<O>]
  : O extends { requestBody: object }
    ? [options: RequestOptions<O>]
    : [options?: RequestOptions<O>];

type SuccessStatus = 200 | 201 | 202 | 204;
type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : R extends { content?: never } ? undefined : unknown;

/**
 * The JSON body of the operation's success reply; `Fallback` while the document does not
 * describe it yet.
 */
export type SuccessBody<O, Fallback = unknown> = O extends { responses: infer R }
  ? [Extract<keyof R, SuccessStatus>] extends [never]
    ? Fallback
    : JsonOf<R[Extract<keyof R, SuccessStatus>]>
  : Fallback;

/** The success reply of `method path` (or `Fallback` where the document has none yet). */
export type Reply<M extends Method, P extends PathsWith<M>, Fallback = unknown> = SuccessBody<Operation<M, P>, Fallback>;

/** The JSON body `method path` takes. */
export type Body<M extends Method, P extends PathsWith<M>> = JsonBody<Operation<M, P>>;

/** The query parameters `method path` takes. */
export type Query<M extends Method, P extends PathsWith<M>> = QueryParams<Operation<M, P>>;
