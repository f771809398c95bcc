-- Test and live modes (docs/modes.md). A project row is its test mode; its live mode is a twin row
-- `<id>_live` linked by test_project_id, so every table keyed by project_id is split by mode.
-- "_" is outside the project id alphabet ([a-z0-9-]), so a twin id can never be a user's project id.
ALTER TABLE projects ADD COLUMN mode text NOT NULL DEFAULT 'test' CHECK (mode IN ('test', 'live'));
ALTER TABLE projects ADD COLUMN test_project_id text REFERENCES projects (id);
-- The live twin reads its test project's catalog until the operator pushes a live catalog.
ALTER TABLE projects ADD COLUMN live_catalog_shared boolean NOT NULL DEFAULT true;
ALTER TABLE projects ADD CONSTRAINT projects_twin_of_test CHECK ((mode = 'live') = (test_project_id IS NOT NULL));
-- A test clock never moves live time.
ALTER TABLE projects ADD CONSTRAINT projects_live_clock CHECK (mode = 'test' OR clock_offset_ms = 0);
-- Live mode has no sandbox: its checkouts go to a real provider.
ALTER TABLE projects ADD CONSTRAINT projects_live_provider CHECK (mode = 'test' OR default_provider <> 'sandbox');
CREATE UNIQUE INDEX projects_one_live_twin ON projects (test_project_id) WHERE test_project_id IS NOT NULL;

-- Existing projects (and all their data and keys) are their test mode; each gets its live twin.
INSERT INTO projects (id, name, default_provider, sandbox_webhook_secret, clock_offset_ms, cors_origins, catalog_version, settings, created_at, mode, test_project_id)
SELECT p.id || '_live', p.name, 'stripe',
       'whsec_' || encode(sha256(convert_to(random()::text || clock_timestamp()::text || p.id, 'UTF8')), 'base64'),
       0, p.cors_origins, 0, p.settings, p.created_at, 'live', p.id
  FROM projects p
 WHERE p.mode = 'test'
ON CONFLICT (id) DO NOTHING;
