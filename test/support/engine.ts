/**
 * Race tests run only against PostgreSQL. The embedded engine (PGlite) has one connection and runs
 * every query in turn, so two requests can never interleave inside a transaction: a lost update or a
 * double effect cannot happen there, and a race test would pass whether the code is right or not.
 */
export const onPostgres = Boolean(process.env.DATABASE_URL);
export const NEEDS_PG = 'needs PostgreSQL: PGlite serialises connections, so a race cannot happen';
