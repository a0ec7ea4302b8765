--
-- A text fingerprint of everything the extension defines, one line per
-- object, for comparing an upgraded installation with a fresh one (the
-- grantees of each object sorted, since the order they were granted in may
-- differ).
-- (pg_dump leaves extension member objects out, so the catalogs are read.)
--
\pset format unaligned
\pset tuples_only on
\set ON_ERROR_STOP 1
WITH ext AS (
	SELECT d.classid, d.objid
	FROM pg_catalog.pg_depend d
	JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
	WHERE e.extname = 'credits' AND d.deptype = 'e'
		AND d.refclassid = 'pg_extension'::regclass
)
SELECT line FROM (
	-- functions, with their full definitions, volatility and rights
	SELECT 'function ' || pg_catalog.pg_get_functiondef(p.oid) ||
		' acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(p.proacl) x), 'default') AS line
	FROM ext JOIN pg_catalog.pg_proc p ON p.oid = ext.objid
	WHERE ext.classid = 'pg_proc'::regclass
	UNION ALL
	-- tables, views, sequences, indexes, with their columns and rights
	SELECT 'relation ' || c.relkind::text || ' ' || c.relname || ' acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(c.relacl) x), 'default') ||
		' columns=' || coalesce((SELECT string_agg(a.attname || ' ' ||
			pg_catalog.format_type(a.atttypid, a.atttypmod) ||
			CASE WHEN a.attnotnull THEN ' not null' ELSE '' END ||
			coalesce(' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '') ||
			CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END ||
			coalesce(' collate ' || co.collname, ''), ', ' ORDER BY a.attnum)
			FROM pg_catalog.pg_attribute a
			LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
			LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
			WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') ||
		coalesce(' view=' || pg_catalog.pg_get_viewdef(c.oid), '') ||
		coalesce(' options=' || pg_catalog.array_to_string(c.reloptions, ','), '') ||
		' replica_identity=' || c.relreplident::text
	FROM pg_catalog.pg_class c
	WHERE c.relnamespace = 'credits'::regnamespace
	UNION ALL
	SELECT 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
	FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
	WHERE c.relnamespace = 'credits'::regnamespace
	UNION ALL
	SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_catalog.pg_get_constraintdef(oid)
	FROM pg_catalog.pg_constraint WHERE connamespace = 'credits'::regnamespace
	UNION ALL
	SELECT 'trigger ' || pg_catalog.pg_get_triggerdef(t.oid)
	FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
	WHERE c.relnamespace = 'credits'::regnamespace AND NOT t.tgisinternal
	UNION ALL
	SELECT 'type ' || t.typname || ' ' || t.typtype::text || ' acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(t.typacl) x), 'default') ||
		coalesce(' labels=' || (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder)
								FROM pg_catalog.pg_enum WHERE enumtypid = t.oid), '')
	FROM pg_catalog.pg_type t WHERE t.typnamespace = 'credits'::regnamespace AND t.typarray <> 0
	UNION ALL
	SELECT 'operator ' || o.oprname || '(' || o.oprleft::regtype || ',' || o.oprright::regtype || ') ' ||
		o.oprcode::regproc || ' ' || o.oprcom::regoperator || ' ' || o.oprnegate::regoperator
	FROM pg_catalog.pg_operator o WHERE o.oprnamespace = 'credits'::regnamespace
	UNION ALL
	SELECT 'opclass ' || opc.opcname || ' ' || am.amname || ' default=' || opc.opcdefault
	FROM pg_catalog.pg_opclass opc JOIN pg_catalog.pg_am am ON am.oid = opc.opcmethod
	WHERE opc.opcnamespace = 'credits'::regnamespace
	UNION ALL
	SELECT 'comment ' || pg_catalog.pg_describe_object(d.classoid, d.objoid, d.objsubid) || ': ' || d.description
	FROM pg_catalog.pg_description d JOIN ext ON ext.classid = d.classoid AND ext.objid = d.objoid
	UNION ALL
	SELECT 'dumped ' || c.relname || ' ' || coalesce(cfg.cond, '')
	FROM pg_catalog.pg_extension e,
		unnest(e.extconfig, e.extcondition) AS cfg(oid, cond)
	JOIN pg_catalog.pg_class c ON c.oid = cfg.oid
	WHERE e.extname = 'credits'
	UNION ALL
	-- the initial privileges pg_dump compares rights with
	SELECT 'initial privileges ' || pg_catalog.pg_describe_object(ip.classoid, ip.objoid, ip.objsubid) ||
		' ' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(ip.initprivs) x), '')
	FROM pg_catalog.pg_init_privs ip JOIN ext ON ext.classid = ip.classoid AND ext.objid = ip.objoid
	WHERE ip.privtype = 'e'
	UNION ALL
	SELECT 'member ' || pg_catalog.pg_describe_object(classid, objid, 0) FROM ext
	UNION ALL
	-- where the extension is recorded, and what it depends on
	SELECT 'extension in schema ' || e.extnamespace::regnamespace::text ||
		' relocatable=' || e.extrelocatable
	FROM pg_catalog.pg_extension e WHERE e.extname = 'credits'
	UNION ALL
	SELECT 'extension depends on ' || pg_catalog.pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) ||
		' ' || d.deptype::text
	FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.objid
	WHERE d.classid = 'pg_extension'::regclass AND e.extname = 'credits'
) x
ORDER BY line;
