-- User plus system time of this backend so far, in clock ticks (the unit
-- of /proc/self/stat): what the CPU measurements of bench.sh subtract.
CREATE FUNCTION pg_temp.cpu_ticks() RETURNS bigint LANGUAGE sql AS $$
    SELECT f[14]::bigint + f[15]::bigint FROM string_to_array(pg_read_file('/proc/self/stat'), ' ') f
$$;
