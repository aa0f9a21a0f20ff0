// rtpblast: tiny paced RTP-like UDP load generator + sink (sendmmsg / recvmmsg).
//
// One process = one "peer": a single UDP socket bound to LOCAL_IP:LOCAL_PORT.
//  * senders (SENDERS threads, default 1, all on the one socket; thread t sends the streams
//    i with i % SENDERS == t): N streams, round-robin, aggregate RATE pps for SECS seconds,
//    stream i -> DST_IP:port[i] (ports from PORTFILE, one per line; or DST_PORT for all).
//    More than one sender lets the generator use more than one CPU: the kernel's send path
//    and the receiver's softirq are charged to the sending thread (~9 us per packet here).
//    Packet = 12-byte RTP header (V=2, PT=0, seq, ts, SSRC = TX_SSRC_BASE + i) + 160-byte payload
//    whose first 4 bytes carry the 32-bit per-stream sequence number and the next 8 the
//    CLOCK_MONOTONIC send time in ns (one clock for all namespaces of the box).
//  * receiver (thread): recvmmsg on the same socket from launch until START + SECS + TAIL,
//    counts per stream (SSRC - RX_SSRC_BASE), sequence gaps, reordering, and one-way
//    latency (send time -> recvmmsg return) in a 1 us histogram up to 2 s: p50/p99/p999/max.
// Prints one line of key=value results.  Bounded: SECS <= 60, RATE <= 2,000,000, N <= 20000.
// From drawbridge's lab (lab/rtpblast/rtpblast.c), plus the latency stamp and
// min_stream_rx (fewest packets any stream delivered: 0 = a stream starved) and
// streams_under_half (streams that delivered less than half of the best stream: unfairness).
//
//   rtpblast LOCAL_IP LOCAL_PORT DST_IP PORTFILE|:DST_PORT N RATE SECS START_EPOCH_MS
//            TX_SSRC_BASE RX_SSRC_BASE [TAIL_S=2] [CPU=-1] [SENDERS=1]
//   (RATE=0: receive only)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PKT 172
#define BATCH 256

static int sock, nstreams;
static double t_start, t_stop_rx;
static uint32_t rx_base;
static uint64_t *rx_cnt;
static int64_t *rx_max; // highest payload seq seen, -1 = none
static uint64_t rx_total, rx_reorder, rx_foreign;
static double rx_first, rx_last;
#define HIST_US 2000000 // latency histogram: 1 us buckets up to 2 s (overload queues), then one overflow bucket
static uint32_t hist[HIST_US + 1];
static uint64_t lat_max_ns;

static uint64_t mono_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }
static double pct(uint64_t total, double q) { // latency percentile in us
  if (!total) return 0;
  uint64_t want = (uint64_t)(q * total), acc = 0;
  for (int i = 0; i <= HIST_US; i++) { acc += hist[i]; if (acc > want) return i; }
  return HIST_US;
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_REALTIME, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void *rx_thread(void *arg) {
  (void)arg;
  static char bufs[BATCH][2048];
  struct mmsghdr m[BATCH]; struct iovec iov[BATCH];
  memset(m, 0, sizeof m);
  for (int i = 0; i < BATCH; i++) { iov[i].iov_base = bufs[i]; iov[i].iov_len = 2048; m[i].msg_hdr.msg_iov = &iov[i]; m[i].msg_hdr.msg_iovlen = 1; }
  while (now() < t_stop_rx) {
    int n = recvmmsg(sock, m, BATCH, MSG_WAITFORONE, NULL);
    if (n <= 0) continue; // SO_RCVTIMEO wakes us up
    double t = now();
    uint64_t tn = mono_ns();
    if (!rx_total) rx_first = t;
    rx_last = t;
    for (int k = 0; k < n; k++) {
      unsigned char *p = (unsigned char *)bufs[k];
      if (m[k].msg_len < 24) { rx_foreign++; continue; }
      uint32_t ssrc = ntohl(*(uint32_t *)(p + 8));
      uint32_t idx = ssrc - rx_base;
      if (idx >= (uint32_t)nstreams) { rx_foreign++; continue; }
      int64_t seq = ntohl(*(uint32_t *)(p + 12));
      uint64_t sent_ns; memcpy(&sent_ns, p + 16, 8);
      uint64_t lat = tn > sent_ns ? tn - sent_ns : 0;
      if (lat > lat_max_ns) lat_max_ns = lat;
      hist[lat / 1000 < HIST_US ? lat / 1000 : HIST_US]++;
      rx_total++; rx_cnt[idx]++;
      if (seq < rx_max[idx]) rx_reorder++; else rx_max[idx] = seq;
    }
  }
  return NULL;
}

#define MAX_SENDERS 4
static struct sockaddr_in *da;
static double tx_rate, tx_secs, tx_start;
static uint32_t tx_base;

struct sender { int t, nt; uint64_t sent, errs, calls; double t0, t1; };

// One sender: the streams i = t, t + nt, t + 2 nt, ... at their share of the rate.
static void *tx_thread(void *arg) {
  struct sender *me = arg;
  int mine = (nstreams - me->t + me->nt - 1) / me->nt; // streams of this thread
  if (mine <= 0) return NULL;
  double rate = tx_rate * mine / nstreams;
  unsigned char (*pk)[PKT] = malloc((size_t)BATCH * PKT);
  struct mmsghdr *m = calloc(BATCH, sizeof *m); struct iovec *iov = calloc(BATCH, sizeof *iov);
  memset(pk, 0xff, (size_t)BATCH * PKT);
  for (int i = 0; i < BATCH; i++) { iov[i].iov_base = pk[i]; iov[i].iov_len = PKT; m[i].msg_hdr.msg_iov = &iov[i]; m[i].msg_hdr.msg_iovlen = 1; m[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in); }
  uint64_t sent = 0;
  while (now() < tx_start) usleep(1000);
  double t0 = now();
  for (;;) {
    double t = now(), el = t - t0;
    if (el >= tx_secs) break;
    uint64_t due = (uint64_t)(el * rate);
    if (due <= sent) { struct timespec ts = {0, 50000}; nanosleep(&ts, 0); continue; }
    int n = due - sent > BATCH ? BATCH : (int)(due - sent);
    uint64_t tn = mono_ns();
    for (int k = 0; k < n; k++) {
      uint64_t c = sent + k; int i = me->t + (int)(c % mine) * me->nt; uint32_t s = c / mine;
      unsigned char *p = pk[k];
      p[0] = 0x80; p[1] = 0; *(uint16_t *)(p + 2) = htons((uint16_t)s); *(uint32_t *)(p + 4) = htonl(s * 160);
      *(uint32_t *)(p + 8) = htonl(tx_base + i); *(uint32_t *)(p + 12) = htonl(s);
      memcpy(p + 16, &tn, 8);
      m[k].msg_hdr.msg_name = &da[i];
    }
    int off = 0;
    while (off < n) {
      int r = sendmmsg(sock, m + off, n - off, 0); me->calls++;
      if (r < 0) { me->errs++; off++; continue; } // count as attempted
      off += r;
    }
    sent += n;
  }
  me->sent = sent; me->t0 = t0; me->t1 = now();
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 11) { fprintf(stderr, "usage: see source header\n"); return 2; }
  const char *lip = argv[1]; int lport = atoi(argv[2]); const char *dip = argv[3]; const char *pf = argv[4];
  nstreams = atoi(argv[5]); double rate = atof(argv[6]); double secs = atof(argv[7]);
  double start = atof(argv[8]) / 1000.0;
  uint32_t tx_base_arg = strtoul(argv[9], 0, 0); rx_base = strtoul(argv[10], 0, 0);
  double tail = argc > 11 ? atof(argv[11]) : 2.0; int cpu = argc > 12 ? atoi(argv[12]) : -1;
  int senders = argc > 13 ? atoi(argv[13]) : 1;
  if (nstreams < 1 || nstreams > 20000 || rate < 0 || rate > 2e6 || secs <= 0 || secs > 60 || tail > 10 || senders < 1 || senders > MAX_SENDERS) { fprintf(stderr, "out of bounds\n"); return 2; }
  if (cpu >= 0) { cpu_set_t cs; CPU_ZERO(&cs); CPU_SET(cpu, &cs); sched_setaffinity(0, sizeof cs, &cs); }

  uint16_t *ports = calloc(nstreams, 2);
  if (pf[0] == ':') { for (int i = 0; i < nstreams; i++) ports[i] = atoi(pf + 1); }
  else {
    FILE *f = fopen(pf, "r"); if (!f) { perror(pf); return 1; }
    for (int i = 0; i < nstreams; i++) { int p; if (fscanf(f, "%d", &p) != 1) { fprintf(stderr, "portfile short\n"); return 1; } ports[i] = p; }
    fclose(f);
  }
  sock = socket(AF_INET, SOCK_DGRAM, 0);
  int sz = 64 << 20; setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz); setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz);
  struct timeval tv = {0, 200000}; setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(lport)}; inet_pton(AF_INET, lip, &la.sin_addr);
  if (bind(sock, (void *)&la, sizeof la)) { perror("bind"); return 1; }

  rx_cnt = calloc(nstreams, 8); rx_max = malloc(nstreams * 8);
  for (int i = 0; i < nstreams; i++) rx_max[i] = -1;
  t_start = start; t_stop_rx = start + secs + tail;
  pthread_t th; pthread_create(&th, NULL, rx_thread, NULL);

  // senders
  da = calloc(nstreams, sizeof *da);
  for (int i = 0; i < nstreams; i++) { da[i].sin_family = AF_INET; da[i].sin_port = htons(ports[i]); inet_pton(AF_INET, dip, &da[i].sin_addr); }
  tx_rate = rate; tx_secs = secs; tx_start = start; tx_base = tx_base_arg;
  struct sender sd[MAX_SENDERS];
  pthread_t sth[MAX_SENDERS];
  double t0 = 0, t1 = 0;
  uint64_t sent = 0, errs = 0, calls = 0;
  if (rate > 0) {
    for (int t = 0; t < senders; t++) { memset(&sd[t], 0, sizeof sd[t]); sd[t].t = t; sd[t].nt = senders; pthread_create(&sth[t], NULL, tx_thread, &sd[t]); }
    for (int t = 0; t < senders; t++) {
      pthread_join(sth[t], NULL);
      sent += sd[t].sent; errs += sd[t].errs; calls += sd[t].calls;
      if (t == 0 || sd[t].t0 < t0) t0 = sd[t].t0;
      if (sd[t].t1 > t1) t1 = sd[t].t1;
    }
  }
  pthread_join(th, NULL);
  uint64_t exp = 0, seen = 0, gapstreams = 0, minrx = UINT64_MAX, maxrx = 0, starved = 0;
  for (int i = 0; i < nstreams; i++) if (rx_cnt[i] > maxrx) maxrx = rx_cnt[i];
  for (int i = 0; i < nstreams; i++) {
    if (rx_cnt[i] * 2 < maxrx) starved++;
    if (rx_cnt[i] < minrx) minrx = rx_cnt[i];
    if (rx_max[i] >= 0) { seen++; exp += rx_max[i] + 1; if ((uint64_t)rx_max[i] + 1 > rx_cnt[i]) gapstreams++; }
  }
  double rw = rx_last - rx_first;
  struct rusage ru; getrusage(RUSAGE_SELF, &ru);
  printf("sent=%lu send_secs=%.3f send_pps=%.0f send_errs=%lu sendmmsg_calls=%lu rx=%lu rx_window_s=%.3f rx_pps=%.0f "
         "streams_seen=%lu streams_with_gaps=%lu min_stream_rx=%lu streams_under_half=%lu seq_lost=%ld reorder=%lu foreign=%lu cpu_user=%.2f cpu_sys=%.2f "
         "lat_p50_us=%.0f lat_p99_us=%.0f lat_p999_us=%.0f lat_max_us=%.0f\n",
         sent, t1 - t0, rate > 0 ? sent / (t1 - t0) : 0, errs, calls, rx_total, rw, rw > 0 ? rx_total / rw : 0,
         seen, gapstreams, minrx, starved, (long)(exp - rx_total), rx_reorder, rx_foreign,
         ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
         pct(rx_total, 0.5), pct(rx_total, 0.99), pct(rx_total, 0.999), lat_max_ns / 1e3);
  return 0;
}
