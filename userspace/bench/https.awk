# The HTTPS section's table, from the lines userspace/bench/https wrote in
# the VM (one per measurement and round, one per calibration). Prints the
# table and the targets; with -v tsv=FILE also writes one line per row,
# with -v hstsv=FILE one per row of the handshakes table.
#   awk -F'\t' [-v tsv=FILE] [-v hstsv=FILE] -f https.awk RAW
# Per row (server, cipher, TLS version, file, connections): the medians of
# the rounds, half their range as the noise, and ratios as the medians of
# per-round ratios (the rows compared were measured minutes apart at most).
# serve-hsd rows (ktls-serve --handshaked) add their ratios over serve-ours
# at the end of the line; the "hs" lines (https-load --handshakes) make the
# handshakes table, after the main one.

function kv(s, a,   n, i, p, parts) {
	delete a
	n = split(s, parts, " ")
	for (i = 1; i <= n; i++)
		if ((p = index(parts[i], "=")) > 0)
			a[substr(parts[i], 1, p - 1)] = substr(parts[i], p + 1)
}
# median and half range of v[1..n] (v is sorted in place)
function sortv(v, n,   i, j, t) {
	for (i = 2; i <= n; i++) {
		t = v[i]
		for (j = i - 1; j >= 1 && v[j] > t; j--)
			v[j + 1] = v[j]
		v[j + 1] = t
	}
}
function med(v, n) { if (!n) return 0; sortv(v, n); return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
function hrange(v, n) { if (!n) return 0; sortv(v, n); return (v[n] - v[1]) / 2 }
# the rounds of row k for metric m, into v; their count
function rounds(k, m, v,   r, n) {
	delete v
	n = 0
	for (r = 0; r <= maxround; r++)
		if ((k, r) in ok)
			v[++n] = val[k, r, m]
	return n
}
function rmed(k, m,   v, n) { n = rounds(k, m, v); return med(v, n) }
function rspread(k, m,   v, n, x) { n = rounds(k, m, v); x = med(v, n); return x > 0 ? 100 * hrange(v, n) / x : 0 }
# per-round ratio of row k over row b in metric m: median (spread in rs_spread)
function ratio(k, b, m,   v, n, r) {
	delete v
	n = 0
	rs_spread = 0
	for (r = 0; r <= maxround; r++)
		if (((k, r) in ok) && ((b, r) in ok) && val[b, r, m] > 0)
			v[++n] = val[k, r, m] / val[b, r, m]
	if (!n)
		return 0
	rs_spread = hrange(v, n)
	return med(v, n)
}
# (the handshake rows are in ok and val too: their keys have no file size)
function sizelabel(s) { return toupper(s) }
function xprint(x) { if (x > 0) printf " %7.2fx", x; else printf " %8s", "-" }

BEGIN {
	nsrv = split("nginx-user nginx-intree nginx-ours serve-user serve-intree serve-ours serve-hsd", srv, " ")
	label["nginx-user"] = "nginx, userspace"; label["nginx-intree"] = "nginx + in-tree"
	label["nginx-ours"] = "nginx + ours"; label["serve-user"] = "ktls-serve --userspace"
	label["serve-intree"] = "ktls-serve + in-tree"; label["serve-ours"] = "ktls-serve + ours"
	label["serve-hsd"] = "ktls-serve hsd + ours"
	maxround = 0
}
$1 == "calib" {
	kv($3, c)
	if (c["client_cpu"] > 0)
		calv[++ncal] = c["cpu_busy"] / c["client_cpu"]
	next
}
$1 == "row" {
	g = $3 SUBSEP $4 SUBSEP $5 SUBSEP $6
	if ($5 == "-")
		next	# a server that did not start: its rows are missing
	if (!(g in gseen)) {
		gseen[g] = 1
		gorder[++ng] = g
	}
	k = $2 SUBSEP g
	r = $7 + 0
	if (r > maxround)
		maxround = r
	if ($8 != "ok") {
		failed[k] = $9
		next
	}
	kv($9, a)
	if (a["gib"] <= 0 || a["seconds"] <= 0)
		next
	ok[k, r] = 1
	val[k, r, "mbps"] = a["mbps"] + 0	# a number: compared as a string it sorted "11.00" below "9.5"

	val[k, r, "rps"] = a["requests"] / a["seconds"]
	val[k, r, "cpu"] = a["cpu_busy"] / a["gib"]
	val[k, r, "us"] = a["server_cpu"] / a["gib"]
	val[k, r, "sirq"] = a["cpu_softirq"] / a["gib"]
	val[k, r, "client"] = a["client_cpu"] / a["gib"]
	present[k] = 1
}
$1 == "hs" {
	g = $3 SUBSEP $4 SUBSEP $6
	if (!(g in hgseen)) {
		hgseen[g] = 1
		hgorder[++nhg] = g
	}
	k = $2 SUBSEP g
	r = $7 + 0
	if (r > maxround)
		maxround = r
	if ($8 != "ok") {
		hfailed[k] = $9
		next
	}
	kv($9, a)
	if (a["handshakes"] <= 0 || a["seconds"] <= 0)
		next
	ok[k, r] = 1
	val[k, r, "hps"] = a["hs_per_s"] + 0
	val[k, r, "cpu"] = 1000 * a["cpu_busy"] / a["handshakes"]
	val[k, r, "us"] = 1000 * a["server_cpu"] / a["handshakes"]
	val[k, r, "sirq"] = 1000 * a["cpu_softirq"] / a["handshakes"]
	hpresent[k] = 1
}
END {
	n = 0
	for (i = 1; i <= ncal; i++)
		cv[++n] = calv[i]
	if (n) {
		m = med(cv, n)
		printf "Host share of the server's vCPU (CPU 0's busy ticks over a 1 s spin's own utime + stime), %d calibrations: median %.2f, from %.2f to %.2f\n\n", n, m, cv[1], cv[n]
	}
	printf "%-22s %-17s %-3s %4s %5s %8s %7s %5s %9s %5s %9s %7s %8s %8s %8s %5s %8s\n",
		"server", "cipher", "tls", "file", "conns", "req/s", "MB/s", "+-%", "CPU s/GiB", "+-%",
		"u+s s/GiB", "sirq", "xNgxUser", "xNgxInTr", "xInTree", "+-", "MB/s x"
	if (tsv != "")
		print "# server\tcipher\ttls\tsize\tconns\treq_per_s\tmbps\tmbps_spread_pct\tcpu_s_per_gib\tcpu_spread_pct\tutime_stime_s_per_gib\tsoftirq_s_per_gib\tclient_s_per_gib\tx_nginx_user\tx_nginx_intree\tx_intree\tx_intree_spread\tx_mbps_intree\truns\tx_serve_ours\tx_serve_ours_spread\tx_mbps_serve_ours" > tsv
	for (gi = 1; gi <= ng; gi++) {
		g = gorder[gi]
		split(g, p, SUBSEP)
		printf "\n"
		for (si = 1; si <= nsrv; si++) {
			s = srv[si]
			k = s SUBSEP g
			if (!(k in present) && !(k in failed))
				continue
			if (s == "serve-hsd")
				hsdrows = 1
			printf "%-22s %-17s %-3s %4s %5s", label[s], toupper(p[1]), p[2], sizelabel(p[3]), p[4]
			if (!(k in present)) {
				printf "  failed: %s\n", failed[k]
				continue
			}
			xu = xn = xs = xm = 0
			sp = 0
			bu = "nginx-user" SUBSEP g
			bn = "nginx-intree" SUBSEP g
			same = s ~ /-ours$/ ? substr(s, 1, index(s, "-")) "intree" SUBSEP g : ""
			if (s != "nginx-user")
				xu = ratio(k, bu, "cpu")
			if (s != "nginx-intree")
				xn = ratio(k, bn, "cpu")
			if (same != "") {
				xs = ratio(k, same, "cpu")
				sp = rs_spread
				xm = ratio(k, same, "mbps")
				msp = rs_spread
			}
			xo = xos = xom = 0
			if (s == "serve-hsd") {
				xo = ratio(k, "serve-ours" SUBSEP g, "cpu")
				xos = rs_spread
				xom = ratio(k, "serve-ours" SUBSEP g, "mbps")
			}
			nr = rounds(k, "cpu", tmp)
			printf " %8.1f %7.2f %5.1f %9.1f %5.1f %9.1f %7.1f", rmed(k, "rps"), rmed(k, "mbps"),
				rspread(k, "mbps"), rmed(k, "cpu"), rspread(k, "cpu"), rmed(k, "us"), rmed(k, "sirq")
			xprint(xu); xprint(xn); xprint(xs)
			if (xs > 0) printf " %5.2f", sp; else printf " %5s", "-"
			xprint(xm)
			if (s == "serve-hsd") {
				printf "  xOurs"; xprint(xo)
				if (xo > 0) printf " +-%.2f", xos
				printf " MB/s"; xprint(xom)
			}
			printf "\n"
			if (tsv != "")
				printf "%s\t%s\t%s\t%s\t%s\t%.2f\t%.3f\t%.1f\t%.3f\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%.3f\t%.3f\t%.3f\n",
					s, p[1], p[2], p[3], p[4], rmed(k, "rps"), rmed(k, "mbps"), rspread(k, "mbps"),
					rmed(k, "cpu"), rspread(k, "cpu"), rmed(k, "us"), rmed(k, "sirq"), rmed(k, "client"),
					xu, xn, xs, sp, xm, nr, xo, xos, xom > tsv
			if (same != "") {
				rows++
				if (xs > 1) worse++
				if (xs - sp > 1) worse_beyond++
				if (xm > 0 && xm + msp < 1) slower_beyond++
				if (s == "nginx-ours" && (p[3] == "1m" || p[3] == "64m")) {
					big++
					if (xs > 0 && xs <= 1 && xu > 0 && xu < 1) big_met++
					bigs = bigs sprintf(" %s/%s/%s/x%s %.2fx in-tree %.2fx user;", toupper(p[1]), p[2], sizelabel(p[3]), p[4], xs, xu)
				}
			}
		}
	}
	printf "\nColumns: CPU s/GiB = busy time of CPU 0, the only CPU the server runs on (its processes, the softirq work done there, kernel threads there), per GiB of file bytes served; u+s = utime + stime of the server's processes per GiB (also counts time its vCPU was preempted on the host); sirq = softirq time on CPU 0 per GiB (part of CPU s/GiB); xNgxUser, xNgxInTr = CPU s/GiB over nginx with userspace records / with the in-tree kTLS; xInTree = ours over the same server on the in-tree kTLS, +- half the range of the per-round ratios; MB/s x = the same for MB/s. Medians of the rounds; +-%% = half their range over the median.%s\n", hsdrows ? " ktls-serve hsd + ours = ktls-serve --workers 1 --handshaked, the handshakes by one ktls-handshaked process (both on CPU 0; u+s counts ktls-serve's process tree and the daemon), the records through ours; xOurs = its CPU s/GiB over ktls-serve + ours' (+- half the range of the per-round ratios), MB/s the same for MB/s." : ""
	if (nhg) {
		printf "\nHandshakes: each connection loops connect, full handshake (no resumption), one GET of a 16 KiB file, close, for the measured seconds; ktls-serve --workers 1, the module ours\n\n"
		printf "%-22s %-17s %-3s %5s %8s %5s %9s %5s %9s %7s %7s %5s %7s %5s\n",
			"server", "cipher", "tls", "conns", "hs/s", "+-%", "CPU ms/hs", "+-%", "u+s ms/hs", "sirq",
			"hs/s x", "+-", "CPU x", "+-"
		if (hstsv != "")
			print "# server\tcipher\ttls\tconns\ths_per_s\ths_spread_pct\tcpu_ms_per_hs\tcpu_spread_pct\tutime_stime_ms_per_hs\tsoftirq_ms_per_hs\tx_hs_serve_ours\tx_hs_spread\tx_cpu_serve_ours\tx_cpu_spread\truns" > hstsv
		for (gi = 1; gi <= nhg; gi++) {
			g = hgorder[gi]
			split(g, p, SUBSEP)
			printf "\n"
			for (si = 1; si <= nsrv; si++) {
				s = srv[si]
				k = s SUBSEP g
				if (!(k in hpresent) && !(k in hfailed))
					continue
				printf "%-22s %-17s %-3s %5s", label[s], toupper(p[1]), p[2], p[3]
				if (!(k in hpresent)) {
					printf "  failed: %s\n", hfailed[k]
					continue
				}
				xh = xhs = xc = xcs = 0
				if (s == "serve-hsd") {
					xh = ratio(k, "serve-ours" SUBSEP g, "hps")
					xhs = rs_spread
					xc = ratio(k, "serve-ours" SUBSEP g, "cpu")
					xcs = rs_spread
				}
				printf " %8.1f %5.1f %9.2f %5.1f %9.2f %7.2f", rmed(k, "hps"), rspread(k, "hps"),
					rmed(k, "cpu"), rspread(k, "cpu"), rmed(k, "us"), rmed(k, "sirq")
				if (xh > 0) printf " %6.2fx %5.2f", xh, xhs; else printf " %7s %5s", "-", "-"
				if (xc > 0) printf " %6.2fx %5.2f", xc, xcs; else printf " %7s %5s", "-", "-"
				printf "\n"
				if (hstsv != "")
					printf "%s\t%s\t%s\t%s\t%.2f\t%.1f\t%.3f\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\n",
						s, p[1], p[2], p[3], rmed(k, "hps"), rspread(k, "hps"), rmed(k, "cpu"),
						rspread(k, "cpu"), rmed(k, "us"), rmed(k, "sirq"), xh, xhs, xc, xcs,
						rounds(k, "cpu", tmp) > hstsv
			}
		}
		printf "\nColumns (handshakes): hs/s = handshakes (each with its GET) per second of wall time; CPU ms/hs = busy time of CPU 0 (ktls-serve, ktls-handshaked for the hsd rows, softirq and kernel threads there) per handshake; u+s ms/hs = utime + stime of the server's processes (ktls-serve's tree, plus ktls-handshaked for the hsd rows) per handshake; sirq = softirq ms of CPU 0 per handshake; hs/s x, CPU x = hsd over ktls-serve + ours, medians of the per-round ratios, +- half their range. Medians of the rounds; +-%% = half their range over the median.\n"
	}
	printf "\nTargets (HTTPS):\n"
	printf "  never below the in-tree kTLS: ours uses more CPU per GiB than the in-tree kTLS under the same server on %d of %d rows, %d of them by more than the spread of the rounds; MB/s below it beyond the spread on %d%s\n", worse, rows, worse_beyond, slower_beyond, rows && !worse_beyond && !slower_beyond ? "  (met)" : rows ? "  (NOT met)" : ""
	if (big)
		printf "  nginx + ours: CPU/GiB <= nginx + in-tree and < nginx-userspace on the 1M and 64M rows: %d of %d rows%s\n   %s\n", big_met, big, big_met == big ? "  (met)" : "  (NOT met)", bigs
}
