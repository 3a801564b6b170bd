-- 0003: covering indexes for the reads behind `packgate results` at fleet scale (1M executions,
-- 20M test cases: bench/db_queries.py).
--
-- get_pack_test_stats() aggregates every execution of one pack: with the columns it reads in the
-- index it is an index-only scan, not one heap page per execution.  The index keeps the order of
-- idx_pack_test_execution_pack_id (the history, the latest execution, last_test_status), which it
-- replaces.
CREATE INDEX idx_pack_test_execution_pack_stats
    ON packgate.pack_test_execution (pack_id, execution_time DESC, id DESC)
    INCLUDE (status, pass_rate, passed, failed, duration_ms);
DROP INDEX packgate.idx_pack_test_execution_pack_id;

-- The flaky-test query reads the cases of each execution of one pack, and the regression base
-- the cases of one execution ordered by id: (execution_id, id) with the columns they read is an
-- index-only scan in that order.  It also serves the ON DELETE CASCADE from executions, so it
-- replaces idx_pack_test_case_execution.
CREATE INDEX idx_pack_test_case_execution_cases
    ON packgate.pack_test_case (execution_id, id)
    INCLUDE (suite_name, case_name, status);
DROP INDEX packgate.idx_pack_test_case_execution;
