# Sourced by the shell tests that run inside the test VM (selftests/helper/
# vm-tests, selftests/users/vm-tests): TAP lines, the kselftest "# Totals:"
# line that selftests/check counts, and the module's counters. POSIX sh.
# The sourcing script sets $filter (run only the groups whose name contains
# it) and $group before each want.

n=0
pass=0
fail=0
xfail=0
xpass=0

ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n $*"; }
# check DESCRIPTION COMMAND...: one case, passing if the command succeeds
check() { d=$1; shift; if "$@"; then ok "$d"; else notok "$d"; fi; }
# check_xfail REASON DESCRIPTION COMMAND...: a case known to fail for REASON
# (something outside this project); one that passes is an XPASS, which
# selftests/check counts as a failure, so that someone looks again
check_xfail() {
	r=$1 d=$2
	shift 2
	n=$((n + 1))
	if "$@"; then
		xpass=$((xpass + 1))
		echo "not ok $n $d # XPASS (expected to fail: $r)"
	else
		xfail=$((xfail + 1))
		echo "ok $n $d # XFAIL $r"
	fi
}
want() { case "$group" in *"$filter"*) return 0 ;; esac; return 1; }
# the TAP plan and the totals; the exit status for the sourcing script
totals() {
	echo "1..$n"
	echo "# Totals: pass:$pass fail:$fail xfail:$xfail xpass:$xpass skip:0 error:0"
	[ $fail -eq 0 ] && [ $xpass -eq 0 ]
}

stat_of() { awk -v k="$1" '$1 == k { print $2 }' /proc/net/ktls_offload_stat; }
# grows NAME BEFORE MIN: the counter NAME rose by at least MIN since BEFORE
grows() { [ $(($(stat_of "$1") - $2)) -ge "$3" ]; }
same() { [ "$(stat_of "$1")" = "$2" ]; }
# has FILE TEXT: FILE contains the fixed string TEXT
has() { grep -qF -- "$2" "$1"; }

# wait_for FILE TEXT [SECONDS]: until FILE says TEXT (5 s unless told)
wait_for() {
	i=0
	while [ $i -lt $((${3:-5} * 10)) ]; do
		has "$1" "$2" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "# gave up waiting for '$2' in $1:"; sed 's/^/#   /' "$1"
	return 1
}
