-- 0001: the audit trail of pack test executions (the seed's schema, keyed by Kubernetes identity).
--
-- Applied once, in one transaction, by packgate.db.migrations; never edit an applied file --
-- add the next numbered file instead (the runner refuses a changed checksum).

CREATE SCHEMA IF NOT EXISTS packgate;

-- One row per Pack object ever seen.  `uid` is metadata.uid: a Pack deleted and created again
-- under the same name is a new row; the old one keeps its history with deleted_at set.
CREATE TABLE packgate.pack (
    id                  bigserial PRIMARY KEY,
    uid                 text NOT NULL UNIQUE,
    namespace           text NOT NULL,
    name                text NOT NULL,
    ref                 text NOT NULL,
    version             text NOT NULL,
    active_version      text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz,
    -- maintained by the trigger update_pack_test_metadata() (0002)
    last_tested_at      timestamptz,
    last_tested_version text,
    last_test_status    text,
    last_pass_rate      double precision,
    test_count          integer NOT NULL DEFAULT 0,

    CONSTRAINT pack_uid_not_empty CHECK (uid <> ''),
    CONSTRAINT pack_name_not_empty CHECK (namespace <> '' AND name <> ''),
    CONSTRAINT pack_test_count_non_negative CHECK (test_count >= 0),
    CONSTRAINT pack_last_pass_rate_range CHECK (last_pass_rate IS NULL OR last_pass_rate BETWEEN 0 AND 1)
);

COMMENT ON TABLE packgate.pack IS 'Every Pack object seen by the operator, keyed by metadata.uid';
COMMENT ON COLUMN packgate.pack.test_count IS 'Executions of this pack currently stored';

-- At most one live row per namespace/name.
CREATE UNIQUE INDEX idx_pack_live_name ON packgate.pack (namespace, name) WHERE deleted_at IS NULL;
CREATE INDEX idx_pack_name ON packgate.pack (namespace, name, updated_at DESC);

-- One row per execution of a pack's tests (all runners together).
CREATE TABLE packgate.pack_test_execution (
    id               bigserial PRIMARY KEY,
    pack_id          bigint NOT NULL REFERENCES packgate.pack (id) ON DELETE CASCADE,
    execution_id     text NOT NULL,
    idempotency_key  text NOT NULL,
    pack_version     text NOT NULL,
    trigger_reason   text NOT NULL,
    status           text NOT NULL,
    execution_time   timestamptz NOT NULL,
    total_tests      integer NOT NULL,
    passed           integer NOT NULL,
    failed           integer NOT NULL,
    skipped          integer NOT NULL,
    pass_rate        double precision NOT NULL,
    duration_ms      bigint NOT NULL,
    forced           boolean NOT NULL DEFAULT false,
    allowed          boolean NOT NULL,
    result           jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT pack_test_execution_idempotency_key_unique UNIQUE (idempotency_key),
    CONSTRAINT valid_trigger_reason CHECK (trigger_reason IN ('install', 'update', 'manual', 'validation')),
    CONSTRAINT valid_status CHECK (status IN ('passed', 'partial', 'failed', 'skipped', 'error')),
    CONSTRAINT valid_test_counts CHECK (
        total_tests >= 0 AND passed >= 0 AND failed >= 0 AND skipped >= 0
        AND passed + failed + skipped = total_tests
    ),
    CONSTRAINT valid_pass_rate CHECK (pass_rate >= 0 AND pass_rate <= 1),
    CONSTRAINT valid_duration CHECK (duration_ms >= 0),
    CONSTRAINT valid_keys CHECK (execution_id <> '' AND idempotency_key <> ''),
    CONSTRAINT result_is_object CHECK (jsonb_typeof(result) = 'object')
);

COMMENT ON TABLE packgate.pack_test_execution IS 'Audit trail: every recorded test execution of a pack';
COMMENT ON COLUMN packgate.pack_test_execution.idempotency_key IS
    'Unique per execution: a restarted operator never records one twice';
COMMENT ON COLUMN packgate.pack_test_execution.result IS 'The whole PackTestResult as JSON';
COMMENT ON COLUMN packgate.pack_test_execution.allowed IS 'Whether the verdict allowed the version to be active';

CREATE INDEX idx_pack_test_execution_pack_id
    ON packgate.pack_test_execution (pack_id, execution_time DESC, id DESC);
CREATE INDEX idx_pack_test_execution_pack_version
    ON packgate.pack_test_execution (pack_id, pack_version, execution_time DESC, id DESC);
CREATE INDEX idx_pack_test_execution_time ON packgate.pack_test_execution (execution_time DESC);
CREATE INDEX idx_pack_test_execution_pass_rate ON packgate.pack_test_execution (pass_rate);
CREATE INDEX idx_pack_test_execution_trigger ON packgate.pack_test_execution (trigger_reason);

-- One row per test case of an execution: per-test history, flaky tests, regressions.
CREATE TABLE packgate.pack_test_case (
    id             bigserial PRIMARY KEY,
    execution_id   bigint NOT NULL REFERENCES packgate.pack_test_execution (id) ON DELETE CASCADE,
    suite_name     text NOT NULL,
    runner_type    text NOT NULL,
    case_name      text NOT NULL,
    status         text NOT NULL,
    duration_ms    bigint NOT NULL DEFAULT 0,
    error_message  text,

    CONSTRAINT valid_case_status CHECK (status IN ('passed', 'failed', 'skipped', 'error')),
    CONSTRAINT valid_case_duration CHECK (duration_ms >= 0)
);

COMMENT ON TABLE packgate.pack_test_case IS 'Every test case of every execution, for per-test history';

CREATE INDEX idx_pack_test_case_execution ON packgate.pack_test_case (execution_id);
CREATE INDEX idx_pack_test_case_name ON packgate.pack_test_case (suite_name, case_name);
