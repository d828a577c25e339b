-- Online charging for prepaid sessions: ask what the account can afford,
-- hold funds for the session, let its usage rows draw on the hold, release
-- what is left. All under the account's balance lock, so that concurrent
-- sessions cannot together hold or spend more than the account may.

CREATE VIEW rating.open_reservations WITH (security_invoker = true) AS
SELECT r.account_id,
       r.reservation_id,
       r.amount,
       r.consumed,
       r.amount - r.consumed AS remaining,
       r.expires_at,
       r.created_at,
       r.idempotency_key
  FROM rating.reservations r
 WHERE r.status = 'open' AND r.expires_at > now();
COMMENT ON VIEW rating.open_reservations IS 'Reservations that currently hold funds: open and not yet expired. The one definition that holds, draws and authorizations use.';
COMMENT ON COLUMN rating.open_reservations.account_id IS 'The account.';
COMMENT ON COLUMN rating.open_reservations.reservation_id IS 'The reservation.';
COMMENT ON COLUMN rating.open_reservations.amount IS 'Funds reserved.';
COMMENT ON COLUMN rating.open_reservations.consumed IS 'Drawn by usage so far.';
COMMENT ON COLUMN rating.open_reservations.remaining IS 'Still held.';
COMMENT ON COLUMN rating.open_reservations.expires_at IS 'When it stops holding.';
COMMENT ON COLUMN rating.open_reservations.created_at IS 'When it was made.';
COMMENT ON COLUMN rating.open_reservations.idempotency_key IS 'The caller''s key.';

CREATE FUNCTION rating.held_funds(account_id bigint) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(sum(r.remaining), 0) FROM rating.open_reservations r WHERE r.account_id = $1
$$;
COMMENT ON FUNCTION rating.held_funds(bigint) IS 'Funds the account''s open, unexpired reservations still hold.';

COMMENT ON FUNCTION rating.affordable_quantity(bigint, text, numeric, timestamptz, text) IS 'The largest quantity of a service (to a destination) whose charge for the account at occurred_at, and that of every shorter use, fits in budget, and the rate that prices it; errors as the insert of that usage would. A rate that counts units per billing period (tiers, an allowance) is priced on top of the period''s count as it stands, read without a lock. rating.authorize supplies the budget.';

CREATE FUNCTION rating.available_funds(account_id bigint) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT b.balance - rating.held_funds(b.account_id) - a.spending_floor
      FROM rating.balances b
      JOIN rating.accounts a ON a.account_id = b.account_id
     WHERE b.account_id = $1 AND rating.account_accessible($1)
$$;
COMMENT ON FUNCTION rating.available_funds(bigint) IS 'What the account may still spend: balance minus held reservations minus its spending floor. NULL for an account without a limit.';

CREATE FUNCTION rating.authorize(account_id bigint, service text, destination text DEFAULT NULL,
                                 occurred_at timestamptz DEFAULT now(), reservation_id bigint DEFAULT NULL)
RETURNS TABLE (quantity numeric, available numeric, currency text, rate_id bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    budget numeric;
BEGIN
    PERFORM rating.check_account_access(authorize.account_id);
    IF NOT EXISTS (SELECT FROM rating.accounts a WHERE a.account_id = authorize.account_id) THEN
        RAISE EXCEPTION 'account % does not exist', authorize.account_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    budget := rating.available_funds(authorize.account_id);
    -- A session that holds a reservation may also spend what it still holds.
    budget := budget + coalesce((SELECT r.remaining FROM rating.open_reservations r
                                  WHERE r.account_id = authorize.account_id AND r.reservation_id = authorize.reservation_id), 0);
    IF budget IS NULL THEN
        -- No limit: the answer is the rate alone (quantity NULL: unlimited).
        RETURN QUERY SELECT NULL::numeric, NULL::numeric, q.currency, q.rate_id
          FROM rating.affordable_quantity(authorize.account_id, authorize.service, 0, authorize.occurred_at, authorize.destination) q;
    ELSE
        RETURN QUERY SELECT q.quantity, budget, q.currency, q.rate_id
          FROM rating.affordable_quantity(authorize.account_id, authorize.service, greatest(budget, 0),
                                          authorize.occurred_at, authorize.destination) q;
    END IF;
END
$$;
COMMENT ON FUNCTION rating.authorize(bigint, text, text, timestamptz, bigint) IS 'How much of a service the account can use now: the largest quantity (e.g. seconds of a call to destination) whose charge fits in its available funds, plus those of reservation_id if given; what is left of an allowance comes free first, and tiers are priced on the billing period''s units so far. quantity and available are NULL for an account without a limit. Posts and holds nothing: follow with rating.reserve().';

CREATE FUNCTION rating.reserve(account_id bigint, amount numeric, idempotency_key text,
                               expires_in interval DEFAULT '15 minutes')
RETURNS rating.reservations
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    held      rating.reservations;
    available numeric;
BEGIN
    IF reserve.account_id IS NULL OR reserve.amount IS NULL OR nullif(reserve.idempotency_key, '') IS NULL
       OR expires_in IS NULL THEN
        RAISE EXCEPTION 'account_id, amount, idempotency_key and expires_in must be given'
            USING ERRCODE = 'not_null_violation';
    END IF;
    PERFORM rating.check_amount('reservation', reserve.amount);
    IF expires_in <= interval '0' THEN
        RAISE EXCEPTION 'expires_in must be positive, not %', expires_in USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM rating.locked_balance(reserve.account_id);

    SELECT * INTO held FROM rating.reservations r
     WHERE r.account_id = reserve.account_id AND r.idempotency_key = reserve.idempotency_key;
    IF FOUND THEN
        IF held.amount = reserve.amount THEN
            RETURN held;  -- a retry
        END IF;
        RAISE EXCEPTION 'idempotency key "%" of account % was already used for reservation % of %',
                reserve.idempotency_key, reserve.account_id, held.reservation_id, held.amount
            USING ERRCODE = 'unique_violation';
    END IF;

    available := rating.available_funds(reserve.account_id);
    IF available < reserve.amount THEN
        RAISE EXCEPTION 'account % cannot reserve %: only % is available', reserve.account_id, reserve.amount, available
            USING ERRCODE = 'RT001',
                  HINT = 'Reserve less (rating.authorize tells how much a session can use), or top up the account.';
    END IF;
    INSERT INTO rating.reservations (account_id, amount, expires_at, idempotency_key)
    VALUES (reserve.account_id, reserve.amount, now() + expires_in, reserve.idempotency_key)
    RETURNING * INTO held;
    RETURN held;
END
$$;
COMMENT ON FUNCTION rating.reserve(bigint, numeric, text, interval) IS 'Holds amount of the account''s funds for a session until released or expired; refused with SQLSTATE RT001 if the account cannot spend that much. Usage rows naming the reservation (usage.reservation_id) draw on it first. A retried call with the same idempotency_key returns the same reservation.';

CREATE FUNCTION rating.release_reservation(account_id bigint, reservation_id bigint)
RETURNS rating.reservations
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    held rating.reservations;
BEGIN
    PERFORM rating.locked_balance(release_reservation.account_id);
    UPDATE rating.reservations r
       SET status = CASE WHEN r.expires_at > now() THEN 'released' ELSE 'expired' END, closed_at = now()
     WHERE r.account_id = release_reservation.account_id AND r.reservation_id = release_reservation.reservation_id
       AND r.status = 'open';
    SELECT * INTO held FROM rating.reservations r
     WHERE r.account_id = release_reservation.account_id AND r.reservation_id = release_reservation.reservation_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % has no reservation %', release_reservation.account_id, release_reservation.reservation_id
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN held;  -- releasing twice is harmless
END
$$;
COMMENT ON FUNCTION rating.release_reservation(bigint, bigint) IS 'Ends a session''s reservation: what it still holds is free again. Releasing a closed reservation changes nothing.';

CREATE FUNCTION rating.expire_reservations() RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH expired AS (
        UPDATE rating.reservations r SET status = 'expired', closed_at = now()
         WHERE r.status = 'open' AND r.expires_at <= now()
        RETURNING 1)
    SELECT count(*) FROM expired
$$;
COMMENT ON FUNCTION rating.expire_reservations() IS 'Marks open reservations past expires_at as expired and returns how many. Expired reservations hold nothing even before this runs; it keeps rating.open_reservations tidy (run it from cron or pg_cron).';
