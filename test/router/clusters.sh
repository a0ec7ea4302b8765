# Sourced by test/router/run and bench/router: starts two shard clusters
# (ports 6540, 6541) with the credits extension and a router cluster (port
# 6542) with the layer router/generate writes, all on unix sockets of a
# temp directory ($dir) that is removed, with the clusters, on exit.
# The shards' clock is set per database: set_clock INSTANT (new router
# sessions see it, as PL/Proxy connects anew for each).
# Roles credits_app and credits_admin exist on every node, with the
# extension's app and admin rights on the shards and the right to call
# through the router on the router.  at PORT psql-args... runs psql against
# a node as postgres, or as $as_role.

bindir=/usr/lib/postgresql/15/bin
as_pg=()
[ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)
dir=$(mktemp -d /tmp/credits-router.XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
nodes="shard0:6540 shard1:6541 router:6542"

stop_all() {
	for n in $nodes; do
		"${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/${n%%:*}" -m fast stop >/dev/null 2>&1
	done
	rm -rf "$dir"
}
trap stop_all EXIT

for n in $nodes; do
	name=${n%%:*}
	port=${n##*:}
	"${as_pg[@]}" "$bindir/initdb" -D "$dir/$name" -A trust -U postgres >/dev/null || exit 1
	cat >>"$dir/$name/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
fsync = ${ROUTER_FSYNC:-off}
max_connections = 50
CONF
	# the shards run on a clock the harness sets (README, The clock)
	[ "$name" = router ] || echo "credits.clock_writes = on" >>"$dir/$name/postgresql.conf"
	"${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/$name" -l "$dir/$name.log" -w start >/dev/null || exit 1
done

at() {	# port, psql arguments
	local port=$1
	shift
	psql -X -Atq -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U "${as_role:-postgres}" -d postgres "$@"
}
router() { at 6542 "$@"; }
set_clock() {
	for port in 6540 6541; do
		at $port -c "ALTER DATABASE postgres SET credits.clock = '$1'" || return 1
	done
}

set_clock 2026-01-10T00:00:00Z || exit 1
for port in 6540 6541 6542; do
	at $port -c "CREATE ROLE credits_app LOGIN" -c "CREATE ROLE credits_admin LOGIN" || exit 1
done
for port in 6540 6541; do
	at $port -c "CREATE EXTENSION credits" -c "SELECT credits.grant_app_rights('credits_app')" \
		-c "SELECT credits.grant_admin_rights('credits_admin')" >/dev/null || exit 1
done
PGHOST=$dir PGPORT=6540 PGUSER=postgres PGDATABASE=postgres router/generate >"$dir/router.sql" || exit 1
router -f "$dir/router.sql" || exit 1
router -c "CREATE SERVER credits FOREIGN DATA WRAPPER plproxy
	OPTIONS (p0 'host=$dir port=6540 dbname=postgres', p1 'host=$dir port=6541 dbname=postgres')" \
	-c "CREATE USER MAPPING FOR PUBLIC SERVER credits" \
	-c "GRANT USAGE ON SCHEMA credits, credits_router TO credits_app, credits_admin" \
	-c "GRANT USAGE ON FOREIGN SERVER credits TO credits_app, credits_admin" \
	-c "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA credits TO credits_app, credits_admin" || exit 1

