-- Keys that triggers keep instead of foreign keys. PostgreSQL checks a
-- foreign key on an INSERT with an event queued for every row, even a row
-- whose key is NULL; on rating.usage and rating.ledger, written a row at a
-- time by every rated event, that was about a microsecond a row for each
-- key. The triggers below do the same two jobs (the row named exists when
-- it is inserted; a row that is named is never deleted), and an INSERT that
-- names nothing queues nothing.

COMMENT ON FUNCTION rating.account_has_usage(bigint) IS 'Internal: whether the account has usage rows, read with the latest snapshot (committed rows and this transaction''s own) at every isolation level, as foreign keys check a deleted key: for the trigger accounts_keep_entries.';
COMMENT ON FUNCTION rating.any_reservation_is_named() IS 'Internal: whether any usage row names a reservation, read with the latest snapshot (committed rows and this transaction''s own) at every isolation level: for the trigger reservations_keep_named_on_truncate.';
COMMENT ON FUNCTION rating.reservation_is_named(bigint, bigint) IS 'Internal: whether usage of the account names its reservation, read with the latest snapshot (committed rows and this transaction''s own) at every isolation level, as foreign keys check a deleted key: for the trigger reservations_keep_named.';

-- Usage and the ledger name their account without a foreign key: a key
-- checks every row with a query of its own, while the rating trigger has
-- already found the account (it must, to price the row) and only
-- pg_rating's own functions write entries. This takes the keys' other job:
-- an account with usage or entries is never deleted. A transaction that is
-- inserting usage for the account holds its balance row (rated rows) or a
-- KEY SHARE lock on it (held rows) until it ends; the DELETE waits for it,
-- and then sees its rows: rating.account_has_usage() and
-- rating.reservation_is_named() (src/still_named.rs) read the latest
-- committed rows even in REPEATABLE READ, whose snapshot would miss them.
CREATE FUNCTION rating.keep_accounts_with_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM FROM rating.balances b WHERE b.account_id = OLD.account_id FOR UPDATE;
    IF rating.account_has_usage(OLD.account_id)
       OR EXISTS (SELECT FROM rating.ledger l WHERE l.account_id = OLD.account_id) THEN
        RAISE EXCEPTION 'account % has usage or ledger entries and cannot be deleted', OLD.account_id
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Usage and ledger entries are kept for good, and so is their account.';
    END IF;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION rating.keep_accounts_with_entries() IS 'Refuses (23503) deleting an account that has usage or ledger entries: the foreign keys usage and the ledger do without.';
CREATE TRIGGER accounts_keep_entries BEFORE DELETE ON rating.accounts
    FOR EACH ROW EXECUTE FUNCTION rating.keep_accounts_with_entries();
COMMENT ON TRIGGER accounts_keep_entries ON rating.accounts IS 'An account with usage or ledger entries is never deleted.';

-- A usage row may name a reservation of its account; almost none do, so
-- the check runs only WHEN one is named. Like a foreign key's check, it
-- runs at the end of the statement and locks the reservation (KEY SHARE)
-- so that it cannot be deleted until this transaction ends.
CREATE FUNCTION rating.check_reservation_named() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM FROM rating.reservations r
     WHERE r.account_id = NEW.account_id AND r.reservation_id = NEW.reservation_id
       FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % has no reservation %', NEW.account_id, NEW.reservation_id
            USING ERRCODE = 'foreign_key_violation',
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME,
                  HINT = 'Name a reservation that rating.reserve() returned for the same account.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rating.check_reservation_named() IS 'Constraint trigger on rating.usage: refuses (23503) a row naming a reservation its account does not have, and locks the one it names against deletion until the transaction ends.';
CREATE CONSTRAINT TRIGGER usage_names_a_reservation AFTER INSERT OR UPDATE OF account_id, reservation_id ON rating.usage
    FOR EACH ROW WHEN (NEW.reservation_id IS NOT NULL)
    EXECUTE FUNCTION rating.check_reservation_named();
COMMENT ON TRIGGER usage_names_a_reservation ON rating.usage IS 'A usage row names only a reservation of its own account (the foreign key it replaces queued a check for every row).';

CREATE FUNCTION rating.keep_named_reservations() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF rating.any_reservation_is_named() THEN
            RAISE EXCEPTION 'rating.reservations cannot be truncated: usage names its reservations'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.account_id, NEW.reservation_id) = (OLD.account_id, OLD.reservation_id) THEN
        RETURN NEW;
    END IF;
    IF rating.reservation_is_named(OLD.account_id, OLD.reservation_id) THEN
        RAISE EXCEPTION 'reservation % of account % is named by usage and cannot be %',
                OLD.reservation_id, OLD.account_id, CASE TG_OP WHEN 'DELETE' THEN 'deleted' ELSE 'renumbered' END
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Release it with rating.release_reservation() instead.';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION rating.keep_named_reservations() IS 'Refuses (23503) deleting, renumbering or truncating reservations that usage rows name.';
CREATE TRIGGER reservations_keep_named BEFORE DELETE OR UPDATE OF account_id, reservation_id ON rating.reservations
    FOR EACH ROW EXECUTE FUNCTION rating.keep_named_reservations();
CREATE TRIGGER reservations_keep_named_on_truncate BEFORE TRUNCATE ON rating.reservations
    FOR EACH STATEMENT EXECUTE FUNCTION rating.keep_named_reservations();
COMMENT ON TRIGGER reservations_keep_named ON rating.reservations IS 'A reservation that usage names is never deleted or renumbered.';
COMMENT ON TRIGGER reservations_keep_named_on_truncate ON rating.reservations IS 'Reservations that usage names are never truncated away.';

-- A correcting entry (a reversal, a rerated charge) names the entry it
-- corrects; the ledger is append-only (ledger_append_only), so the entry
-- named only has to exist when the correction is inserted.
CREATE FUNCTION rating.check_corrected_entry() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM rating.ledger l
                    WHERE l.account_id = NEW.account_id AND l.entry_no = NEW.corrects_entry_no) THEN
        RAISE EXCEPTION 'account % has no ledger entry % to correct', NEW.account_id, NEW.corrects_entry_no
            USING ERRCODE = 'foreign_key_violation',
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rating.check_corrected_entry() IS 'Constraint trigger on rating.ledger: refuses (23503) a correction naming an entry its account does not have.';
CREATE CONSTRAINT TRIGGER ledger_corrects_an_entry AFTER INSERT OR UPDATE OF account_id, corrects_entry_no ON rating.ledger
    FOR EACH ROW WHEN (NEW.corrects_entry_no IS NOT NULL)
    EXECUTE FUNCTION rating.check_corrected_entry();
COMMENT ON TRIGGER ledger_corrects_an_entry ON rating.ledger IS 'A correction names an entry of its own account (the foreign key it replaces queued a check for every entry).';
