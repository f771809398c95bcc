import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ERROR_STATUS, type ErrorCode } from '../domain/errors.ts';

function send(reply: FastifyReply, req: FastifyRequest, code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
  return reply
    .code(ERROR_STATUS[code])
    .type('application/json; charset=utf-8')
    .send({ error: { code, message, request_id: req.id, ...details } });
}

function paramOf(instancePath: string | undefined, fallback: string | undefined): string | undefined {
  const p = (instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  return p || fallback;
}

/** One handler renders every error as {"error": {code, message, request_id, ...details}}. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | AppError | Error, req, reply) => {
    if (err instanceof AppError) {
      if (err.status >= 500) req.log.error({ err }, err.message);
      else req.log.info({ code: err.code }, err.message);
      if (err.code === 'rate_limited' && typeof err.details.retry_after === 'number') {
        reply.header('retry-after', String(err.details.retry_after));
      }
      return send(reply, req, err.code, err.message, err.details);
    }
    const fe = err as FastifyError;
    if (fe.validation && fe.validation.length > 0) {
      const first = fe.validation[0];
      const params = first?.params as { missingProperty?: string; keys?: string[] } | undefined;
      // An unknown field (a strict object's unrecognized key) is named by the key itself.
      const unknownKey = first?.keyword === 'unrecognized_keys' ? params?.keys?.[0] : undefined;
      const at = paramOf(first?.instancePath, params?.missingProperty);
      const param = unknownKey ? [at, unknownKey].filter(Boolean).join('.') : at;
      const where = fe.validationContext === 'querystring' ? 'query' : (fe.validationContext ?? 'body');
      const message = param ? `Invalid ${where} parameter '${param}': ${first?.message}` : `Invalid ${where}: ${first?.message}`;
      return send(reply, req, 'invalid_request', message, param ? { param } : {});
    }
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fe.statusCode === 413) {
      return send(reply, req, 'payload_too_large', 'Request body exceeds the 1 MB limit');
    }
    if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || fe.statusCode === 415) {
      return send(reply, req, 'invalid_request', 'Send the body as application/json', { param: 'content-type' });
    }
    if (fe.statusCode === 400 || err instanceof SyntaxError) {
      return send(reply, req, 'invalid_request', `Malformed request body: ${err.message}`);
    }
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      const code: ErrorCode = fe.statusCode === 404 ? 'not_found' : fe.statusCode === 401 ? 'unauthorized' : 'invalid_request';
      return send(reply, req, code, err.message);
    }
    req.log.error({ err }, 'unhandled error');
    return send(reply, req, 'internal_error', 'Internal server error');
  });
  app.setNotFoundHandler((req, reply) => send(reply, req, 'not_found', `No route ${req.method} ${req.url.split('?')[0]}`));
}
