// The workloads scripts/bench.sh times: an open/close loop and a fork+exec
// loop. Prints the elapsed nanoseconds per iteration.
//   bench_loop open DIR N     open(O_WRONLY|O_CREAT)+close of one file in DIR, N times
//   bench_loop exec N         fork + exec /bin/true + wait, N times
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_loop open DIR N | exec N\n");
        return 2;
    }
    auto t0 = std::chrono::steady_clock::now();
    long n = 0;
    if (strcmp(argv[1], "open") == 0 && argc == 4) {
        std::string path = std::string(argv[2]) + "/bench-file";
        n = atol(argv[3]);
        for (long i = 0; i < n; ++i) {
            int fd = open(path.c_str(), O_WRONLY | O_CREAT, 0600);
            if (fd < 0) return 1;
            close(fd);
        }
    } else if (strcmp(argv[1], "exec") == 0) {
        n = atol(argv[2]);
        for (long i = 0; i < n; ++i) {
            pid_t pid = fork();
            if (pid == 0) {
                execl("/bin/true", "true", nullptr);
                _exit(127);
            }
            int status;
            waitpid(pid, &status, 0);
        }
    } else {
        fprintf(stderr, "usage: bench_loop open DIR N | exec N\n");
        return 2;
    }
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    printf("%.1f\n", static_cast<double>(ns) / static_cast<double>(n));
    return 0;
}
