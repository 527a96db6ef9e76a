/* cli_progress.c - a progress bar for long commands (import, later warmup).
 *
 * Promises: counters are plain atomics the workers bump for free; when
 * stderr is a terminal a thread redraws one line at most 10 times a second
 * (items, bytes, MiB/s, ETA when totals are known) and erases it on stop;
 * when stderr is not a terminal nothing is drawn and no thread runs.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "io.h"

#define CLI_PROGRESS_PERIOD_NS 100000000L   /* 10 redraws a second at most */

static int cli_progress_width(void)
{
    struct winsize ws;

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return ws.ws_col;
    return 80;
}

static void cli_progress_eta(double secs, char *buf, size_t cap)
{
    if (secs < 0 || secs > 99 * 3600.0) {
        snprintf(buf, cap, "--:--");
        return;
    }
    unsigned s = (unsigned)(secs + 0.5);
    if (s >= 3600)
        snprintf(buf, cap, "%u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, cap, "%u:%02u", s / 60, s % 60);
}

static void cli_progress_draw(struct cli_progress *p)
{
    uint64_t items = atomic_load(&p->items), bytes = atomic_load(&p->bytes);
    double el = cli_mono_s() - p->start, mib = bytes / 1048576.0;
    double rate = el > 0 ? mib / el : 0, frac = -1, eta = -1;
    char text[256], eta_s[32], line[512];

    if (p->bytes_total) {
        frac = (double)bytes / p->bytes_total;
        eta = rate > 0 ? (p->bytes_total - (double)bytes) / 1048576.0 / rate : -1;
    } else if (p->items_total) {
        frac = (double)items / p->items_total;
        eta = items ? el * (p->items_total - (double)items) / items : -1;
    }
    cli_progress_eta(eta, eta_s, sizeof eta_s);
    if (p->items_total)
        snprintf(text, sizeof text, " %llu/%llu %s  %.1f/%.1f MiB  %.1f MiB/s  ETA %s",
                 (unsigned long long)items, (unsigned long long)p->items_total, p->label,
                 mib, p->bytes_total / 1048576.0, rate, eta_s);
    else
        snprintf(text, sizeof text, " %llu %s  %.1f MiB  %.1f MiB/s",
                 (unsigned long long)items, p->label, mib, rate);

    int width = cli_progress_width() - 1, tlen = (int)strlen(text);
    int bar = width - tlen - 2;
    if (frac < 0 || bar < 10) {
        snprintf(line, sizeof line, "\r%.*s\033[K", width, text);
    } else {
        if (bar > 40)
            bar = 40;
        if (frac > 1)
            frac = 1;
        int fill = (int)(frac * bar);
        char b[64];
        for (int i = 0; i < bar; i++)
            b[i] = i < fill ? '#' : '.';
        b[bar] = '\0';
        snprintf(line, sizeof line, "\r[%s]%s\033[K", b, text);
    }
    if (io_write_all(STDERR_FILENO, line, strlen(line)) < 0)
        p->tty = 0;
}

static void *cli_progress_main(void *arg)
{
    struct cli_progress *p = arg;
    struct timespec ts;

    pthread_mutex_lock(&p->lock);
    while (p->running && p->tty) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += CLI_PROGRESS_PERIOD_NS;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->wake, &p->lock, &ts);
        if (p->running)
            cli_progress_draw(p);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void cli_progress_start(struct cli_progress *p, const char *label,
                        uint64_t items_total, uint64_t bytes_total)
{
    assert(p && label);
    p->label = label;
    atomic_store(&p->items, 0);
    atomic_store(&p->bytes, 0);
    p->items_total = items_total;
    p->bytes_total = bytes_total;
    p->start = cli_mono_s();
    p->tty = isatty(STDERR_FILENO);
    p->running = 0;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (p->tty && pthread_create(&p->thread, NULL, cli_progress_main, p) == 0)
        p->running = 1;
}

void cli_progress_stop(struct cli_progress *p)
{
    assert(p);
    if (p->running) {
        pthread_mutex_lock(&p->lock);
        p->running = 0;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        if (p->tty)
            io_write_all(STDERR_FILENO, "\r\033[K", 4);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
}
