// SPDX-License-Identifier: GPL-2.0
/* The servers' shared process plumbing (daemon.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "daemon.h"

#define MAX_WORKERS 256

void srv_log(const char *fmt, ...)
{
	char line[1024];
	size_t n;
	va_list ap;

	n = snprintf(line, sizeof(line), "%s[%d]: ", tool_name(), getpid());
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	n = strlen(line);
	if (n == sizeof(line) - 1)
		n--;	/* cut: keep room for the newline */
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;	/* nowhere left to report it */
}

long long srv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void srv_drop_root(const char *user, const char *path)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw)
		tool_die(2, "--user: no user '%s'%s%s", user, errno ? ": " : "",
			 errno ? strerror(errno) : "");
	if (geteuid())
		tool_die(1, "--user %s: only root can change its user", user);
	if (path && chown(path, pw->pw_uid, pw->pw_gid))
		tool_die(1, "--user %s: chown %s: %s", user, path, strerror(errno));
	if (setgroups(1, &pw->pw_gid) || setgid(pw->pw_gid) || setuid(pw->pw_uid))
		tool_die(1, "--user %s: %s", user, strerror(errno));
	if (!setuid(0))
		tool_die(1, "--user %s: root could be regained", user);
}

void srv_peer_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, len, "%s:%u", a, ntohs(s4->sin_port));
	} else {
		snprintf(out, len, "?");
	}
}

static volatile sig_atomic_t got_chld, got_term;

static void on_master_signal(int sig)
{
	if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_term = 1;
}

static pid_t start(long index, void (*run)(long index))
{
	pid_t pid = fork();

	if (pid)
		return pid;
	/* The master's death ends the workers too. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(0);
	run(index);
	_exit(0);
}

void srv_supervise(long n, void (*run)(long index), void (*died)(long index))
{
	static pid_t pids[MAX_WORKERS];
	static long long started[MAX_WORKERS];
	struct sigaction sa = { .sa_handler = on_master_signal };
	sigset_t block, orig;
	int status;
	pid_t pid;
	long i;

	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (i = 0; i < n; i++) {
		pids[i] = start(i, run);
		started[i] = srv_now_ms();
		if (pids[i] < 0)
			tool_die(1, "fork: %s", strerror(errno));
	}
	for (;;) {
		while (!got_chld && !got_term)
			sigsuspend(&orig);
		if (got_term) {
			for (i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGTERM);
			while (wait(NULL) > 0 || errno == EINTR)
				;
			sigprocmask(SIG_SETMASK, &orig, NULL);
			return;
		}
		got_chld = 0;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (i = 0; i < n && pids[i] != pid; i++)
				;
			if (i == n)
				continue;
			srv_log("worker %d %s %d, starting another", (int)pid,
				WIFSIGNALED(status) ? "killed by signal" : "exited with status",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			if (died)
				died(i);
			/* One that dies at once would otherwise be restarted in a loop. */
			if (srv_now_ms() - started[i] < 1000)
				sleep(1);
			pids[i] = start(i, run);
			started[i] = srv_now_ms();
		}
	}
}
