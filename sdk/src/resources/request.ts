import type { Method, Operation, PathsWith, Reply, RequestArgs } from '../types.js';

/** The client's typed `request`, as each group of calls receives it. */
export type RequestFn = <M extends Method, P extends PathsWith<M>>(method: M, path: P, ...args: RequestArgs<Operation<M, P>>) => Promise<Reply<M, P>>;

/** A call's reply promise: the document's type for it, or `F` until the document describes it. */
export type R<M extends Method, P extends PathsWith<M>, F> = Promise<Reply<M, P, F>>;
