-- Tenants: row-level security on every table that holds an account's data.
-- Who a caller is, for tenancy, is the role of the session (its login role,
-- or the role it SET ROLE to): inside pg_rating's SECURITY DEFINER functions
-- current_user is the extension's owner, so checking it there would check
-- nothing. Superusers and roles that belong to no tenant are unrestricted.

CREATE FUNCTION rating.restricted_tenants() RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT array_agg(t.tenant_id ORDER BY t.tenant_id)
      FROM rating.tenants t,
           (SELECT coalesce(nullif(current_setting('role'), 'none'), session_user::text) AS acting) r
     WHERE NOT (SELECT rolsuper FROM pg_roles WHERE rolname = r.acting)
       AND to_regrole(quote_ident(t.role_name)) IS NOT NULL
       AND pg_has_role(r.acting, t.role_name, 'MEMBER')
$$;
COMMENT ON FUNCTION rating.restricted_tenants() IS 'The tenants whose data the session''s role may see, or NULL if it belongs to no tenant (or is a superuser) and may see every account.';

CREATE FUNCTION rating.account_accessible(account_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN tenants IS NULL THEN true
                ELSE EXISTS (SELECT FROM rating.accounts a
                              WHERE a.account_id = $1 AND a.tenant_id = ANY (tenants)) END
      FROM (SELECT rating.restricted_tenants() AS tenants) t
$$;
COMMENT ON FUNCTION rating.account_accessible(bigint) IS 'May the session''s role act on the account? Always for an unrestricted role; for a tenant''s role, only if the account is one of its tenants''.';

CREATE FUNCTION rating.check_account_access(account_id bigint) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT rating.account_accessible(check_account_access.account_id) THEN
        RAISE EXCEPTION 'permission denied for account %', check_account_access.account_id
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Role %s may act only on the accounts of tenants %s.',
                                  coalesce(nullif(current_setting('role'), 'none'), session_user::text),
                                  rating.restricted_tenants());
    END IF;
END
$$;
COMMENT ON FUNCTION rating.check_account_access(bigint) IS 'Internal: refuses (42501) an account the session''s role may not act on; every SECURITY DEFINER function that takes an account calls it. An unknown account is refused the same way, so tenants learn nothing of others''.';

-- One policy per table, for every command: an unrestricted role passes on
-- the first, cheap test; a tenant's role is limited to its accounts.
ALTER TABLE rating.accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rating.accounts
    USING ((SELECT rating.restricted_tenants()) IS NULL
           OR tenant_id = ANY ((SELECT rating.restricted_tenants())::text[]));
COMMENT ON POLICY tenant_isolation ON rating.accounts IS 'A tenant''s roles see and write only their tenants'' accounts.';

DO $$
DECLARE
    account_table text;
BEGIN
    FOREACH account_table IN ARRAY ARRAY['balances', 'subscriptions', 'reservations', 'usage', 'ledger',
                                         'alert_thresholds', 'alerts', 'invoices', 'invoice_lines',
                                         'invoice_entries', 'usage_counters'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE rating.%I ENABLE ROW LEVEL SECURITY', account_table);
        EXECUTE pg_catalog.format(
            'CREATE POLICY tenant_isolation ON rating.%I
                 USING ((SELECT rating.restricted_tenants()) IS NULL
                        OR account_id IN (SELECT a.account_id FROM rating.accounts a))', account_table);
        EXECUTE pg_catalog.format(
            'COMMENT ON POLICY tenant_isolation ON rating.%I IS %L', account_table,
            'A tenant''s roles see and write only the rows of their tenants'' accounts.');
    END LOOP;
END
$$;

CREATE FUNCTION rating.accessible_accounts() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.account_id
      FROM rating.accounts a, (SELECT rating.restricted_tenants() AS tenants) t
     WHERE t.tenants IS NULL OR a.tenant_id = ANY (t.tenants)
$$;
COMMENT ON FUNCTION rating.accessible_accounts() IS 'The accounts the session''s role may act on: for SECURITY DEFINER functions that work on many accounts, where row-level security does not apply.';

-- Tariffs are the operator's price list, shared by all tenants: everyone
-- with the privilege reads them, only unrestricted roles change them. A
-- tenant's roles read their own tenants' rows of rating.tenants.
DO $$
DECLARE
    shared_table text;
BEGIN
    FOREACH shared_table IN ARRAY ARRAY['tariffs', 'rates', 'tenants', 'time_bands', 'time_band_hours', 'holidays',
                                        'rate_tiers', 'allowances'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE rating.%I ENABLE ROW LEVEL SECURITY', shared_table);
        EXECUTE pg_catalog.format(
            'CREATE POLICY shared_reads ON rating.%I FOR SELECT USING (%s)', shared_table,
            CASE shared_table WHEN 'tenants'
                 THEN '(SELECT rating.restricted_tenants()) IS NULL OR tenant_id = ANY ((SELECT rating.restricted_tenants())::text[])'
                 ELSE 'true' END);
        EXECUTE pg_catalog.format(
            'CREATE POLICY operator_writes ON rating.%I
                 USING ((SELECT rating.restricted_tenants()) IS NULL)', shared_table);
        EXECUTE pg_catalog.format('COMMENT ON POLICY shared_reads ON rating.%I IS %L', shared_table,
            'Everyone with the privilege reads the price list; a tenant''s roles read their own tenants.');
        EXECUTE pg_catalog.format('COMMENT ON POLICY operator_writes ON rating.%I IS %L', shared_table,
            'Only roles that belong to no tenant change the shared price list and the tenants.');
    END LOOP;
END
$$;
