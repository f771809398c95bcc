/** The schema.d.ts path of the package. */
export declare const SCHEMA_FILE: string;
/** The text of schema.d.ts for an OpenAPI document (a parsed object). */
export declare function generateSchemaTypes(document: unknown): Promise<string>;
