/**
 * Generates `src/schema.d.ts` (the `paths`, `components` and `operations` types) from Tollgate's
 * OpenAPI document. `npm run sdk:types` at the repository root rewrites it from `openapi.json`;
 * test/sdk.types.test.ts fails when the committed file differs from what this would write.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';

export const SCHEMA_FILE = fileURLToPath(new URL('./src/schema.d.ts', import.meta.url));

/** The text of schema.d.ts for an OpenAPI document (a parsed object). */
export async function generateSchemaTypes(document) {
  const ast = await openapiTS(structuredClone(document), { silent: true });
  return COMMENT_HEADER + astToString(ast);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const from = resolve(process.argv[2] ?? fileURLToPath(new URL('../openapi.json', import.meta.url)));
  writeFileSync(SCHEMA_FILE, await generateSchemaTypes(JSON.parse(readFileSync(from, 'utf8'))));
  console.log(`wrote ${SCHEMA_FILE} from ${from}`);
}
