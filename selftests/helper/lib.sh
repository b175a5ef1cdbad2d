#!/bin/sh
# The helper tests' harness, sourced by vm-tests and vm-load (in the VM):
# TAP counting, checks, ports, servers, and the probes the cases share.
#
# Adding a case: pick a port with free_port (or let serve / s_server do
# it), run what you test, then `check "group: what it shows" CMD ARG...`:
# the case passes if CMD exits 0. CMD is run as is, never through eval:
# for a condition of several parts, write a small function and check it.

n=0 pass=0 fail=0 xfail=0 xpass=0
sizes="0 1 16383 16384 16385 10485760"
big=10485760

ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n $*"; }
# check DESCRIPTION COMMAND [ARG]...: one case, passing if the command succeeds
check() { local _d=$1; shift; if "$@"; then ok "$_d"; else notok "$_d"; fi; }
# xcheck WHY DESCRIPTION COMMAND...: a case known to fail (TAP TODO, counted
# as xfail). If it passes it is an xpass, which make check counts as a
# failure: the mark must go once the cause is fixed.
xcheck() {
	local _w=$1 _d=$2
	shift 2
	if "$@"; then n=$((n + 1)); xpass=$((xpass + 1)); echo "ok $n $_d # TODO $_w"
	else n=$((n + 1)); xfail=$((xfail + 1)); echo "not ok $n $_d # TODO $_w"; fi
}
want() { case "$group" in *"$filter"*) return 0 ;; esac; return 1; }
stat_of() { awk -v k="$1" '$1 == k { print $2 }' /proc/net/ktls_offload_stat; }
# grows NAME BEFORE MIN: the counter NAME rose by at least MIN since BEFORE
grows() { [ $(($(stat_of "$1") - $2)) -ge "$3" ]; }
same() { [ "$(stat_of "$1")" = "$2" ]; }
# has FILE TEXT: FILE contains the fixed string TEXT
has() { grep -qF -- "$2" "$1"; }
lacks() { ! grep -qF -- "$2" "$1"; }
is() { [ "$1" = "$2" ]; }
at_least() { [ "$1" -ge "$2" ]; }
at_most() { [ "$1" -le "$2" ]; }
# exits STATUS CMD...: CMD exits with STATUS
exits() { local _s=$1; shift; "$@"; [ $? = "$_s" ]; }
show() { sed 's/^/#   /' "$@"; }

# free_port: sets $port to a TCP port no socket uses, above the last one given
next_port=20000
free_port() {
	local hex
	while :; do
		next_port=$((next_port + 1))
		hex=$(printf ':%04X ' $next_port)
		grep -q "$hex" /proc/net/tcp /proc/net/tcp6 2> /dev/null || break
	done
	port=$next_port
}

# wait_for FILE TEXT: until FILE says TEXT (10 s at most)
wait_for() {
	local i=0
	while [ $i -lt 100 ]; do
		has "$1" "$2" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "# gave up waiting for '$2' in $1:"; show "$1"
	return 1
}

# wait_until WHAT CMD...: poll CMD for 20 s at most (WAIT_TRIES tenths of a second)
wait_until() {
	local w=$1 i=0
	shift
	while ! "$@"; do
		[ $i -ge "${WAIT_TRIES:-200}" ] && { echo "# gave up waiting for $w"; return 1; }
		sleep 0.1
		i=$((i + 1))
	done
}

# serve LOG ktls-serve-args...: ktls-serve in the background on a free $port
serve() {
	local log=$1
	shift
	free_port
	: > "$log"
	./ktls-serve --port "$port" --cert server.pem --key server.key "$@" www 2> "$log" &
	spid=$!
	wait_for "$log" "serving"
}

# s_server LOG CERT s_server-args...: openssl -WWW in www/, on a free $port
s_server() {
	local log=$1 cert=$2
	shift 2
	free_port
	: > "$log"
	(cd www && exec openssl s_server -accept "$port" -cert "../$cert" -key ../server.key \
		-WWW "$@" > "../$log" 2>&1) &
	spid=$!
	wait_for "$log" "ACCEPT"
}

stop() { kill "$spid" 2> /dev/null; wait "$spid" 2> /dev/null; }

# ktls-handshaked: users ktlsuser (4242, the servers) and hsduser (4243,
# the daemon, alone with the key: hsd.key, mode 0400) and hsdother (4244,
# not on the allow-list); hsd_start LOG [ARGS...] starts it on $hsd_sock
# ($hpid), serving ktlsuser and root.
hsd_sock=/run/ktls-hsd/sock
hsd_users() {
	grep -q '^ktlsuser:' /etc/passwd 2> /dev/null ||
		{ echo 'ktlsuser:x:4242:4242::/:/bin/false' >> /etc/passwd; echo 'ktlsuser:x:4242:' >> /etc/group; }
	grep -q '^hsduser:' /etc/passwd ||
		{ echo 'hsduser:x:4243:4243::/:/bin/false' >> /etc/passwd; echo 'hsduser:x:4243:' >> /etc/group; }
	grep -q '^hsdother:' /etc/passwd ||
		{ echo 'hsdother:x:4244:4244::/:/bin/false' >> /etc/passwd; echo 'hsdother:x:4244:' >> /etc/group; }
	cp server.key hsd.key
	chown 4243:4243 hsd.key
	chmod 0400 hsd.key
	mkdir -p /run/ktls-hsd
	chmod 0755 /run /run/ktls-hsd
	chown 4243:4243 /run/ktls-hsd	# the daemon removes its socket at the stop
}
hsd_start() {
	local log=$1
	shift
	: > "$log"
	./ktls-handshaked --socket "$hsd_sock" --cert server.pem --key hsd.key --user hsduser \
		--allow-uid ktlsuser,0 "$@" 2> "$log" &
	hpid=$!
	wait_for "$log" "serving"
}
hsd_stop() { kill "$hpid" 2> /dev/null; wait "$hpid" 2> /dev/null; }
# as USER CMD...: run CMD as USER (busybox su, from root)
as() { local u=$1; shift; su -s /bin/sh "$u" -c "$*"; }
# runs_as PID UID: every process of PID and its children runs as UID
runs_as() {
	local p
	for p in "$1" $(cat /proc/[0-9]*/stat 2> /dev/null | awk -v p="$1" '$4 == p { print $1 }'); do
		awk '/^Uid:/ { print $2, $3 }' "/proc/$p/status"
	done | grep -qv "^$2 $2\$" && return 1
	return 0
}
fd_count() { ls "/proc/$1/fd" | wc -l; }

# The server's connections: sockets on its port that a process holds
# (inode not 0), not listening.
open_conns() {
	local hex
	hex=$(printf '%04X' "$1")
	cat /proc/net/tcp /proc/net/tcp6 2> /dev/null |
		awk -v p=":$hex" '$2 ~ (p "$") && $4 != "0A" && $10 != 0 { n++ } END { print n + 0 }'
}
# settled PORT: until the server on PORT holds no connection (20 s at most)
settled() { wait_until "port $1 without connections" is_settled "$1"; }
is_settled() { [ "$(open_conns "$1")" = 0 ]; }
zombies() { cat /proc/[0-9]*/stat 2> /dev/null | awk '$3 == "Z" { n++ } END { print n + 0 }'; }
no_zombie() { [ "$(zombies)" = 0 ]; }
# children PID: processes whose parent is PID
children() { cat /proc/[0-9]*/stat 2> /dev/null | awk -v p="$1" '$4 == p { n++ } END { print n + 0 }'; }
# rss_kib PID: the resident memory of PID and its children, in KiB
rss_kib() {
	local t=0 p r
	for p in "$1" $(cat /proc/[0-9]*/stat 2> /dev/null | awk -v p="$1" '$4 == p { print $1 }'); do
		r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2> /dev/null)
		t=$((t + ${r:-0}))
	done
	echo $t
}
# the plain download checks, as functions for check
# fetched URL OUT EXPECTED [CURL-ARG]...: curl gets URL into OUT, byte-exact with EXPECTED
fetched() { local u=$1 o=$2 e=$3; shift 3; curl -sS --cacert ca.pem "$@" -o "$o" "$u" && cmp -s "$o" "$e"; }
got_ok() { [ "$1" = 0 ] && cmp -s "$2" "$3"; }                            # RC OUT EXPECTED
# dropped_within FILE MIN MAX: loadpeer's result: all closed by the server, MIN to MAX s in
dropped_within() {
	local f l
	f=$(sed -n 's/.*first_close=\([0-9.]*\).*/\1/p' "$1" | cut -d. -f1)
	l=$(sed -n 's/.*last_close=\([0-9.]*\).*/\1/p' "$1" | cut -d. -f1)
	has "$1" "still_open=0" && [ "${f:-0}" -ge "$2" ] && [ "${l:-99}" -le "$3" ]
}
