-- 0006: content digests of executions, for spec.testing.cacheFor and flaky tests by digest
-- (docs/cache.md).
--
-- `digest` is what the execution ran (packgate.reconcile.digest: the pack's content and each
-- runner's effective configuration), NULL when its source names no fixed content (a branch, a
-- tag, an unpinned image) or it was recorded before this migration.  `cached_from` is set on an
-- execution that ran no Jobs and reused the verdict of an earlier one: the execution_id (the
-- operator's short id, as status.lastExecution.id and cachedFrom show it) of that origin, which
-- always ran its Jobs.
ALTER TABLE packgate.pack_test_execution
    ADD COLUMN digest text,
    ADD COLUMN cached_from text,
    ADD CONSTRAINT digest_shape CHECK (digest IS NULL OR digest ~ '^sha256:[0-9a-f]{64}$'),
    ADD CONSTRAINT cached_from_not_empty CHECK (cached_from IS NULL OR cached_from <> ''),
    ADD CONSTRAINT cached_has_digest CHECK (cached_from IS NULL OR digest IS NOT NULL);

COMMENT ON COLUMN packgate.pack_test_execution.digest IS
    'sha256 of the pack content and each runner''s effective configuration; NULL: no fixed content';
COMMENT ON COLUMN packgate.pack_test_execution.cached_from IS
    'execution_id of the execution whose verdict this one reused (no Jobs ran); NULL: it ran';

-- The cache lookup (the newest execution of a Pack with a digest that ran its Jobs) and the
-- flaky-tests-by-digest query (every execution of a Pack that has a digest and ran).
CREATE INDEX idx_pack_test_execution_digest
    ON packgate.pack_test_execution (pack_id, digest, execution_time DESC, id DESC)
    WHERE digest IS NOT NULL AND cached_from IS NULL;

-- The views gain both columns at their end (CREATE OR REPLACE VIEW may only add columns there).
CREATE OR REPLACE VIEW packgate.pack_test_summary AS
SELECT
    e.id,
    e.execution_id,
    e.idempotency_key,
    p.id             AS pack_id,
    p.uid            AS pack_uid,
    p.namespace,
    p.name           AS pack_name,
    p.ref            AS pack_ref,
    p.active_version,
    p.deleted_at     AS pack_deleted_at,
    e.pack_version,
    e.trigger_reason,
    e.status,
    e.execution_time,
    e.total_tests,
    e.passed,
    e.failed,
    e.skipped,
    e.pass_rate,
    e.duration_ms,
    e.forced,
    e.allowed,
    e.created_at,
    e.digest,
    e.cached_from
FROM packgate.pack_test_execution AS e
JOIN packgate.pack AS p ON p.id = e.pack_id;

CREATE OR REPLACE VIEW packgate.pack_latest_test AS
SELECT DISTINCT ON (s.pack_id)
    s.id, s.execution_id, s.idempotency_key, s.pack_id, s.pack_uid, s.namespace, s.pack_name,
    s.pack_ref, s.active_version, s.pack_deleted_at, s.pack_version, s.trigger_reason, s.status,
    s.execution_time, s.total_tests, s.passed, s.failed, s.skipped, s.pass_rate, s.duration_ms,
    s.forced, s.allowed, s.created_at,
    e.result,
    s.digest,
    s.cached_from
FROM packgate.pack_test_summary AS s
JOIN packgate.pack_test_execution AS e ON e.id = s.id
ORDER BY s.pack_id, s.execution_time DESC, s.id DESC;
