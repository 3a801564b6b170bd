-- 0002: the seed's views, statistics functions, metadata trigger and retention.

-- Every execution with the identity of its pack (no JSON result: cheap to list).
CREATE VIEW packgate.pack_test_summary AS
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
    e.created_at
FROM packgate.pack_test_execution AS e
JOIN packgate.pack AS p ON p.id = e.pack_id;

COMMENT ON VIEW packgate.pack_test_summary IS 'All test executions with their pack''s identity';

-- The latest execution of each pack (latest execution_time; the later insert breaks ties),
-- with its full JSON result.
CREATE VIEW packgate.pack_latest_test AS
SELECT DISTINCT ON (s.pack_id)
    s.*,
    e.result
FROM packgate.pack_test_summary AS s
JOIN packgate.pack_test_execution AS e ON e.id = s.id
ORDER BY s.pack_id, s.execution_time DESC, s.id DESC;

COMMENT ON VIEW packgate.pack_latest_test IS 'The latest test execution of every pack';

-- Statistics of one pack.  passed_executions: status passed; failed_executions: partial, failed
-- or error (skipped executions are neither).  avg_pass_rate averages the executions that ran at
-- least one test (passed + failed > 0), so skipped and errored runs do not drag it to zero; NULL
-- when there is none.  last_* come from the latest execution.
CREATE FUNCTION packgate.get_pack_test_stats(p_pack_id bigint)
RETURNS TABLE (
    total_executions  bigint,
    passed_executions bigint,
    failed_executions bigint,
    avg_pass_rate     double precision,
    avg_duration_ms   double precision,
    last_test_time    timestamptz,
    last_test_status  text
)
LANGUAGE sql STABLE
AS $$
    SELECT
        count(*),
        count(*) FILTER (WHERE e.status = 'passed'),
        count(*) FILTER (WHERE e.status IN ('partial', 'failed', 'error')),
        avg(e.pass_rate) FILTER (WHERE e.passed + e.failed > 0),
        avg(e.duration_ms)::double precision,
        max(e.execution_time),
        (SELECT l.status
           FROM packgate.pack_test_execution AS l
          WHERE l.pack_id = p_pack_id
          ORDER BY l.execution_time DESC, l.id DESC
          LIMIT 1)
    FROM packgate.pack_test_execution AS e
    WHERE e.pack_id = p_pack_id
$$;

COMMENT ON FUNCTION packgate.get_pack_test_stats(bigint) IS 'Execution counts, averages and the latest result of a pack';

-- Whether the pack has an execution with status passed in the last `p_hours_ago` hours.
CREATE FUNCTION packgate.pack_has_passing_tests(p_pack_id bigint, p_hours_ago integer DEFAULT 24)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (
        SELECT 1
          FROM packgate.pack_test_execution AS e
         WHERE e.pack_id = p_pack_id
           AND e.status = 'passed'
           AND e.execution_time >= now() - make_interval(hours => p_hours_ago)
    )
$$;

COMMENT ON FUNCTION packgate.pack_has_passing_tests(bigint, integer) IS
    'True when the pack passed its tests within the last hours_ago hours';

-- Keeps the pack row's metadata in step with its executions.  An execution recorded late (the
-- database was down) counts, but does not overwrite the last_* columns of a newer one.
CREATE FUNCTION packgate.update_pack_test_metadata()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE packgate.pack AS p
       SET test_count = p.test_count + 1,
           updated_at = now(),
           last_tested_at = CASE WHEN p.last_tested_at IS NULL OR p.last_tested_at <= NEW.execution_time
                                 THEN NEW.execution_time ELSE p.last_tested_at END,
           last_tested_version = CASE WHEN p.last_tested_at IS NULL OR p.last_tested_at <= NEW.execution_time
                                      THEN NEW.pack_version ELSE p.last_tested_version END,
           last_test_status = CASE WHEN p.last_tested_at IS NULL OR p.last_tested_at <= NEW.execution_time
                                   THEN NEW.status ELSE p.last_test_status END,
           last_pass_rate = CASE WHEN p.last_tested_at IS NULL OR p.last_tested_at <= NEW.execution_time
                                 THEN NEW.pass_rate ELSE p.last_pass_rate END
     WHERE p.id = NEW.pack_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER pack_test_execution_metadata
    AFTER INSERT ON packgate.pack_test_execution
    FOR EACH ROW EXECUTE FUNCTION packgate.update_pack_test_metadata();

-- test_count counts the executions still stored: retention lowers it again.
CREATE FUNCTION packgate.update_pack_test_count_on_delete()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE packgate.pack AS p
       SET test_count = greatest(p.test_count - d.removed, 0)
      FROM (SELECT r.pack_id, count(*)::integer AS removed FROM removed_rows AS r GROUP BY r.pack_id) AS d
     WHERE p.id = d.pack_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER pack_test_execution_count_on_delete
    AFTER DELETE ON packgate.pack_test_execution
    REFERENCING OLD TABLE AS removed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION packgate.update_pack_test_count_on_delete();

-- Retention: deletes executions older than p_days days (their test cases go with them) and the
-- rows of packs deleted before then that have no execution left.  Returns how many executions
-- were deleted.
CREATE FUNCTION packgate.delete_old_executions(p_days integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff  timestamptz;
    deleted integer;
BEGIN
    IF p_days IS NULL OR p_days < 1 THEN
        RAISE EXCEPTION 'retention must be at least 1 day, got %', p_days USING ERRCODE = '22023';
    END IF;
    cutoff := now() - make_interval(days => p_days);
    DELETE FROM packgate.pack_test_execution AS e WHERE e.execution_time < cutoff;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    DELETE FROM packgate.pack AS p
     WHERE p.deleted_at < cutoff
       AND NOT EXISTS (SELECT 1 FROM packgate.pack_test_execution AS e WHERE e.pack_id = p.id);
    RETURN deleted;
END
$$;

COMMENT ON FUNCTION packgate.delete_old_executions(integer) IS
    'Retention: delete executions older than the given number of days; returns how many';
