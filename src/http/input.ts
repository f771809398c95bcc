import type { FastifyRequest } from 'fastify';
import { InvalidRequestError } from '../domain/errors.ts';
import { findInputProblem, MAX_JSON_DEPTH } from '../lib/text.ts';

/**
 * Refuses, before any route sees it, input PostgreSQL could not store: a NUL or a lone surrogate in
 * a path parameter, query parameter or body string (or key), and a JSON body nested deeper than
 * MAX_JSON_DEPTH. Raw bodies (provider webhooks) are Buffers and are not inspected here.
 */
export function refuseUnstorableInput(req: FastifyRequest): void {
  for (const [where, value] of [
    ['path', req.params],
    ['query', req.query],
    ['body', req.body],
  ] as const) {
    const problem = findInputProblem(value);
    if (!problem) continue;
    if (problem.kind === 'depth') {
      throw new InvalidRequestError(`The JSON ${where} is nested deeper than ${MAX_JSON_DEPTH} levels`, problem.param || undefined);
    }
    throw new InvalidRequestError(
      `Invalid ${where} parameter '${problem.param}': contains a NUL character or an unpaired UTF-16 surrogate`,
      problem.param || undefined,
    );
  }
}
