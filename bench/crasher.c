/* The program both supervisors restart in bench/restart-latency: it records when it started and
   when it is about to crash, so the gap between one crash and the next start is the restart
   latency. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void stamp(const char *path, char kind) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[64];
    int n = snprintf(line, sizeof line, "%c %lld\n", kind, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd >= 0) {
        ssize_t ignored = write(fd, line, (size_t)n);
        (void)ignored;
        close(fd);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: crasher STAMP_FILE RUN_MS\n");
        return 2;
    }
    stamp(argv[1], 'S');
    usleep((useconds_t)atoi(argv[2]) * 1000);
    stamp(argv[1], 'E');
    return 1;
}
