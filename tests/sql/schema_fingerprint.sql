-- Everything pg_rating puts in a database, one row per object, in a form
-- that does not depend on the order of creation: two databases whose rows
-- are equal have the same schema, whether installed fresh or upgraded.
WITH extension_objects AS (
    SELECT d.classid, d.objid
      FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
     WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'pg_rating' AND d.deptype = 'e'
), relations AS (
    SELECT c.oid, c.relname, c.relkind FROM pg_class c JOIN extension_objects o ON o.objid = c.oid
     WHERE o.classid = 'pg_class'::regclass
), grants AS (
    SELECT coalesce(string_agg(g.grantee || ':' || g.privilege_type, ',' ORDER BY g.grantee, g.privilege_type), '')
           AS acl, g.object
      FROM (SELECT coalesce(r.rolname, 'PUBLIC') AS grantee, a.privilege_type, x.object
              FROM (SELECT 'rel ' || relname AS object, (aclexplode(c.relacl)).* FROM pg_class c
                     WHERE c.oid IN (SELECT oid FROM relations)
                    UNION ALL
                    SELECT 'fn ' || p.oid::regprocedure::text, (aclexplode(p.proacl)).* FROM pg_proc p
                     WHERE p.pronamespace = 'rating'::regnamespace) x (object, grantor, grantee, privilege_type, is_grantable)
              CROSS JOIN LATERAL (SELECT x.privilege_type) a
              LEFT JOIN pg_roles r ON r.oid = x.grantee
             WHERE x.grantee <> x.grantor) g
     GROUP BY g.object
)
SELECT kind, name, definition FROM (
    SELECT 'relation' AS kind, r.relname::text AS name,
           r.relkind::text || ' rls=' || c.relrowsecurity || ' options=' || coalesce(c.reloptions::text, '')
           || ' comment=' || coalesce(obj_description(r.oid, 'pg_class'), '') AS definition
      FROM relations r JOIN pg_class c ON c.oid = r.oid
    UNION ALL
    SELECT 'column', r.relname || '.' || lpad(row_number() OVER (PARTITION BY r.oid ORDER BY a.attnum)::text, 3, '0'),
           a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
           || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') || ' generated=' || a.attgenerated::text
           || ' identity=' || a.attidentity::text || ' comment=' || coalesce(col_description(r.oid, a.attnum), '')
      FROM relations r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    UNION ALL
    SELECT 'constraint', r.relname || '.' || con.conname,
           pg_get_constraintdef(con.oid) || ' comment=' || coalesce(obj_description(con.oid, 'pg_constraint'), '')
      FROM relations r JOIN pg_constraint con ON con.conrelid = r.oid
    UNION ALL
    SELECT 'index', i.relname, pg_get_indexdef(i.oid) || ' comment=' || coalesce(obj_description(i.oid, 'pg_class'), '')
      FROM relations r JOIN pg_index x ON x.indrelid = r.oid JOIN pg_class i ON i.oid = x.indexrelid
    UNION ALL
    SELECT 'view', r.relname, pg_get_viewdef(r.oid) FROM relations r WHERE r.relkind = 'v'
    UNION ALL
    SELECT 'trigger', r.relname || '.' || t.tgname,
           pg_get_triggerdef(t.oid) || ' comment=' || coalesce(obj_description(t.oid, 'pg_trigger'), '')
      FROM relations r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT 'policy', p.tablename || '.' || p.policyname,
           p.cmd || ' roles=' || p.roles::text || ' using=' || coalesce(p.qual, '') || ' check=' || coalesce(p.with_check, '')
      FROM pg_policies p WHERE p.schemaname = 'rating'
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text,
           pg_get_functiondef(p.oid) || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '')
      FROM pg_proc p JOIN extension_objects o ON o.objid = p.oid AND o.classid = 'pg_proc'::regclass
    UNION ALL
    SELECT 'grant', g.object, g.acl FROM grants g
    UNION ALL
    SELECT 'config dump', c.relname, coalesce(e.extcondition[array_position(e.extconfig, c.oid)], '')
      FROM pg_extension e CROSS JOIN LATERAL unnest(e.extconfig) AS dumped (oid) JOIN pg_class c ON c.oid = dumped.oid
     WHERE e.extname = 'pg_rating'
) fingerprint
ORDER BY kind, name, definition;
