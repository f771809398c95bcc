import type { FastifyInstance } from 'fastify';
import { InvalidRequestError } from '../domain/errors.ts';

/**
 * Bodies as integrators actually send them. `application/json` with an empty body is "no body" (a route
 * whose body is optional then validates it as `{}`); JSON sent without a Content-Type, or with a type that
 * is not form-encoded, is read as JSON. Parsing is Fastify's own (prototype-poisoning checks included);
 * anything that is not JSON is a clear 400 naming the Content-Type.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (String(body).trim() === '') return done(null, undefined);
    json(req, String(body), done);
  });
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    if (String(body).trim() === '') return done(null, undefined);
    json(req, String(body), (err, value) => {
      if (!err) return done(null, value);
      const type = req.headers['content-type'] ?? 'none';
      done(new InvalidRequestError(`Send the body as JSON with Content-Type: application/json (got Content-Type: ${type}).`, 'content-type'));
    });
  });
}
