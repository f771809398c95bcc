import { appendFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { OPERATIONS_WITHOUT_SUCCESS_SCHEMA } from './openapi-gaps.ts';

/**
 * Checks a reply against the OpenAPI document the app serves: the operation must declare the
 * reply's status, and a JSON body must match that status's schema. Every `inject` of the test
 * harness goes through it, so a reply that drifts from the document fails the test that made it.
 * With TOLLGATE_OPENAPI_RECORD=<file>, mismatches are appended to the file instead of thrown.
 */
interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  statics: number;
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

// One validator per distinct schema for the whole test file: every harness (and every restart in
// a test) serves the same document, so a schema is compiled once, not once per app.
const ajv = new Ajv({ strict: false, allErrors: true });
(addFormats as unknown as (a: Ajv) => void)(ajv);
const validators = new Map<string, ValidateFunction>();
function validatorFor(schema: unknown): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(schema as object);
    validators.set(key, validate);
  }
  return validate;
}

export class ResponseChecker {
  private readonly ops: Operation[] = [];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(doc: { paths: Record<string, Record<string, { responses?: Operation['responses'] }>> }) {
    for (const [template, item] of Object.entries(doc.paths)) {
      const segments = template.split('/');
      const re = segments.map((s) => (s.startsWith('{') ? '[^/]+' : s.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))).join('/');
      for (const [method, op] of Object.entries(item)) {
        this.ops.push({
          method: method.toUpperCase(),
          template,
          pattern: new RegExp(`^${re}$`),
          statics: segments.filter((s) => !s.startsWith('{')).length,
          responses: op.responses ?? {},
        });
      }
    }
    this.ops.sort((a, b) => b.statics - a.statics);
  }

  /** The problem with this reply, or undefined when it matches the document. */
  problem(method: string, url: string, res: LightMyRequestResponse): string | undefined {
    const path = url.split('?')[0] ?? url;
    if (!path.startsWith('/v1/')) return undefined; // pages, dashboard, health: not in the API document
    const op = this.ops.find((o) => o.method === method && o.pattern.test(path));
    if (!op) {
      // 404 for an unknown route and 405-like misses are answered by the not-found handler.
      if (this.ops.some((o) => o.pattern.test(path)) || res.statusCode === 404) return undefined;
      return `${method} ${path} answered ${res.statusCode} but the document has no such operation`;
    }
    const where = `${method} ${op.template} → ${res.statusCode}`;
    const declared = op.responses[String(res.statusCode)];
    if (!declared) {
      const gap = OPERATIONS_WITHOUT_SUCCESS_SCHEMA.has(`${method} ${op.template}`) && res.statusCode < 300;
      return gap ? undefined : `${where}: status not declared in the document`;
    }
    const type = String(res.headers['content-type'] ?? '');
    if (res.statusCode === 204) return undefined;
    if (!type.includes('json')) {
      // A PDF, a CSV: its media type must be one the document declares for the status.
      const media = type.split(';')[0]?.trim() ?? '';
      if (!media || !declared.content || declared.content[media]) return undefined;
      return `${where}: ${media} reply but the document declares ${Object.keys(declared.content).join(', ')}`;
    }
    const schema = declared.content?.['application/json']?.schema;
    if (!schema) return `${where}: JSON reply but the document declares no JSON schema`;
    const key = `${method} ${op.template} ${res.statusCode}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = validatorFor(schema);
      this.compiled.set(key, validate);
    }
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      return `${where}: reply is not valid JSON`;
    }
    if (validate(body)) return undefined;
    const errors = (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`);
    return `${where}: reply does not match the document: ${errors.join('; ')}\n  body: ${res.body.slice(0, 400)}`;
  }

  check(opts: InjectOptions, res: LightMyRequestResponse): void {
    const method = String(opts.method ?? 'GET').toUpperCase();
    const url = typeof opts.url === 'string' ? opts.url : String(opts.path ?? '');
    const problem = this.problem(method, url, res);
    if (!problem) return;
    const record = process.env.TOLLGATE_OPENAPI_RECORD;
    if (record) {
      appendFileSync(record, `${JSON.stringify({ problem, body: res.body.slice(0, 3000) })}\n`);
      return;
    }
    throw new Error(`OpenAPI response check: ${problem}`);
  }
}
