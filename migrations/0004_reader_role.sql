-- 0004: a read-only role for the history UI (`packgate ui`), which must never write.
--
-- `packgate_reader` is NOLOGIN: an administrator gives it to the UI's login role
-- (`CREATE ROLE packgate_ui LOGIN PASSWORD '...' IN ROLE packgate_reader`, docs/ui.md).  Roles
-- belong to the whole PostgreSQL cluster, so it is created only when missing, and only when the
-- migrating role may create roles; otherwise a NOTICE says so and the grants are left to the
-- administrator (the operator's own migrations never fail on it).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'packgate_reader') THEN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
            CREATE ROLE packgate_reader NOLOGIN;
        ELSE
            RAISE NOTICE 'packgate: role packgate_reader not created (% may not create roles); see docs/ui.md',
                current_user;
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'packgate_reader') THEN
        GRANT USAGE ON SCHEMA packgate TO packgate_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA packgate TO packgate_reader;
        -- Tables and views of later migrations, created by this same role.
        ALTER DEFAULT PRIVILEGES IN SCHEMA packgate GRANT SELECT ON TABLES TO packgate_reader;
    END IF;
END
$$;
