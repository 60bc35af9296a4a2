/*
 * mpiio_semantics PATH_PREFIX [SCENARIO,...]
 *
 * The MPI-IO datatype and semantics suite of issue #5. One deterministic MPI program: every
 * scenario works on the file PATH_PREFIX/<scenario>.dat (PATH_PREFIX is a local directory such
 * as /tmp/x or a ConvergeFS path such as cvfs:/run-4; the directory must exist) and writes data
 * that depends on the rank and the position, so a misplaced byte changes a hash. Rank 0 prints,
 * in rank order, one line per observation ("<scenario> r<rank> <what>"): FNV-1a-64 hashes of
 * read buffers, MPI_Get_count/MPI_Get_elements of statuses ("undef" for MPI_UNDEFINED), sizes,
 * positions, byte offsets, amodes, atomicity and the error CLASS of failing calls. At the end
 * of every scenario the file is closed, rank 0 reopens it alone and prints its size and hash
 * ("<scenario> file size=... fnv=..."), so the contents are compared byte for byte.
 *
 * The same program on a local directory under Open MPI's ompio and under ROMIO
 * (--mca io romio321) prints the same stdout for 1, 2, 4 and 7 ranks; that output is the
 * reference the ConvergeFS adapter must reproduce. Files use MPI_ERRORS_RETURN; every return
 * code is checked and a failure prints its error class. Nothing implementation-specific is
 * printed (no hint values reported by MPI_File_get_info).
 *
 * Observations dropped or shaped because ompio and ROMIO (Open MPI 4.1.4, io components ompio
 * and romio321) legitimately disagree, each seen in a run of this program:
 *  - MPI_File_get_info: the hints each implementation reports are its own; only that get_info
 *    returns an info object is printed (open with hints and set_info are still exercised).
 *  - MPI_File_write_at_all through a handle opened MPI_MODE_RDONLY: with 4 ranks ompio returns
 *    success on the non-aggregator ranks (its aggregators fail with EBADF) and its collective
 *    state is broken afterwards (the next MPI_File_sync hangs). Only the independent write_at is
 *    done on a read-only handle.
 *  - Access-mode violations print "denied" for MPI_ERR_READ_ONLY and MPI_ERR_ACCESS alike: the
 *    issue allows either (both implementations return READ_ONLY for a write on a RDONLY handle
 *    and ACCESS for a read on a WRONLY one).
 *  - MPI_MODE_SEQUENTIAL: ompio accepts explicit-offset calls and get_position_shared on such a
 *    file, ROMIO refuses both (MPI_ERR_UNSUPPORTED_OPERATION); only shared-pointer writes
 *    (write_ordered, write_shared) are done on it.
 *  - A seek to a negative position: ompio MPI_ERR_OTHER, ROMIO MPI_ERR_ARG; printed as "failed".
 *  - MPI_File_preallocate: the bytes of the newly allocated region are undefined by the
 *    standard and differ (ompio copies file data into them); the scenario checks the size and
 *    the data written before, then truncates the new region away before the file grows again.
 *  - Holes between the pieces of a non-contiguous (view) write on a fresh file: ROMIO's
 *    read-modify-write fills them with garbage, ompio leaves zeros. Those scenarios first
 *    write a position-dependent background over the whole range (background()).
 *  - Statuses of zero-count collective calls: ROMIO leaves the status untouched, so such statuses
 *    are cleared (0 bytes) before the call (clear_status()).
 *  - Reads that stop at the end of the file: collective ones (read_all, read_at_all) report the
 *    whole request under ompio and what was read under ROMIO; an independent read into a
 *    non-contiguous memory type reports the whole request under ROMIO. Short reads are observed
 *    with independent calls into contiguous memory only; collective reads stay inside the file.
 *  - A non-blocking read that reaches the end of the file never completes under ompio (its
 *    aio progress resubmits the short read forever): non-blocking reads stay inside the file.
 *  - A zero-size filetype (a rank with no element of a darray) kills ROMIO with SIGFPE: every
 *    rank gets elements of every distributed type.
 *  - Shared file pointer and file size queries are made between barriers: a collective
 *    shared-pointer call or set_size may return on one rank before another's part is done.
 */
#include <mpi.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_rank, g_size;
static const char* g_prefix;
static const char* g_scn = "";
static char* g_out;
static size_t g_len, g_cap;

/* ---------------------------------------------------------------- output */

static void obs(const char* fmt, ...) {
  char line[1024];
  int n = snprintf(line, sizeof(line), "%s r%d ", g_scn, g_rank);
  va_list ap;
  va_start(ap, fmt);
  n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof(line) - 2) n = (int)sizeof(line) - 2;
  line[n++] = '\n';
  if (g_len + (size_t)n + 1 > g_cap) {
    g_cap = (g_len + (size_t)n + 1) * 2;
    g_out = realloc(g_out, g_cap);
    if (g_out == NULL) MPI_Abort(MPI_COMM_WORLD, 2);
  }
  memcpy(g_out + g_len, line, (size_t)n);
  g_len += (size_t)n;
}

/* Collective: rank 0 prints every rank's lines, in rank order. */
static void flush_obs(void) {
  int len = (int)g_len;
  int* lens = NULL;
  int* displs = NULL;
  char* all = NULL;
  if (g_rank == 0) {
    lens = calloc((size_t)g_size, sizeof(int));
    displs = calloc((size_t)g_size, sizeof(int));
  }
  MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
  int total = 0;
  if (g_rank == 0) {
    for (int i = 0; i < g_size; i++) {
      displs[i] = total;
      total += lens[i];
    }
    all = malloc((size_t)total + 1);
  }
  MPI_Gatherv(g_out, len, MPI_CHAR, all, lens, displs, MPI_CHAR, 0, MPI_COMM_WORLD);
  if (g_rank == 0) {
    fwrite(all, 1, (size_t)total, stdout);
    fflush(stdout);
    free(all);
    free(lens);
    free(displs);
  }
  g_len = 0;
}

static const char* class_name(int cls) {
  static char other[32];
  switch (cls) {
    case MPI_SUCCESS:
      return "SUCCESS";
    case MPI_ERR_ACCESS:
      return "ACCESS";
    case MPI_ERR_AMODE:
      return "AMODE";
    case MPI_ERR_ARG:
      return "ARG";
    case MPI_ERR_BAD_FILE:
      return "BAD_FILE";
    case MPI_ERR_COUNT:
      return "COUNT";
    case MPI_ERR_CONVERSION:
      return "CONVERSION";
    case MPI_ERR_DUP_DATAREP:
      return "DUP_DATAREP";
    case MPI_ERR_FILE:
      return "FILE";
    case MPI_ERR_FILE_EXISTS:
      return "FILE_EXISTS";
    case MPI_ERR_FILE_IN_USE:
      return "FILE_IN_USE";
    case MPI_ERR_INFO:
      return "INFO";
    case MPI_ERR_INFO_KEY:
      return "INFO_KEY";
    case MPI_ERR_INFO_NOKEY:
      return "INFO_NOKEY";
    case MPI_ERR_INFO_VALUE:
      return "INFO_VALUE";
    case MPI_ERR_INTERN:
      return "INTERN";
    case MPI_ERR_IO:
      return "IO";
    case MPI_ERR_NO_MEM:
      return "NO_MEM";
    case MPI_ERR_NO_SPACE:
      return "NO_SPACE";
    case MPI_ERR_NO_SUCH_FILE:
      return "NO_SUCH_FILE";
    case MPI_ERR_NOT_SAME:
      return "NOT_SAME";
    case MPI_ERR_OTHER:
      return "OTHER";
    case MPI_ERR_QUOTA:
      return "QUOTA";
    case MPI_ERR_READ_ONLY:
      return "READ_ONLY";
    case MPI_ERR_REQUEST:
      return "REQUEST";
    case MPI_ERR_TRUNCATE:
      return "TRUNCATE";
    case MPI_ERR_TYPE:
      return "TYPE";
    case MPI_ERR_UNKNOWN:
      return "UNKNOWN";
    case MPI_ERR_UNSUPPORTED_DATAREP:
      return "UNSUPPORTED_DATAREP";
    case MPI_ERR_UNSUPPORTED_OPERATION:
      return "UNSUPPORTED_OPERATION";
    default:
      snprintf(other, sizeof(other), "class%d", cls);
      return other;
  }
}

static int err_class(int rc) {
  int cls = MPI_ERR_UNKNOWN;
  if (MPI_Error_class(rc, &cls) != MPI_SUCCESS) cls = MPI_ERR_UNKNOWN;
  return cls;
}

/* Checks a return code: prints "<what> err=<CLASS>" on failure; true on success. */
static int ok(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return 1;
  obs("%s err=%s", what, class_name(err_class(rc)));
  return 0;
}

/* The class of a call that must fail, as printed. */
static const char* expect_fail(int rc) {
  if (rc == MPI_SUCCESS) return "SUCCEEDED";
  return class_name(err_class(rc));
}

/* Reading a write-only or writing a read-only handle: the standard allows either class. */
static const char* denied_class(int rc) {
  if (rc == MPI_SUCCESS) return "SUCCEEDED";
  int cls = err_class(rc);
  if (cls == MPI_ERR_READ_ONLY || cls == MPI_ERR_ACCESS) return "denied";
  return class_name(cls);
}

static uint64_t fnv(const void* p, size_t n) {
  const unsigned char* b = p;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static void fmt_count(char* out, size_t n, int c) {
  if (c == MPI_UNDEFINED)
    snprintf(out, n, "undef");
  else
    snprintf(out, n, "%d", c);
}

/* "count=<MPI_Get_count> elements=<MPI_Get_elements>" of a status, for `type`. */
static void obs_status(const char* what, MPI_Status* st, MPI_Datatype type) {
  int count = -1, elements = -1;
  char c[24], e[24];
  if (MPI_Get_count(st, type, &count) != MPI_SUCCESS) count = -2;
  if (MPI_Get_elements(st, type, &elements) != MPI_SUCCESS) elements = -2;
  fmt_count(c, sizeof(c), count);
  fmt_count(e, sizeof(e), elements);
  obs("%s count=%s elements=%s", what, c, e);
}

/* Zero-count collective calls: ROMIO leaves the status untouched, so every status a
 * collective call may leave alone starts as "0 bytes" (see the header). */
static void clear_status(MPI_Status* st) {
  memset(st, 0, sizeof(*st));
  MPI_Status_set_elements(st, MPI_BYTE, 0);
}

static void obs_hash(const char* what, const void* buf, size_t n) {
  obs("%s fnv=%016llx", what, (unsigned long long)fnv(buf, n));
}

/* Deterministic bytes that depend on the scenario seed, the rank and the position. */
static void fill(void* buf, size_t n, int seed, int rank) {
  unsigned char* b = buf;
  uint64_t x = 0x9E3779B97F4A7C15ULL * (uint64_t)(seed * 131 + rank + 1);
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b[i] = (unsigned char)(x >> 24);
  }
}

static void path_of(char* out, size_t n, const char* name) {
  snprintf(out, n, "%s/%s.dat", g_prefix, name);
}

static const char* amode_str(int amode) {
  static char s[256];
  s[0] = 0;
  struct {
    int flag;
    const char* name;
  } flags[] = {{MPI_MODE_RDONLY, "RDONLY"},
               {MPI_MODE_WRONLY, "WRONLY"},
               {MPI_MODE_RDWR, "RDWR"},
               {MPI_MODE_CREATE, "CREATE"},
               {MPI_MODE_EXCL, "EXCL"},
               {MPI_MODE_DELETE_ON_CLOSE, "DELETE_ON_CLOSE"},
               {MPI_MODE_UNIQUE_OPEN, "UNIQUE_OPEN"},
               {MPI_MODE_SEQUENTIAL, "SEQUENTIAL"},
               {MPI_MODE_APPEND, "APPEND"}};
  int rest = amode;
  for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
    if (amode & flags[i].flag) {
      if (s[0]) strcat(s, "|");
      strcat(s, flags[i].name);
      rest &= ~flags[i].flag;
    }
  }
  if (rest) snprintf(s + strlen(s), sizeof(s) - strlen(s), "|0x%x", rest);
  if (!s[0]) strcpy(s, "0");
  return s;
}

/* ---------------------------------------------------------------- file helpers */

/* Rank 0 removes a leftover file of an earlier run (errors ignored); everyone waits. */
static void prep(const char* name) {
  if (g_rank == 0) {
    char path[4096];
    path_of(path, sizeof(path), name);
    MPI_File_delete(path, MPI_INFO_NULL);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

/* Collective open of PATH_PREFIX/<name>.dat on MPI_COMM_WORLD. A failure prints its class;
 * the result is the same on every rank (a partial success aborts the job: continuing would
 * mismatch collectives). */
static int open_all(const char* name, int amode, MPI_Info info, MPI_File* fh) {
  char path[4096];
  path_of(path, sizeof(path), name);
  int rc = MPI_File_open(MPI_COMM_WORLD, path, amode, info, fh);
  int mine = rc == MPI_SUCCESS, all = 0, any = 0;
  if (!mine) obs("open %s err=%s", amode_str(amode), class_name(err_class(rc)));
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (all != any) {
    obs("open %s succeeded on some ranks only", amode_str(amode));
    flush_obs();
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  if (all) MPI_File_set_errhandler(*fh, MPI_ERRORS_RETURN);
  return all;
}

static void close_all(MPI_File* fh) { ok(MPI_File_close(fh), "close"); }

/* The shared pointer as every rank sees it between two barriers (a collective shared-pointer
 * call may return on one rank while another rank's part still moves the pointer). */
static void show_shared(MPI_File fh, const char* label) {
  MPI_Offset pos = -1;
  MPI_Barrier(MPI_COMM_WORLD);
  if (ok(MPI_File_get_position_shared(fh, &pos), "get_position_shared"))
    obs("shared position %s=%lld", label, (long long)pos);
  MPI_Barrier(MPI_COMM_WORLD);
}

/* sync, barrier, sync: makes every rank's writes visible to every rank (non-atomic mode). */
static void sync_barrier(MPI_File fh) {
  ok(MPI_File_sync(fh), "sync");
  MPI_Barrier(MPI_COMM_WORLD);
  ok(MPI_File_sync(fh), "sync");
}

/* Before writes through non-contiguous views, rank 0 writes a position-dependent pattern over
 * the first `len` bytes: ROMIO's read-modify-write leaves garbage in the holes between the
 * pieces of a fresh file, ompio zeros (see the header). Collective. */
static void background(MPI_File fh, long long len) {
  MPI_Status st;
  unsigned char* bg = malloc((size_t)len + 1);
  for (long long i = 0; i < len; i++) bg[i] = (unsigned char)(0xA5 ^ (i * 7));
  clear_status(&st);
  if (ok(MPI_File_write_at_all(fh, 0, bg, g_rank == 0 ? (int)len : 0, MPI_BYTE, &st),
         "write_at_all background"))
    obs_status("background", &st, MPI_BYTE);
  free(bg);
  sync_barrier(fh);
}

/* End of a scenario: prints the observations, then rank 0 reopens the file alone and prints its
 * size and the hash of its whole contents (or the error class when it cannot be opened). */
static void finish(const char* name) {
  flush_obs();
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) {
    char path[4096];
    path_of(path, sizeof(path), name);
    MPI_File fh;
    int rc = MPI_File_open(MPI_COMM_SELF, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh);
    if (rc != MPI_SUCCESS) {
      printf("%s file open err=%s\n", name, class_name(err_class(rc)));
    } else {
      MPI_File_set_errhandler(fh, MPI_ERRORS_RETURN);
      MPI_Offset size = -1;
      rc = MPI_File_get_size(fh, &size);
      if (rc != MPI_SUCCESS) {
        printf("%s file get_size err=%s\n", name, class_name(err_class(rc)));
      } else {
        unsigned char* data = malloc((size_t)size + 1);
        MPI_Offset done = 0;
        const char* problem = NULL;
        char detail[128] = "";
        while (done < size) {
          int chunk = (int)(size - done > (1 << 20) ? (1 << 20) : size - done);
          MPI_Status st;
          rc = MPI_File_read_at(fh, done, data + done, chunk, MPI_BYTE, &st);
          int got = 0;
          if (rc != MPI_SUCCESS) {
            problem = class_name(err_class(rc));
            break;
          }
          MPI_Get_count(&st, MPI_BYTE, &got);
          if (got != chunk) {
            snprintf(detail, sizeof(detail), "short read %d of %d at %lld", got, chunk,
                     (long long)done);
            problem = detail;
            break;
          }
          done += chunk;
        }
        if (problem != NULL)
          printf("%s file size=%lld read err=%s\n", name, (long long)size, problem);
        else
          printf("%s file size=%lld fnv=%016llx\n", name, (long long)size,
                 (unsigned long long)fnv(data, (size_t)size));
        free(data);
      }
      rc = MPI_File_close(&fh);
      if (rc != MPI_SUCCESS) printf("%s file close err=%s\n", name, class_name(err_class(rc)));
    }
    fflush(stdout);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

/* MPI_Test until complete (at most 120 s; then the request is freed and a timeout printed). */
static int test_loop(MPI_Request* req, MPI_Status* st, const char* what) {
  double start = MPI_Wtime();
  int flag = 0;
  while (!flag) {
    int rc = MPI_Test(req, &flag, st);
    if (!ok(rc, what)) return rc;
    if (!flag && MPI_Wtime() - start > 120) {
      obs("%s MPI_Test timeout", what);
      MPI_Request_free(req);
      return MPI_ERR_OTHER;
    }
  }
  return MPI_SUCCESS;
}

static void free_if_derived(MPI_Datatype* t) {
  int ni, na, nd, comb;
  if (MPI_Type_get_envelope(*t, &ni, &na, &nd, &comb) == MPI_SUCCESS && comb != MPI_COMBINER_NAMED)
    MPI_Type_free(t);
}

/* ---------------------------------------------------------------- scenarios */

/* Opens with every access-mode flag, get_amode, and the error classes of failing opens. */
static void scn_open_amode(void) {
  const char* name = g_scn = "open_amode";
  prep(name);
  MPI_File fh;
  int amode = 0;
  int buf[8], rbuf[8];
  MPI_Status st;
  fill(buf, sizeof(buf), 1, g_rank);

  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh)) {
    if (ok(MPI_File_get_amode(fh, &amode), "get_amode")) obs("amode=%s", amode_str(amode));
    if (ok(MPI_File_write_at(fh, g_rank * 32, buf, 8, MPI_INT, &st), "write_at"))
      obs_status("write_at", &st, MPI_INT);
    obs("read_at on WRONLY: %s", denied_class(MPI_File_read_at(fh, 0, rbuf, 1, MPI_INT, &st)));
    close_all(&fh);
  }
  if (open_all(name, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh)) {
    if (ok(MPI_File_get_amode(fh, &amode), "get_amode")) obs("amode=%s", amode_str(amode));
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_at(fh, g_rank * 32, rbuf, 8, MPI_INT, &st), "read_at")) {
      obs_status("read_at own", &st, MPI_INT);
      obs_hash("read_at own", rbuf, sizeof(rbuf));
      obs("read_at own equal=%d", memcmp(rbuf, buf, sizeof(buf)) == 0);
    }
    obs("write_at on RDONLY: %s", denied_class(MPI_File_write_at(fh, 0, buf, 1, MPI_INT, &st)));
    close_all(&fh);
  }
  if (open_all(name, MPI_MODE_RDWR, MPI_INFO_NULL, &fh)) {
    if (ok(MPI_File_get_amode(fh, &amode), "get_amode")) obs("amode=%s", amode_str(amode));
    memset(rbuf, 0, sizeof(rbuf));
    const int peer = (g_rank + 1) % g_size;
    if (ok(MPI_File_read_at(fh, peer * 32, rbuf, 8, MPI_INT, &st), "read_at")) {
      obs_status("read_at peer", &st, MPI_INT);
      obs_hash("read_at peer", rbuf, sizeof(rbuf));
    }
    close_all(&fh);
  }
  /* MPI_MODE_APPEND: both pointers start at the end of the file. */
  if (open_all(name, MPI_MODE_RDWR | MPI_MODE_APPEND, MPI_INFO_NULL, &fh)) {
    MPI_Offset pos = -1, size = -1;
    if (ok(MPI_File_get_amode(fh, &amode), "get_amode")) obs("amode=%s", amode_str(amode));
    if (ok(MPI_File_get_size(fh, &size), "get_size")) obs("size=%lld", (long long)size);
    if (ok(MPI_File_get_position(fh, &pos), "get_position"))
      obs("position at open=%lld", (long long)pos);
    show_shared(fh, "at open");
    ok(MPI_File_seek_shared(fh, 0, MPI_SEEK_END), "seek_shared end");
    show_shared(fh, "after seek end");
    int app[3] = {1000 + g_rank, 2000 + g_rank, 3000 + g_rank};
    if (ok(MPI_File_write_ordered(fh, app, 3, MPI_INT, &st), "write_ordered"))
      obs_status("write_ordered append", &st, MPI_INT);
    show_shared(fh, "after write_ordered");
    if (ok(MPI_File_seek(fh, 0, MPI_SEEK_END), "seek end") &&
        ok(MPI_File_get_position(fh, &pos), "get_position"))
      obs("position after seek end=%lld", (long long)pos);
    close_all(&fh);
  }
  /* Failing opens. */
  {
    int rc;
    char path[4096];
    path_of(path, sizeof(path), name);
    rc = MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_EXCL | MPI_MODE_RDWR,
                       MPI_INFO_NULL, &fh);
    obs("open CREATE|EXCL existing: %s", expect_fail(rc));
    if (rc == MPI_SUCCESS) close_all(&fh);
    path_of(path, sizeof(path), "open_amode_missing");
    rc = MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh);
    obs("open missing RDONLY: %s", expect_fail(rc));
    if (rc == MPI_SUCCESS) close_all(&fh);
    rc = MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_RDWR, MPI_INFO_NULL, &fh);
    obs("open missing RDWR: %s", expect_fail(rc));
    if (rc == MPI_SUCCESS) close_all(&fh);
    path_of(path, sizeof(path), name);
    const int bad[] = {MPI_MODE_RDONLY | MPI_MODE_RDWR,
                       MPI_MODE_RDONLY | MPI_MODE_WRONLY,
                       MPI_MODE_WRONLY | MPI_MODE_RDWR,
                       MPI_MODE_RDONLY | MPI_MODE_CREATE,
                       MPI_MODE_RDONLY | MPI_MODE_EXCL,
                       MPI_MODE_RDWR | MPI_MODE_SEQUENTIAL,
                       MPI_MODE_CREATE};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
      rc = MPI_File_open(MPI_COMM_WORLD, path, bad[i], MPI_INFO_NULL, &fh);
      obs("open bad amode %s: %s", amode_str(bad[i]), expect_fail(rc));
      if (rc == MPI_SUCCESS) close_all(&fh);
    }
  }
  finish(name);
}

/* MPI_MODE_UNIQUE_OPEN: plain collective writes and reads on such a file. */
static void scn_unique_open(void) {
  const char* name = g_scn = "unique_open";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  int amode;
  int buf[100], rbuf[100];
  fill(buf, sizeof(buf), 2, g_rank);
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_RDWR | MPI_MODE_UNIQUE_OPEN, MPI_INFO_NULL, &fh)) {
    if (ok(MPI_File_get_amode(fh, &amode), "get_amode")) obs("amode=%s", amode_str(amode));
    if (ok(MPI_File_write_at_all(fh, (MPI_Offset)g_rank * 400, buf, 100, MPI_INT, &st),
           "write_at_all"))
      obs_status("write_at_all", &st, MPI_INT);
    sync_barrier(fh);
    const int peer = (g_rank + g_size - 1) % g_size;
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_at_all(fh, (MPI_Offset)peer * 400, rbuf, 100, MPI_INT, &st),
           "read_at_all")) {
      obs_status("read_at_all peer", &st, MPI_INT);
      obs_hash("read_at_all peer", rbuf, sizeof(rbuf));
    }
    close_all(&fh);
  }
  finish(name);
}

/* MPI_MODE_DELETE_ON_CLOSE: the file is usable while open and gone after the close. */
static void scn_delete_on_close(void) {
  const char* name = g_scn = "delete_on_close";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  int amode;
  int buf[64], rbuf[64];
  fill(buf, sizeof(buf), 3, g_rank);
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_RDWR | MPI_MODE_DELETE_ON_CLOSE, MPI_INFO_NULL,
               &fh)) {
    if (ok(MPI_File_get_amode(fh, &amode), "get_amode")) obs("amode=%s", amode_str(amode));
    if (ok(MPI_File_write_at(fh, (MPI_Offset)g_rank * 256, buf, 64, MPI_INT, &st), "write_at"))
      obs_status("write_at", &st, MPI_INT);
    sync_barrier(fh);
    MPI_Offset size = -1;
    if (ok(MPI_File_get_size(fh, &size), "get_size")) obs("size=%lld", (long long)size);
    const int peer = (g_rank + 1) % g_size;
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_at(fh, (MPI_Offset)peer * 256, rbuf, 64, MPI_INT, &st), "read_at")) {
      obs_status("read_at peer", &st, MPI_INT);
      obs_hash("read_at peer", rbuf, sizeof(rbuf));
    }
    close_all(&fh);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  char path[4096];
  path_of(path, sizeof(path), name);
  int rc = MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh);
  obs("reopen after close: %s", expect_fail(rc));
  if (rc == MPI_SUCCESS) close_all(&fh);
  finish(name);
}

/* MPI_File_delete of an existing file, then of the missing file. */
static void scn_delete(void) {
  const char* name = g_scn = "delete";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  int buf[16];
  fill(buf, sizeof(buf), 4, g_rank);
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh)) {
    ok(MPI_File_write_at_all(fh, (MPI_Offset)g_rank * 64, buf, 16, MPI_INT, &st), "write_at_all");
    close_all(&fh);
  }
  char path[4096];
  path_of(path, sizeof(path), name);
  if (g_rank == 0) {
    int rc = MPI_File_delete(path, MPI_INFO_NULL);
    obs("delete existing: %s", rc == MPI_SUCCESS ? "ok" : class_name(err_class(rc)));
    rc = MPI_File_delete(path, MPI_INFO_NULL);
    obs("delete again: %s", expect_fail(rc));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  int rc = MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh);
  obs("open deleted: %s", expect_fail(rc));
  if (rc == MPI_SUCCESS) close_all(&fh);
  finish(name);
}

/* MPI_MODE_SEQUENTIAL: shared-pointer access only. */
static void scn_sequential(void) {
  const char* name = g_scn = "sequential";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  int amode;
  int buf[10];
  fill(buf, sizeof(buf), 5, g_rank);
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_WRONLY | MPI_MODE_SEQUENTIAL, MPI_INFO_NULL, &fh)) {
    if (ok(MPI_File_get_amode(fh, &amode), "get_amode")) obs("amode=%s", amode_str(amode));
    if (ok(MPI_File_write_ordered(fh, buf, 1 + g_rank % 3, MPI_INT, &st), "write_ordered"))
      obs_status("write_ordered", &st, MPI_INT);
    for (int r = 0; r < g_size; r++) {
      if (r == g_rank &&
          ok(MPI_File_write_shared(fh, buf, 10 - r % 4, MPI_INT, &st), "write_shared"))
        obs_status("write_shared", &st, MPI_INT);
      MPI_Barrier(MPI_COMM_WORLD);
    }
    close_all(&fh);
  }
  finish(name);
}

/* get_size, set_size (grow, shrink), preallocate (grow, never shrink), sync. */
static void scn_size(void) {
  const char* name = g_scn = "size";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  MPI_Offset size = -1;
  int buf[50];
  fill(buf, sizeof(buf), 6, g_rank);
  /* Between barriers: no rank changes the size while another one looks. */
#define SHOW_SIZE(label)                                     \
  do {                                                       \
    MPI_Barrier(MPI_COMM_WORLD);                             \
    if (ok(MPI_File_get_size(fh, &size), "get_size " label)) \
      obs("size " label "=%lld", (long long)size);           \
    MPI_Barrier(MPI_COMM_WORLD);                             \
  } while (0)
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh)) {
    SHOW_SIZE("new");
    ok(MPI_File_set_size(fh, 1000), "set_size 1000");
    SHOW_SIZE("after set_size 1000");
    if (ok(MPI_File_write_at(fh, 500 + (MPI_Offset)g_rank * 200, buf, 50, MPI_INT, &st),
           "write_at"))
      obs_status("write_at", &st, MPI_INT);
    sync_barrier(fh);
    SHOW_SIZE("after writes");
    MPI_Barrier(MPI_COMM_WORLD);
    ok(MPI_File_set_size(fh, 700), "set_size 700");
    SHOW_SIZE("after set_size 700");
    ok(MPI_File_preallocate(fh, 5000), "preallocate 5000");
    SHOW_SIZE("after preallocate 5000");
    ok(MPI_File_preallocate(fh, 10), "preallocate 10");
    SHOW_SIZE("after preallocate 10");
    ok(MPI_File_sync(fh), "sync");
    MPI_Barrier(MPI_COMM_WORLD);
    /* Preallocation leaves what was written alone; the new bytes are undefined (see the
     * header): they are cut off again before the file grows with set_size. */
    int pre[50];
    memset(pre, 0, sizeof(pre));
    if (ok(MPI_File_read_at(fh, 500, pre, 50, MPI_INT, &st), "read_at 500")) {
      obs_status("read_at 500 after preallocate", &st, MPI_INT);
      obs_hash("read_at 500 after preallocate", pre, sizeof(pre));
    }
    MPI_Barrier(MPI_COMM_WORLD);
    ok(MPI_File_set_size(fh, 700), "set_size 700 again");
    SHOW_SIZE("after set_size 700 again");
    ok(MPI_File_set_size(fh, 3001), "set_size 3001");
    SHOW_SIZE("after set_size 3001");
    int rbuf[64];
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_at(fh, 600, rbuf, 64, MPI_INT, &st), "read_at")) {
      obs_status("read_at 600", &st, MPI_INT);
      obs_hash("read_at 600", rbuf, sizeof(rbuf));
    }
    close_all(&fh);
  }
#undef SHOW_SIZE
  finish(name);
}

/* Open with hints, set_info, get_info (see the header: only that it works is printed). */
static void scn_info(void) {
  const char* name = g_scn = "info";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  MPI_Info info, got;
  MPI_Info_create(&info);
  MPI_Info_set(info, "access_style", "write_once,sequential");
  MPI_Info_set(info, "cb_buffer_size", "1048576");
  MPI_Info_set(info, "cvfs_test_hint", "42");
  int buf[32], rbuf[32];
  fill(buf, sizeof(buf), 7, g_rank);
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_RDWR, info, &fh)) {
    if (ok(MPI_File_get_info(fh, &got), "get_info")) {
      obs("get_info returned %s", got == MPI_INFO_NULL ? "MPI_INFO_NULL" : "an info");
      if (got != MPI_INFO_NULL) MPI_Info_free(&got);
    }
    MPI_Info more;
    MPI_Info_create(&more);
    MPI_Info_set(more, "collective_buffering", "true");
    MPI_Info_set(more, "cvfs_test_hint2", "x");
    ok(MPI_File_set_info(fh, more), "set_info");
    MPI_Info_free(&more);
    if (ok(MPI_File_get_info(fh, &got), "get_info")) {
      obs("get_info after set_info returned %s",
          got == MPI_INFO_NULL ? "MPI_INFO_NULL" : "an info");
      if (got != MPI_INFO_NULL) MPI_Info_free(&got);
    }
    if (ok(MPI_File_write_at_all(fh, (MPI_Offset)g_rank * 128, buf, 32, MPI_INT, &st),
           "write_at_all"))
      obs_status("write_at_all", &st, MPI_INT);
    sync_barrier(fh);
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_at_all(fh, (MPI_Offset)((g_rank + 1) % g_size) * 128, rbuf, 32, MPI_INT,
                                &st),
           "read_at_all")) {
      obs_status("read_at_all peer", &st, MPI_INT);
      obs_hash("read_at_all peer", rbuf, sizeof(rbuf));
    }
    close_all(&fh);
  }
  MPI_Info_free(&info);
  finish(name);
}

/* Explicit offsets: write_at/read_at and write_at_all/read_at_all, counts that differ per rank
 * (zero on some ranks), non-overlapping regions, reads of a neighbour's region. */
static void scn_explicit(void) {
  const char* name = g_scn = "explicit";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  enum { kMax = 3000 };
  static int buf[kMax], rbuf[kMax];
  fill(buf, sizeof(buf), 8, g_rank);
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh)) {
    /* Independent: rank r writes 100*(r+1) ints at offset 4*kMax*r. */
    const int n = 100 * (g_rank + 1);
    const MPI_Offset base = (MPI_Offset)g_rank * kMax * 4;
    if (ok(MPI_File_write_at(fh, base, buf, n, MPI_INT, &st), "write_at"))
      obs_status("write_at", &st, MPI_INT);
    /* The last int of every rank's slot, so that no read below reaches the end of the file
     * (collective short reads differ: see the header). */
    if (ok(MPI_File_write_at(fh, base + 4 * (kMax - 1), buf + 1, 1, MPI_INT, &st), "write_at"))
      obs_status("write_at last", &st, MPI_INT);
    /* Collective: count 0 on odd ranks, 1000+r on even ones, after the independent part. */
    const int m = g_rank % 2 ? 0 : 1000 + g_rank;
    clear_status(&st);
    if (ok(MPI_File_write_at_all(fh, base + 4 * 1500, buf + 7, m, MPI_INT, &st), "write_at_all"))
      obs_status("write_at_all", &st, MPI_INT);
    sync_barrier(fh);
    const int peer = (g_rank + 1) % g_size;
    const MPI_Offset pbase = (MPI_Offset)peer * kMax * 4;
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_at(fh, pbase, rbuf, 100 * (peer + 1), MPI_INT, &st), "read_at")) {
      obs_status("read_at peer", &st, MPI_INT);
      obs_hash("read_at peer", rbuf, sizeof(int) * 100 * (peer + 1));
    }
    memset(rbuf, 0, sizeof(rbuf));
    const int pm = peer % 2 ? 0 : 1000 + peer;
    clear_status(&st);
    if (ok(MPI_File_read_at_all(fh, pbase + 4 * 1500, rbuf, pm, MPI_INT, &st), "read_at_all")) {
      obs_status("read_at_all peer", &st, MPI_INT);
      obs_hash("read_at_all peer", rbuf, sizeof(int) * (size_t)pm);
    }
    /* A read across the hole between the two regions (zeros) in bytes. */
    memset(rbuf, 0xff, sizeof(rbuf));
    if (ok(MPI_File_read_at_all(fh, base + 4 * (n - 3), rbuf, 4 * 10, MPI_BYTE, &st),
           "read_at_all hole")) {
      obs_status("read_at_all hole", &st, MPI_BYTE);
      obs_hash("read_at_all hole", rbuf, 40);
    }
    close_all(&fh);
  }
  finish(name);
}

/* Individual file pointers: seek (SET, CUR, END), get_position, get_byte_offset, read/write and
 * read_all/write_all through a view with a displacement. */
static void scn_individual(void) {
  const char* name = g_scn = "individual";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  MPI_Offset pos = -1, byte = -1;
  int buf[40], rbuf[40];
  fill(buf, sizeof(buf), 9, g_rank);
#define SHOW_POS(label)                                                          \
  do {                                                                           \
    if (ok(MPI_File_get_position(fh, &pos), "get_position " label) &&            \
        ok(MPI_File_get_byte_offset(fh, pos, &byte), "get_byte_offset " label))  \
      obs("position " label "=%lld byte=%lld", (long long)pos, (long long)byte); \
  } while (0)
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh)) {
    SHOW_POS("at open");
    /* The writes below leave holes (ints 10..19 and 30..39 of each rank's 40): ompio fills
     * them from an uninitialized buffer, so the bytes there are whatever its heap held. */
    background(fh, 16 + 4LL * 40 * g_size);
    ok(MPI_File_set_view(fh, 16, MPI_INT, MPI_INT, "native", MPI_INFO_NULL), "set_view");
    SHOW_POS("after set_view");
    ok(MPI_File_seek(fh, (MPI_Offset)g_rank * 40, MPI_SEEK_SET), "seek set");
    SHOW_POS("after seek set");
    if (ok(MPI_File_write(fh, buf, 10, MPI_INT, &st), "write")) obs_status("write", &st, MPI_INT);
    SHOW_POS("after write");
    ok(MPI_File_seek(fh, -4, MPI_SEEK_CUR), "seek cur");
    SHOW_POS("after seek cur -4");
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read(fh, rbuf, 4, MPI_INT, &st), "read")) {
      obs_status("read", &st, MPI_INT);
      obs_hash("read", rbuf, 16);
    }
    SHOW_POS("after read");
    ok(MPI_File_seek(fh, 10, MPI_SEEK_CUR), "seek cur");
    if (ok(MPI_File_write_all(fh, buf + 10, 7 + g_rank % 3, MPI_INT, &st), "write_all"))
      obs_status("write_all", &st, MPI_INT);
    SHOW_POS("after write_all");
    sync_barrier(fh);
    ok(MPI_File_seek(fh, 0, MPI_SEEK_END), "seek end");
    SHOW_POS("after seek end");
    ok(MPI_File_seek(fh, -3, MPI_SEEK_END), "seek end -3");
    SHOW_POS("after seek end -3");
    const int peer = (g_rank + 1) % g_size;
    ok(MPI_File_seek(fh, (MPI_Offset)peer * 40 + 5, MPI_SEEK_SET), "seek peer");
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_all(fh, rbuf, 20, MPI_INT, &st), "read_all")) {
      obs_status("read_all peer", &st, MPI_INT);
      obs_hash("read_all peer", rbuf, 80);
    }
    SHOW_POS("after read_all");
    /* A negative resulting position is erroneous. */
    int rc = MPI_File_seek(fh, -1000000, MPI_SEEK_CUR);
    obs("seek before start: %s", rc == MPI_SUCCESS ? "SUCCEEDED" : "failed");
    close_all(&fh);
  }
#undef SHOW_POS
  finish(name);
}

/* MPI_File_iwrite_at/iread_at/iwrite/iread with MPI_Wait, MPI_Test and MPI_Waitall. */
static void scn_nonblocking(void) {
  const char* name = g_scn = "nonblocking";
  prep(name);
  MPI_File fh;
  MPI_Status st, sts[3];
  MPI_Request req, reqs[3];
  enum { kN = 256 };
  int buf[3 * kN], rbuf[3 * kN];
  fill(buf, sizeof(buf), 10, g_rank);
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh)) {
    const MPI_Offset base = (MPI_Offset)g_rank * 4 * 4 * kN;
    if (ok(MPI_File_iwrite_at(fh, base, buf, kN, MPI_INT, &req), "iwrite_at") &&
        ok(MPI_Wait(&req, &st), "wait iwrite_at"))
      obs_status("iwrite_at+wait", &st, MPI_INT);
    /* Two outstanding writes, completed by Waitall. */
    if (ok(MPI_File_iwrite_at(fh, base + 4 * kN, buf + kN, kN, MPI_INT, &reqs[0]), "iwrite_at 2") &&
        ok(MPI_File_iwrite_at(fh, base + 8 * kN, buf + 2 * kN, kN / 2, MPI_INT, &reqs[1]),
           "iwrite_at 3") &&
        ok(MPI_Waitall(2, reqs, sts), "waitall")) {
      obs_status("waitall 0", &sts[0], MPI_INT);
      obs_status("waitall 1", &sts[1], MPI_INT);
    }
    /* Individual pointer: iwrite at the fourth quarter. */
    ok(MPI_File_seek(fh, base + 12 * kN, MPI_SEEK_SET), "seek");
    if (ok(MPI_File_iwrite(fh, buf + kN / 2, kN, MPI_INT, &req), "iwrite") &&
        test_loop(&req, &st, "test iwrite") == MPI_SUCCESS)
      obs_status("iwrite+test", &st, MPI_INT);
    MPI_Offset pos = -1;
    if (ok(MPI_File_get_position(fh, &pos), "get_position"))
      obs("position after iwrite=%lld", (long long)(pos - base));
    sync_barrier(fh);
    const int peer = (g_rank + 1) % g_size;
    const MPI_Offset pbase = (MPI_Offset)peer * 4 * 4 * kN;
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_iread_at(fh, pbase, rbuf, 2 * kN, MPI_INT, &req), "iread_at") &&
        test_loop(&req, &st, "test iread_at") == MPI_SUCCESS) {
      obs_status("iread_at+test", &st, MPI_INT);
      obs_hash("iread_at+test", rbuf, sizeof(int) * 2 * kN);
    }
    ok(MPI_File_seek(fh, pbase + 8 * kN, MPI_SEEK_SET), "seek");
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_iread(fh, rbuf, 2 * kN, MPI_INT, &req), "iread") &&
        ok(MPI_Wait(&req, &st), "wait iread")) {
      obs_status("iread+wait", &st, MPI_INT);
      obs_hash("iread+wait", rbuf, sizeof(int) * 2 * kN);
    }
    if (ok(MPI_File_get_position(fh, &pos), "get_position"))
      obs("position after iread=%lld", (long long)(pos - pbase));
    close_all(&fh);
  }
  finish(name);
}

/* Split collectives: write/read _at_all, _all and _ordered _begin/_end. */
static void scn_split(void) {
  const char* name = g_scn = "split";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  enum { kN = 200 };
  int buf[kN], rbuf[kN];
  fill(buf, sizeof(buf), 11, g_rank);
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh)) {
    background(fh, (long long)g_size * (4 * kN + 40 * 4 + 4 * (g_size + 3)));
    const MPI_Offset base = (MPI_Offset)g_rank * 4 * kN;
    if (ok(MPI_File_write_at_all_begin(fh, base, buf, kN, MPI_INT), "write_at_all_begin") &&
        ok(MPI_File_write_at_all_end(fh, buf, &st), "write_at_all_end"))
      obs_status("write_at_all_end", &st, MPI_INT);
    sync_barrier(fh);
    const int peer = (g_rank + 1) % g_size;
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_at_all_begin(fh, (MPI_Offset)peer * 4 * kN, rbuf, kN, MPI_INT),
           "read_at_all_begin") &&
        ok(MPI_File_read_at_all_end(fh, rbuf, &st), "read_at_all_end")) {
      obs_status("read_at_all_end peer", &st, MPI_INT);
      obs_hash("read_at_all_end peer", rbuf, sizeof(rbuf));
    }
    /* Individual pointers through an interleaving view: 10 ints per rank per block. */
    MPI_Datatype block, ftype;
    MPI_Type_contiguous(10, MPI_INT, &block);
    MPI_Type_create_resized(block, 0, (MPI_Aint)g_size * 40, &ftype);
    MPI_Type_commit(&ftype);
    const MPI_Offset vdisp = (MPI_Offset)g_size * 4 * kN + (MPI_Offset)g_rank * 40;
    ok(MPI_File_set_view(fh, vdisp, MPI_INT, ftype, "native", MPI_INFO_NULL), "set_view");
    if (ok(MPI_File_write_all_begin(fh, buf, 35, MPI_INT), "write_all_begin") &&
        ok(MPI_File_write_all_end(fh, buf, &st), "write_all_end"))
      obs_status("write_all_end", &st, MPI_INT);
    MPI_Offset pos = -1;
    if (ok(MPI_File_get_position(fh, &pos), "get_position")) obs("position=%lld", (long long)pos);
    sync_barrier(fh);
    ok(MPI_File_seek(fh, 5, MPI_SEEK_SET), "seek");
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_all_begin(fh, rbuf, 30, MPI_INT), "read_all_begin") &&
        ok(MPI_File_read_all_end(fh, rbuf, &st), "read_all_end")) {
      obs_status("read_all_end", &st, MPI_INT);
      obs_hash("read_all_end", rbuf, 120);
      obs("read_all_end equal=%d", memcmp(rbuf, buf + 5, 120) == 0);
    }
    /* Ordered, through a plain view after everything written so far. */
    const MPI_Offset odisp = vdisp - (MPI_Offset)g_rank * 40 + (MPI_Offset)g_size * 40 * 4;
    ok(MPI_File_set_view(fh, odisp, MPI_INT, MPI_INT, "native", MPI_INFO_NULL), "set_view 2");
    if (ok(MPI_File_write_ordered_begin(fh, buf, 3 + g_rank, MPI_INT), "write_ordered_begin") &&
        ok(MPI_File_write_ordered_end(fh, buf, &st), "write_ordered_end"))
      obs_status("write_ordered_end", &st, MPI_INT);
    show_shared(fh, "after write_ordered_end");
    sync_barrier(fh);
    ok(MPI_File_seek_shared(fh, 0, MPI_SEEK_SET), "seek_shared");
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_ordered_begin(fh, rbuf, 2 + g_rank, MPI_INT), "read_ordered_begin") &&
        ok(MPI_File_read_ordered_end(fh, rbuf, &st), "read_ordered_end")) {
      obs_status("read_ordered_end", &st, MPI_INT);
      obs_hash("read_ordered_end", rbuf, sizeof(int) * (size_t)(2 + g_rank));
    }
    MPI_Type_free(&ftype);
    MPI_Type_free(&block);
    close_all(&fh);
  }
  finish(name);
}

/* Shared file pointer: write_shared/read_shared in rank order (barriers), seek_shared,
 * get_position_shared, write_ordered/read_ordered. */
static void scn_shared(void) {
  const char* name = g_scn = "shared";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  MPI_Offset pos = -1;
  int buf[64], rbuf[64];
  fill(buf, sizeof(buf), 12, g_rank);
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh)) {
    show_shared(fh, "at open");
    for (int r = 0; r < g_size; r++) {
      if (r == g_rank) {
        if (ok(MPI_File_write_shared(fh, buf, 5 + r, MPI_INT, &st), "write_shared"))
          obs_status("write_shared", &st, MPI_INT);
        if (ok(MPI_File_get_position_shared(fh, &pos), "get_position_shared"))
          obs("shared position after my write_shared=%lld", (long long)pos);
      }
      MPI_Barrier(MPI_COMM_WORLD);
    }
    if (ok(MPI_File_write_ordered(fh, buf + 10, 2 * g_rank + 1, MPI_INT, &st), "write_ordered"))
      obs_status("write_ordered", &st, MPI_INT);
    show_shared(fh, "after write_ordered");
    sync_barrier(fh);
    ok(MPI_File_seek_shared(fh, 0, MPI_SEEK_SET), "seek_shared set");
    show_shared(fh, "after seek_shared 0");
    for (int r = g_size - 1; r >= 0; r--) {
      if (r == g_rank) {
        memset(rbuf, 0, sizeof(rbuf));
        if (ok(MPI_File_read_shared(fh, rbuf, 4 + r, MPI_INT, &st), "read_shared")) {
          obs_status("read_shared", &st, MPI_INT);
          obs_hash("read_shared", rbuf, sizeof(int) * (size_t)(4 + r));
        }
      }
      MPI_Barrier(MPI_COMM_WORLD);
    }
    ok(MPI_File_seek_shared(fh, 3, MPI_SEEK_CUR), "seek_shared cur");
    show_shared(fh, "after seek_shared cur 3");
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_ordered(fh, rbuf, 3, MPI_INT, &st), "read_ordered")) {
      obs_status("read_ordered", &st, MPI_INT);
      obs_hash("read_ordered", rbuf, 12);
    }
    ok(MPI_File_seek_shared(fh, 0, MPI_SEEK_END), "seek_shared end");
    show_shared(fh, "after seek_shared end");
    /* A shared read at the end of the file: nothing. */
    if (g_rank == 0) {
      if (ok(MPI_File_read_shared(fh, rbuf, 4, MPI_INT, &st), "read_shared at end"))
        obs_status("read_shared at end", &st, MPI_INT);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    /* The individual pointer is independent of the shared one. */
    if (ok(MPI_File_get_position(fh, &pos), "get_position"))
      obs("individual position=%lld", (long long)pos);
    close_all(&fh);
  }
  finish(name);
}

/* set_atomicity/get_atomicity, and a write seen by another rank after a barrier in atomic
 * mode, after sync-barrier-sync in non-atomic mode. */
static void scn_atomicity(void) {
  const char* name = g_scn = "atomicity";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  int flag = -1;
  int buf[128], rbuf[128];
  fill(buf, sizeof(buf), 13, g_rank);
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh)) {
    if (ok(MPI_File_get_atomicity(fh, &flag), "get_atomicity")) obs("atomicity=%d", flag);
    ok(MPI_File_set_atomicity(fh, 1), "set_atomicity 1");
    if (ok(MPI_File_get_atomicity(fh, &flag), "get_atomicity")) obs("atomicity=%d", flag);
    const int peer = (g_rank + 1) % g_size;
    if (ok(MPI_File_write_at(fh, (MPI_Offset)g_rank * 512, buf, 128, MPI_INT, &st), "write_at"))
      obs_status("atomic write_at", &st, MPI_INT);
    /* A barrier alone should do in atomic mode, but Open MPI's ompio then sometimes reads
     * the peer's region before its write (a reference that flakes): sync too. */
    sync_barrier(fh);
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_at(fh, (MPI_Offset)peer * 512, rbuf, 128, MPI_INT, &st), "read_at")) {
      obs_status("atomic read_at peer", &st, MPI_INT);
      obs_hash("atomic read_at peer", rbuf, sizeof(rbuf));
    }
    /* Every read of a peer's region ends before that peer writes it again (ompio's
     * collective writes need not wait for the other ranks). */
    MPI_Barrier(MPI_COMM_WORLD);
    /* Overlapping collective writes in atomic mode would be nondeterministic: each rank
     * overwrites the middle of its own region only. */
    if (ok(MPI_File_write_at_all(fh, (MPI_Offset)g_rank * 512 + 100, buf + 64, 20, MPI_INT, &st),
           "write_at_all"))
      obs_status("atomic write_at_all", &st, MPI_INT);
    MPI_Barrier(MPI_COMM_WORLD);
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_at_all(fh, (MPI_Offset)peer * 512, rbuf, 128, MPI_INT, &st),
           "read_at_all")) {
      obs_status("atomic read_at_all peer", &st, MPI_INT);
      obs_hash("atomic read_at_all peer", rbuf, sizeof(rbuf));
    }
    MPI_Barrier(MPI_COMM_WORLD);
    ok(MPI_File_set_atomicity(fh, 0), "set_atomicity 0");
    if (ok(MPI_File_get_atomicity(fh, &flag), "get_atomicity")) obs("atomicity=%d", flag);
    if (ok(MPI_File_write_at(fh, (MPI_Offset)g_rank * 512 + 300, buf, 10, MPI_INT, &st),
           "write_at"))
      obs_status("nonatomic write_at", &st, MPI_INT);
    sync_barrier(fh);
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_at(fh, (MPI_Offset)peer * 512, rbuf, 128, MPI_INT, &st), "read_at")) {
      obs_status("nonatomic read_at peer", &st, MPI_INT);
      obs_hash("nonatomic read_at peer", rbuf, sizeof(rbuf));
    }
    close_all(&fh);
  }
  finish(name);
}

/* Error handlers on files. */
static int g_handler_calls;
static int g_handler_class;
static MPI_File g_handler_file;
static void file_handler(MPI_File* fh, int* code, ...) {
  g_handler_calls++;
  g_handler_class = err_class(*code);
  g_handler_file = *fh;
}

static void scn_errhandler(void) {
  const char* name = g_scn = "errhandler";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  MPI_Errhandler eh, got;
  int buf[16];
  fill(buf, sizeof(buf), 14, g_rank);
  if (ok(MPI_File_get_errhandler(MPI_FILE_NULL, &got), "get_errhandler FILE_NULL")) {
    obs("FILE_NULL handler is ERRORS_RETURN=%d", got == MPI_ERRORS_RETURN);
    MPI_Errhandler_free(&got);
  }
  ok(MPI_File_create_errhandler(file_handler, &eh), "create_errhandler");
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh)) {
    if (ok(MPI_File_get_errhandler(fh, &got), "get_errhandler")) {
      obs("file handler is ERRORS_RETURN=%d", got == MPI_ERRORS_RETURN);
      MPI_Errhandler_free(&got);
    }
    ok(MPI_File_set_errhandler(fh, eh), "set_errhandler");
    if (ok(MPI_File_get_errhandler(fh, &got), "get_errhandler")) {
      obs("file handler is mine=%d", got == eh);
      MPI_Errhandler_free(&got);
    }
    g_handler_calls = 0;
    g_handler_file = MPI_FILE_NULL;
    int rc = MPI_File_call_errhandler(fh, MPI_ERR_ARG);
    obs("call_errhandler rc=%s calls=%d class=%s same file=%d",
        rc == MPI_SUCCESS ? "SUCCESS" : class_name(err_class(rc)), g_handler_calls,
        class_name(g_handler_class), g_handler_file == fh);
    /* A real failure: reading a write-only file calls the handler. */
    g_handler_calls = 0;
    g_handler_file = MPI_FILE_NULL;
    int rbuf[4];
    rc = MPI_File_read_at(fh, 0, rbuf, 4, MPI_INT, &st);
    const char* denied = denied_class(rc);
    const char* in_handler =
        (g_handler_class == MPI_ERR_READ_ONLY || g_handler_class == MPI_ERR_ACCESS)
            ? "denied"
            : class_name(g_handler_class);
    obs("read_at on WRONLY rc=%s calls=%d handler class=%s same file=%d", denied, g_handler_calls,
        in_handler, g_handler_file == fh);
    g_handler_calls = 0;
    if (ok(MPI_File_write_at(fh, (MPI_Offset)g_rank * 64, buf, 16, MPI_INT, &st), "write_at"))
      obs_status("write_at", &st, MPI_INT);
    obs("successful call: calls=%d", g_handler_calls);
    ok(MPI_File_set_errhandler(fh, MPI_ERRORS_RETURN), "set_errhandler ERRORS_RETURN");
    close_all(&fh);
  }
  /* The handler of MPI_FILE_NULL serves failing opens. */
  ok(MPI_File_set_errhandler(MPI_FILE_NULL, eh), "set_errhandler FILE_NULL");
  g_handler_calls = 0;
  g_handler_file = fh;
  char path[4096];
  path_of(path, sizeof(path), "errhandler_missing");
  int rc = MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh);
  obs("open missing: %s calls=%d handler class=%s file null=%d", expect_fail(rc), g_handler_calls,
      class_name(g_handler_class), g_handler_file == MPI_FILE_NULL);
  if (rc == MPI_SUCCESS) close_all(&fh);
  ok(MPI_File_set_errhandler(MPI_FILE_NULL, MPI_ERRORS_RETURN), "restore FILE_NULL handler");
  MPI_Errhandler_free(&eh);
  finish(name);
}

/* MPI_Get_count / MPI_Get_elements of full, partial and empty reads at the end of the file. */
static void scn_status(void) {
  const char* name = g_scn = "status";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  unsigned char bytes[42];
  fill(bytes, sizeof(bytes), 15, 0);
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh)) {
    /* Rank 0 writes 42 bytes (10 ints and 2 bytes), the others nothing. */
    clear_status(&st);
    if (ok(MPI_File_write_at_all(fh, 0, bytes, g_rank == 0 ? 42 : 0, MPI_BYTE, &st),
           "write_at_all"))
      obs_status("write_at_all", &st, MPI_BYTE);
    sync_barrier(fh);
    int ibuf[16];
    memset(ibuf, 0, sizeof(ibuf));
    if (ok(MPI_File_read_at(fh, 0, ibuf, 16, MPI_INT, &st), "read_at 16 ints")) {
      obs_status("read_at 16 ints as int", &st, MPI_INT);
      obs_status("read_at 16 ints as byte", &st, MPI_BYTE);
      obs_hash("read_at 16 ints", ibuf, sizeof(ibuf));
    }
    if (ok(MPI_File_read_at(fh, 40, ibuf, 2, MPI_INT, &st), "read_at tail"))
      obs_status("read_at 40 2 ints", &st, MPI_INT);
    if (ok(MPI_File_read_at(fh, 42, ibuf, 2, MPI_INT, &st), "read_at eof"))
      obs_status("read_at at eof", &st, MPI_INT);
    if (ok(MPI_File_read_at(fh, 1000, ibuf, 2, MPI_INT, &st), "read_at past eof"))
      obs_status("read_at past eof", &st, MPI_INT);
    if (ok(MPI_File_read_at(fh, 0, ibuf, 0, MPI_INT, &st), "read_at 0"))
      obs_status("read_at count 0", &st, MPI_INT);
    /* A derived memory type {int, double} packed in 12 bytes: 3 full and a partial one. */
    unsigned char s[5 * 12];
    int bl[2] = {1, 1};
    MPI_Aint disp[2] = {0, 4};
    MPI_Datatype types[2] = {MPI_INT, MPI_DOUBLE}, loose, pair;
    MPI_Type_create_struct(2, bl, disp, types, &loose);
    MPI_Type_create_resized(loose, 0, 12, &pair);
    MPI_Type_commit(&pair);
    MPI_Type_free(&loose);
    memset(s, 0, sizeof(s));
    if (ok(MPI_File_read_at(fh, 0, s, 5, pair, &st), "read_at pair")) {
      obs_status("read_at 5 pairs", &st, pair);
      obs_hash("read_at 5 pairs", s, sizeof(s));
    }
    /* Collective reads inside the file (ROMIO's collective short reads report the whole
     * request: see the header); rank r starts at byte 2*(r%4). */
    memset(ibuf, 0, sizeof(ibuf));
    if (ok(MPI_File_read_at_all(fh, 2 * (g_rank % 4), ibuf, 8, MPI_INT, &st), "read_at_all")) {
      obs_status("read_at_all 8 ints", &st, MPI_INT);
      obs_hash("read_at_all 8 ints", ibuf, sizeof(ibuf));
    }
    /* Individual pointer: a short read moves it by what was read. */
    ok(MPI_File_seek(fh, 30, MPI_SEEK_SET), "seek");
    if (ok(MPI_File_read(fh, ibuf, 5, MPI_SHORT, &st), "read shorts")) {
      obs_status("read 5 shorts at 30", &st, MPI_SHORT);
    }
    /* A contiguous view of ints with a displacement: etype-unit offsets at the end. */
    ok(MPI_File_set_view(fh, 2, MPI_INT, MPI_INT, "native", MPI_INFO_NULL), "set_view");
    if (ok(MPI_File_read_at(fh, 9, ibuf, 3, MPI_INT, &st), "read_at view"))
      obs_status("view read_at 9", &st, MPI_INT);
    MPI_Type_free(&pair);
    close_all(&fh);
  }
  finish(name);
}

/* Non-contiguous memory types against contiguous file regions. */
static void scn_memtype(void) {
  const char* name = g_scn = "memtype";
  prep(name);
  MPI_File fh;
  MPI_Status st;
  int mem[6 * 5];
  fill(mem, sizeof(mem), 16, g_rank);
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh)) {
    background(fh, 256LL * g_size); /* the writes below leave holes in each rank's 256 bytes */
    /* vector: 4 blocks of 2 ints, stride 3. */
    MPI_Datatype vec, halo, hidx;
    MPI_Type_vector(4, 2, 3, MPI_INT, &vec);
    MPI_Type_commit(&vec);
    const MPI_Offset base = (MPI_Offset)g_rank * 256;
    if (ok(MPI_File_write_at_all(fh, base, mem, 2, vec, &st), "write_at_all vec")) {
      obs_status("write_at_all vec", &st, vec);
      obs_status("write_at_all vec as int", &st, MPI_INT);
    }
    /* subarray with a halo: the inner 4x3 of a 6x5 array. */
    int sizes[2] = {6, 5}, sub[2] = {4, 3}, starts[2] = {1, 1};
    MPI_Type_create_subarray(2, sizes, sub, starts, MPI_ORDER_C, MPI_INT, &halo);
    MPI_Type_commit(&halo);
    /* The collective write's aggregators may still be writing (ROMIO writes the holes of
     * its window back) when other ranks return: finish it before the independent write. */
    sync_barrier(fh);
    if (ok(MPI_File_write_at(fh, base + 128, mem, 1, halo, &st), "write_at halo"))
      obs_status("write_at halo as int", &st, MPI_INT);
    sync_barrier(fh);
    const int peer = (g_rank + 1) % g_size;
    int rbuf[44];
    memset(rbuf, 0, sizeof(rbuf));
    if (ok(MPI_File_read_at_all(fh, (MPI_Offset)peer * 256, rbuf, 44, MPI_INT, &st),
           "read_at_all")) {
      obs_status("read_at_all contiguous peer", &st, MPI_INT);
      obs_hash("read_at_all contiguous peer", rbuf, sizeof(rbuf));
    }
    /* Read the peer's halo write back into a halo layout. */
    int back[6 * 5];
    memset(back, 0, sizeof(back));
    if (ok(MPI_File_read_at(fh, (MPI_Offset)peer * 256 + 128, back, 1, halo, &st),
           "read_at halo")) {
      obs_status("read_at halo", &st, halo);
      obs_hash("read_at halo", back, sizeof(back));
    }
    /* hindexed memory type, reversed blocks. */
    int bl[3] = {3, 1, 2};
    MPI_Aint displs[3] = {40, 0, 16};
    MPI_Type_create_hindexed(3, bl, displs, MPI_INT, &hidx);
    MPI_Type_commit(&hidx);
    memset(back, 0, sizeof(back));
    if (ok(MPI_File_read_at(fh, (MPI_Offset)peer * 256, back, 2, hidx, &st), "read_at hidx")) {
      obs_status("read_at hindexed", &st, hidx);
      obs_hash("read_at hindexed", back, sizeof(back));
    }
    MPI_Type_free(&vec);
    MPI_Type_free(&halo);
    MPI_Type_free(&hidx);
    close_all(&fh);
  }
  finish(name);
}

/* One view: set_view (disp, etype, filetype), get_view, write_all of `tiles` filetypes,
 * positions, sync, read_all and an independent read_at one etype in, then close. The memory
 * buffer holds elements of `btype` (bsize bytes each). */
static void view_case(const char* name, MPI_Offset disp, MPI_Datatype etype, MPI_Datatype ftype,
                      MPI_Datatype btype, int bsize, int tiles) {
  g_scn = name;
  prep(name);
  MPI_File fh;
  MPI_Status st;
  int fsize = 0, esize = 0;
  MPI_Type_size(ftype, &fsize);
  MPI_Type_size(etype, &esize);
  const int count = tiles * fsize / bsize;
  const int per_etype = esize / bsize;
  const size_t nbytes = (size_t)count * (size_t)bsize;
  /* The data of `tiles` filetypes, then of the one more written at an explicit offset. */
  unsigned char* buf = malloc(nbytes + (size_t)fsize + 16);
  unsigned char* rbuf = malloc(nbytes + (size_t)fsize + 16);
  fill(buf, nbytes + (size_t)fsize, (int)fnv(name, strlen(name)) & 0xffff, g_rank);
  if (open_all(name, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh)) {
    /* Background: rank 0 first writes a position-dependent pattern over everything the views
     * will touch, so that the bytes between the pieces are defined (see the header). */
    MPI_Aint lb, ext, tlb, text;
    MPI_Type_get_extent(ftype, &lb, &ext);
    MPI_Type_get_true_extent(ftype, &tlb, &text);
    long long end = (long long)disp + (long long)tiles * ext + tlb + text + 8, max_end = 0;
    MPI_Allreduce(&end, &max_end, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    background(fh, max_end);
    if (ok(MPI_File_set_view(fh, disp, etype, ftype, "native", MPI_INFO_NULL), "set_view")) {
      MPI_Offset gdisp = -1;
      MPI_Datatype ge, gf;
      char rep[MPI_MAX_DATAREP_STRING + 1] = "";
      if (ok(MPI_File_get_view(fh, &gdisp, &ge, &gf, rep), "get_view")) {
        int ges = 0, gfs = 0;
        MPI_Aint lb, ext, flb, fext;
        MPI_Type_size(ge, &ges);
        MPI_Type_size(gf, &gfs);
        MPI_Type_get_extent(ge, &lb, &ext);
        MPI_Type_get_extent(gf, &flb, &fext);
        obs("get_view disp=%lld etype size=%d extent=%ld filetype size=%d lb=%ld extent=%ld "
            "datarep=%s",
            (long long)gdisp, ges, (long)ext, gfs, (long)flb, (long)fext, rep);
        free_if_derived(&ge);
        free_if_derived(&gf);
      }
    }
    obs("writing %d elements (%d tiles)", count, tiles);
    clear_status(&st);
    if (ok(MPI_File_write_all(fh, buf, count, btype, &st), "write_all"))
      obs_status("write_all", &st, btype);
    MPI_Offset pos = -1, byte = -1;
    if (ok(MPI_File_get_position(fh, &pos), "get_position") &&
        ok(MPI_File_get_byte_offset(fh, pos, &byte), "get_byte_offset"))
      obs("position after write_all=%lld byte=%lld", (long long)pos, (long long)byte);
    for (MPI_Offset o = 0; o < 3; o++) {
      if (ok(MPI_File_get_byte_offset(fh, o * (fsize / esize) + 1, &byte), "get_byte_offset"))
        obs("byte offset of etype %lld=%lld", (long long)(o * (fsize / esize) + 1),
            (long long)byte);
    }
    sync_barrier(fh);
    ok(MPI_File_seek(fh, 0, MPI_SEEK_SET), "seek");
    memset(rbuf, 0, nbytes);
    clear_status(&st);
    if (ok(MPI_File_read_all(fh, rbuf, count, btype, &st), "read_all")) {
      obs_status("read_all", &st, btype);
      obs_hash("read_all", rbuf, nbytes);
      obs("read_all equal=%d", memcmp(rbuf, buf, nbytes) == 0);
    }
    memset(rbuf, 0, nbytes);
    if (count > per_etype &&
        ok(MPI_File_read_at(fh, 1, rbuf, count - per_etype, btype, &st), "read_at")) {
      obs_status("read_at 1", &st, btype);
      obs("read_at 1 equal=%d", memcmp(rbuf, buf + (size_t)esize, nbytes - (size_t)esize) == 0);
    }
    /* Explicit-offset collective write of one more tile past the written ones, read back. */
    clear_status(&st);
    if (ok(MPI_File_write_at_all(fh, (MPI_Offset)tiles * (fsize / esize), buf + nbytes,
                                 fsize / bsize, btype, &st),
           "write_at_all")) {
      obs_status("write_at_all", &st, btype);
    }
    sync_barrier(fh);
    memset(rbuf, 0, (size_t)fsize);
    clear_status(&st);
    if (ok(MPI_File_read_at_all(fh, (MPI_Offset)tiles * (fsize / esize), rbuf, fsize / bsize, btype,
                                &st),
           "read_at_all")) {
      obs_status("read_at_all", &st, btype);
      obs("read_at_all equal=%d", memcmp(rbuf, buf + nbytes, (size_t)fsize) == 0);
    }
    close_all(&fh);
  }
  free(buf);
  free(rbuf);
  finish(name);
}

static void scn_views(void) {
  const int S = g_size, r = g_rank;
  MPI_Datatype t0, t1, ft;
  /* contiguous: each rank its own run of 5-int tiles (at most 3 tiles + the extra one). */
  MPI_Type_contiguous(5, MPI_INT, &ft);
  MPI_Type_commit(&ft);
  view_case("view_contiguous", 12 + (MPI_Offset)r * 5 * 4 * 5, MPI_INT, ft, MPI_INT, 4, 2 + r % 2);
  MPI_Type_free(&ft);

  /* vector: 3 blocks of 2 ints, stride 2S, resized so the tiles interleave. */
  MPI_Type_vector(3, 2, 2 * S, MPI_INT, &t0);
  MPI_Type_create_resized(t0, 0, (MPI_Aint)6 * S * 4, &ft);
  MPI_Type_commit(&ft);
  view_case("view_vector", (MPI_Offset)r * 8, MPI_INT, ft, MPI_INT, 4, 2 + r % 2);
  MPI_Type_free(&ft);
  MPI_Type_free(&t0);

  /* hvector of doubles: 4 blocks of 1, byte stride S*8. */
  MPI_Type_create_hvector(4, 1, (MPI_Aint)S * 8, MPI_DOUBLE, &t0);
  MPI_Type_create_resized(t0, 0, (MPI_Aint)4 * S * 8, &ft);
  MPI_Type_commit(&ft);
  view_case("view_hvector", (MPI_Offset)r * 8, MPI_DOUBLE, ft, MPI_DOUBLE, 8, 3 - r % 3);
  MPI_Type_free(&ft);
  MPI_Type_free(&t0);

  /* indexed: blocks {1,2,3} at {0,3,7} in a 10-int segment per rank (holes between). */
  {
    int bl[3] = {1, 2, 3}, dl[3] = {0, 3, 7};
    MPI_Type_indexed(3, bl, dl, MPI_INT, &t0);
    MPI_Type_create_resized(t0, 0, (MPI_Aint)10 * S * 4, &ft);
    MPI_Type_commit(&ft);
    view_case("view_indexed", (MPI_Offset)r * 40, MPI_INT, ft, MPI_INT, 4, 2);
    MPI_Type_free(&ft);
    MPI_Type_free(&t0);
  }
  /* hindexed: 2 ints at byte 4, 1 int at byte 20 of a 32-byte segment per rank. */
  {
    int bl[2] = {2, 1};
    MPI_Aint dl[2] = {4, 20};
    MPI_Type_create_hindexed(2, bl, dl, MPI_INT, &t0);
    MPI_Type_create_resized(t0, 0, (MPI_Aint)32 * S, &ft);
    MPI_Type_commit(&ft);
    view_case("view_hindexed", 100 + (MPI_Offset)r * 32, MPI_INT, ft, MPI_INT, 4, 3);
    MPI_Type_free(&ft);
    MPI_Type_free(&t0);
  }
  /* struct: int, double, 3 chars packed in 15 bytes of a 16-byte segment; etype MPI_BYTE. */
  {
    int bl[3] = {1, 1, 3};
    MPI_Aint dl[3] = {0, 4, 12};
    MPI_Datatype ty[3] = {MPI_INT, MPI_DOUBLE, MPI_CHAR};
    MPI_Type_create_struct(3, bl, dl, ty, &t0);
    MPI_Type_create_resized(t0, 0, (MPI_Aint)16 * S, &ft);
    MPI_Type_commit(&ft);
    view_case("view_struct", (MPI_Offset)r * 16, MPI_BYTE, ft, MPI_BYTE, 1, 2 + r % 2);
    MPI_Type_free(&ft);
    MPI_Type_free(&t0);
  }
  /* subarray: 4 rows x (3S+1) columns, rank r owns columns 3r..3r+2 (the last one unowned). */
  {
    int sizes[2] = {4, 3 * S + 1}, sub[2] = {4, 3}, starts[2] = {0, 3 * r};
    MPI_Type_create_subarray(2, sizes, sub, starts, MPI_ORDER_C, MPI_INT, &ft);
    MPI_Type_commit(&ft);
    view_case("view_subarray", 8, MPI_INT, ft, MPI_INT, 4, 1 + r % 2);
    MPI_Type_free(&ft);
  }
  /* subarray, Fortran order, 3-d. */
  {
    int sizes[3] = {2 * S, 3, 2}, sub[3] = {2, 2, 1}, starts[3] = {2 * r, 1, r % 2};
    MPI_Type_create_subarray(3, sizes, sub, starts, MPI_ORDER_FORTRAN, MPI_DOUBLE, &ft);
    MPI_Type_commit(&ft);
    view_case("view_subarray_f", 0, MPI_DOUBLE, ft, MPI_DOUBLE, 8, 2);
    MPI_Type_free(&ft);
  }
  /* darray: block rows x cyclic(2) columns over a Dims_create grid; every rank gets some
   * elements (ROMIO divides by the filetype size: a zero-size filetype kills it with SIGFPE). */
  {
    int dims[2] = {0, 0};
    MPI_Dims_create(S, 2, dims);
    int gsizes[2] = {2 * dims[0] - 1, 5 * dims[1] + 3};
    int distribs[2] = {MPI_DISTRIBUTE_BLOCK, MPI_DISTRIBUTE_CYCLIC};
    int dargs[2] = {MPI_DISTRIBUTE_DFLT_DARG, 2};
    MPI_Type_create_darray(S, r, 2, gsizes, distribs, dargs, dims, MPI_ORDER_C, MPI_INT, &ft);
    MPI_Type_commit(&ft);
    view_case("view_darray", 0, MPI_INT, ft, MPI_INT, 4, 1);
    MPI_Type_free(&ft);
  }
  /* darray, Fortran order: cyclic rows x block(4) columns, 1-d grid split the other way. */
  {
    int psizes[2] = {1, S};
    int gsizes[2] = {5, 4 * S - 1};
    int distribs[2] = {MPI_DISTRIBUTE_CYCLIC, MPI_DISTRIBUTE_BLOCK};
    int dargs[2] = {MPI_DISTRIBUTE_DFLT_DARG, 4};
    MPI_Type_create_darray(S, r, 2, gsizes, distribs, dargs, psizes, MPI_ORDER_FORTRAN, MPI_INT,
                           &ft);
    MPI_Type_commit(&ft);
    view_case("view_darray_f", 4, MPI_INT, ft, MPI_INT, 4, 1);
    MPI_Type_free(&ft);
  }
  /* resized: 2 ints per rank in a segment of 2S ints + 4 bytes (odd extent). */
  MPI_Type_contiguous(2, MPI_INT, &t0);
  MPI_Type_create_resized(t0, 0, (MPI_Aint)S * 8 + 4, &ft);
  MPI_Type_commit(&ft);
  view_case("view_resized", (MPI_Offset)r * 8, MPI_INT, ft, MPI_INT, 4, 3);
  MPI_Type_free(&ft);
  MPI_Type_free(&t0);

  /* Derived etype: a triple of ints; filetype 2 triples with stride S triples. */
  MPI_Type_contiguous(3, MPI_INT, &t1);
  MPI_Type_commit(&t1);
  MPI_Type_vector(2, 1, S, t1, &t0);
  MPI_Type_create_resized(t0, 0, (MPI_Aint)2 * S * 12, &ft);
  MPI_Type_commit(&ft);
  view_case("view_etype_contiguous", (MPI_Offset)r * 12, t1, ft, MPI_INT, 4, 2 + r % 2);
  MPI_Type_free(&ft);
  MPI_Type_free(&t0);
  MPI_Type_free(&t1);

  /* Derived etype {int, double} as a struct (12 bytes, extent 16), filetype: indexed. */
  {
    int bl[2] = {1, 1};
    MPI_Aint dl[2] = {0, 4};
    MPI_Datatype ty[2] = {MPI_INT, MPI_DOUBLE};
    MPI_Type_create_struct(2, bl, dl, ty, &t0);
    MPI_Type_create_resized(t0, 0, 12, &t1); /* packed in the file */
    MPI_Type_commit(&t1);
    MPI_Type_free(&t0);
    int ibl[2] = {2, 1}, idl[2] = {0, 3};
    MPI_Datatype idx;
    MPI_Type_indexed(2, ibl, idl, t1, &idx);
    MPI_Type_create_resized(idx, 0, (MPI_Aint)S * 4 * 12, &ft);
    MPI_Type_commit(&ft);
    view_case("view_etype_struct", (MPI_Offset)r * 48, t1, ft, MPI_BYTE, 1, 2);
    MPI_Type_free(&ft);
    MPI_Type_free(&idx);
    MPI_Type_free(&t1);
  }
}

struct scenario {
  const char* name;
  void (*run)(void);
};

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  if (argc < 2) {
    if (g_rank == 0) fprintf(stderr, "usage: mpiio_semantics PATH_PREFIX [SCENARIO,...]\n");
    MPI_Finalize();
    return 2;
  }
  g_prefix = argv[1];
  const char* only = argc > 2 ? argv[2] : NULL;
  MPI_File_set_errhandler(MPI_FILE_NULL, MPI_ERRORS_RETURN);
  const struct scenario all[] = {
      {"open_amode", scn_open_amode},
      {"unique_open", scn_unique_open},
      {"delete_on_close", scn_delete_on_close},
      {"delete", scn_delete},
      {"sequential", scn_sequential},
      {"size", scn_size},
      {"info", scn_info},
      {"explicit", scn_explicit},
      {"individual", scn_individual},
      {"nonblocking", scn_nonblocking},
      {"split", scn_split},
      {"shared", scn_shared},
      {"atomicity", scn_atomicity},
      {"errhandler", scn_errhandler},
      {"status", scn_status},
      {"memtype", scn_memtype},
      {"views", scn_views},
  };
  if (g_rank == 0) printf("mpiio_semantics ranks=%d\n", g_size);
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
    if (only != NULL) {
      /* Comma-separated list of names. */
      const char* p = strstr(only, all[i].name);
      size_t n = strlen(all[i].name);
      int hit = 0;
      while (p != NULL && !hit) {
        hit = (p == only || p[-1] == ',') && (p[n] == 0 || p[n] == ',');
        p = strstr(p + 1, all[i].name);
      }
      if (!hit) continue;
    }
    all[i].run();
  }
  if (g_rank == 0) printf("mpiio_semantics done\n");
  free(g_out);
  MPI_Finalize();
  return 0;
}
