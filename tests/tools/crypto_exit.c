/* crypto_exit.c - a host program that exits while its threads use
 * libcrypto, for tests/integration/test_exit_crypto.sh.
 *
 *   crypto_exit FILE [THREADS]
 *
 * Writes FILE (a volume path under the shim: the engine connects to
 * PostgreSQL, whose SCRAM login is often the process's first use of
 * libcrypto), starts THREADS threads hashing with SHA-256 without pause,
 * and calls exit(0) from main while they run. That is what a host program
 * does when it exits while the engine's background threads (prefetch,
 * uploads, the session heartbeat) sign an S3 request or log in: if
 * libcrypto's exit-time cleanup is registered, it frees the library's
 * locks under those threads and the program dies of SIGSEGV in
 * pthread_rwlock_rdlock(NULL) instead of exiting 0. That crash is a race;
 * so that one run tells, an exit handler registered before anything else
 * (hence run after libcrypto's own) asks libcrypto whether it was cleaned
 * up, and exits 3 if it was.
 * Exits 0; 2 when FILE cannot be written; 3 when libcrypto's exit-time
 * cleanup ran.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int started;

static void check_not_cleaned_up(void)
{
    /* After OPENSSL_cleanup the library refuses to initialise again. */
    if (!OPENSSL_init_crypto(0, NULL)) {
        static const char msg[] = "crypto_exit: libcrypto's exit-time cleanup ran\n";
        if (write(2, msg, sizeof msg - 1) < 0)
            _exit(3);
        _exit(3);
    }
}

static void *hash_forever(void *arg)
{
    (void)arg;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len;
    __atomic_add_fetch(&started, 1, __ATOMIC_RELEASE);
    for (;;) {
        EVP_MD *sha = EVP_MD_fetch(NULL, "SHA256", NULL);
        EVP_Digest("shimfs", 6, md, &len, sha ? sha : EVP_sha256(), NULL);
        EVP_MD_free(sha);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: crypto_exit FILE [THREADS]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    atexit(check_not_cleaned_up);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "exit\n", 5) != 5 || close(fd) < 0) {
        perror(argv[1]);
        return 2;
    }
    for (int i = 0; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, hash_forever, NULL) != 0)
            return 2;
    }
    while (__atomic_load_n(&started, __ATOMIC_ACQUIRE) < threads)
        usleep(1000);
    struct timespec ts = { 0, 5 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    exit(0);
}
