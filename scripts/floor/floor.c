// The kernel's floor for the lab's two costs, with nothing but the system calls the lab cannot avoid:
//   ramp:     the client connects from an explicit source address and port and writes one GET; the server accepts,
//             adds the socket to epoll and reads the GET;
//   delivery: the server writes a ~180-byte answer to every held connection, the client reads it and writes the
//             next GET, the server reads that GET (one "broadcast" round).
// One server and one client process (each under the 20,000-fd limit); scripts/floor/run.sh starts many pairs at once
// to reach the lab's scale. Each side prints its CPU (user+sys) per connection and per delivery.
//
//   floor server LISTEN_IP PORT CONNS ROUNDS
//   floor client SRC_IP[,SRC_IP...] DST_IP PORT CONNS ROUNDS FIRST_SRC_PORT
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define INFLIGHT 512 // connects in progress at once, like flood's default window
#define BATCH 512    // events per epoll_wait

static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 64\r\nX-Seq: 1796376818332889113\r\n"
                           "X-Pub-Time: 1796376818332889113\r\nX-Kind: broadcast\r\n\r\n"
                           "0123456789012345678901234567890123456789012345678901234567890123";
static const char req[] = "GET /sub?id=c0-12345&since=1796376818332889112 HTTP/1.1\r\nHost: 10.77.0.1:8000\r\n\r\n";

static double cpu(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}
static void die(const char *what) {
  fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
  exit(1);
}
static struct sockaddr_in addr(const char *ip, int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
    fprintf(stderr, "floor: %s is not an IPv4 address\n", ip);
    exit(2);
  }
  return a;
}

static int server(const char *ip, int port, long conns, int rounds) {
  struct sockaddr_in a = addr(ip, port);
  int one = 1, ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (void *)&a, sizeof a) || listen(ls, 65535)) die("listen");
  int ep = epoll_create1(0);
  struct epoll_event e = {.events = EPOLLIN, .data.fd = -1}, ev[BATCH];
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &e);
  int *fds = malloc(conns * sizeof(int));
  long accepted = 0, reqs = 0;
  char buf[4096];
  double c0 = 0, t0 = 0;
  while (reqs < conns) {
    int n = epoll_wait(ep, ev, BATCH, 60000);
    if (n <= 0) die("ramp: epoll_wait timed out");
    for (int j = 0; j < n; j++) {
      if (ev[j].data.fd < 0) {
        int fd;
        while (accepted < conns && (fd = accept4(ls, 0, 0, SOCK_NONBLOCK)) >= 0) {
          if (!accepted) c0 = cpu(), t0 = now();
          fds[accepted++] = fd;
          struct epoll_event ce = {.events = EPOLLIN | EPOLLET, .data.fd = fd};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
        }
      } else if (read(ev[j].data.fd, buf, sizeof buf) > 0) {
        reqs++;
      }
    }
  }
  double ramp_cpu = cpu() - c0, ramp_wall = now() - t0;
  usleep(200000); // let the client's last writes settle before the first round
  double ws = 0, rs = 0, tw = now();
  long back = 0;
  for (int r = 0; r < rounds; r++) {
    double c1 = cpu();
    for (long i = 0; i < conns; i++) write(fds[i], resp, sizeof resp - 1);
    ws += cpu() - c1;
    c1 = cpu();
    while (back < conns * (r + 1)) {
      int n = epoll_wait(ep, ev, BATCH, 60000);
      if (n <= 0) die("delivery: epoll_wait timed out");
      for (int j = 0; j < n; j++)
        while (read(ev[j].data.fd, buf, sizeof buf) > 0) back++;
    }
    rs += cpu() - c1;
  }
  double d = (double)conns * rounds;
  printf("server ramp %ld conns %.2f s %.2f us/conn; delivery %d rounds %.2f s write %.2f + read %.2f = %.2f us/delivery\n",
         conns, ramp_wall, ramp_cpu / conns * 1e6, rounds, now() - tw, ws / d * 1e6, rs / d * 1e6, (ws + rs) / d * 1e6);
  return 0;
}

static int client(char *srcs, const char *dst, int port, long conns, int rounds, int first_port) {
  struct sockaddr_in to = addr(dst, port), from[64];
  int nsrc = 0;
  for (char *s = strtok(srcs, ","); s && nsrc < 64; s = strtok(0, ",")) from[nsrc++] = addr(s, 0);
  int ep = epoll_create1(0), one = 1;
  struct epoll_event ev[BATCH];
  char *established = calloc(conns + 32, 1), buf[4096];
  long next = 0, open = 0, inflight = 0, got = 0;
  double c0 = cpu(), t0 = now(), ramp_cpu = 0, ramp_wall = 0, c1 = 0;
  while (open < conns || got < conns * rounds) {
    while (next < conns && inflight < INFLIGHT) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      if (fd < 0) die("socket");
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      struct sockaddr_in s = from[next % nsrc];
      s.sin_port = htons(first_port + next / nsrc);
      if (bind(fd, (void *)&s, sizeof s)) die("bind");
      if (connect(fd, (void *)&to, sizeof to) && errno != EINPROGRESS) die("connect");
      struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = fd};
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
      next++, inflight++;
    }
    int n = epoll_wait(ep, ev, BATCH, 60000);
    if (n <= 0) die("epoll_wait timed out");
    for (int j = 0; j < n; j++) {
      int fd = ev[j].data.fd;
      if (!established[fd]) {
        if (!(ev[j].events & EPOLLOUT)) continue;
        if (write(fd, req, sizeof req - 1) != sizeof req - 1) die("connect or first GET");
        established[fd] = 1, inflight--;
        if (++open == conns) ramp_cpu = cpu() - c0, ramp_wall = now() - t0, c1 = cpu();
      } else if ((ev[j].events & EPOLLIN) && read(fd, buf, sizeof buf) > 0) {
        got++;
        write(fd, req, sizeof req - 1);
      }
    }
  }
  double d = (double)conns * rounds;
  printf("client ramp %ld conns %.2f s %.2f us/conn; delivery %.2f us/delivery\n", conns, ramp_wall,
         ramp_cpu / conns * 1e6, (cpu() - c1) / d * 1e6);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 6 && !strcmp(argv[1], "server")) return server(argv[2], atoi(argv[3]), atol(argv[4]), atoi(argv[5]));
  if (argc == 8 && !strcmp(argv[1], "client"))
    return client(argv[2], argv[3], atoi(argv[4]), atol(argv[5]), atoi(argv[6]), atoi(argv[7]));
  fprintf(stderr, "usage: floor server LISTEN_IP PORT CONNS ROUNDS\n"
                  "       floor client SRC_IP[,SRC_IP...] DST_IP PORT CONNS ROUNDS FIRST_SRC_PORT\n");
  return 2;
}
