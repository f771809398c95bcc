import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import * as formatsModule from 'ajv-formats';
import { InvalidRequestError } from '../../domain/errors.ts';

type FormatsPlugin = (ajv: Ajv) => Ajv;
const addFormats = ((formatsModule as unknown as { default?: FormatsPlugin }).default ?? formatsModule) as unknown as FormatsPlugin;

// One validator instance for this file, with the standard formats (email, date-time, uri ...).
const ajv = addFormats(new Ajv({ allErrors: false, strict: false }));

const compiled = new Map<string, ValidateFunction>();

/** The compiled validator of a catalog settings schema (cached by project, catalog version and key). */
export function settingsValidator(cacheKey: string, schema: Record<string, unknown>): ValidateFunction {
  let fn = compiled.get(cacheKey);
  if (!fn) {
    fn = ajv.compile(schema);
    if (compiled.size > 1000) compiled.clear();
    compiled.set(cacheKey, fn);
  }
  return fn;
}

/** Throws when a catalog's settings schema is not a valid JSON schema (checked at push). */
export function assertValidSchema(key: string, schema: Record<string, unknown>): void {
  try {
    ajv.compile(schema);
  } catch (err) {
    throw new InvalidRequestError(`settings_schema.${key} is not a valid JSON schema: ${(err as Error).message}`, `settings_schema.${key}`);
  }
}

/** A 400 naming the failing field: `settings.studio.tone`. Messages never quote the value. */
export function settingsError(key: string, error: ErrorObject | undefined): InvalidRequestError {
  const path = (error?.instancePath ?? '').split('/').filter(Boolean);
  const params = (error?.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
  if (params.missingProperty) path.push(params.missingProperty);
  if (params.additionalProperty) path.push(params.additionalProperty);
  const param = ['settings', key, ...path].join('.');
  const message = error?.keyword === 'additionalProperties' ? 'is not allowed by the settings schema' : (error?.message ?? 'is invalid');
  return new InvalidRequestError(`Invalid parameter '${param}': ${message}`, param);
}
