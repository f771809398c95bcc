import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateSchemaTypes, SCHEMA_FILE } from '../sdk/generate-types.mjs';

describe("the SDK's generated types", () => {
  it('sdk/src/schema.d.ts is what openapi-typescript makes of the current openapi.json (npm run sdk:types rewrites it)', async () => {
    const document = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8')) as { paths: Record<string, unknown> };
    const expected = await generateSchemaTypes(document);
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    expect(committed === expected, 'sdk/src/schema.d.ts differs from openapi.json: run `npm run sdk:types`').toBe(true);
    // Every documented path is typed (request() reaches every operation).
    for (const path of Object.keys(document.paths)) expect(committed).toContain(`    "${path}": {`);
  });
});
