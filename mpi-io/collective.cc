// Collective transfers: two-phase I/O through the file's aggregators (mpi-io/README.md).
//
// The accessed range of all ranks, [min, max), is cut into one file domain per aggregator,
// aligned to striping_unit; each aggregator handles its domain in windows of
// cb_buffer_size bytes, one window per round. In a round every rank sends the pieces of
// its access that fall in each aggregator's window (offsets and lengths, then the bytes)
// with MPI_Alltoallv; the aggregator assembles the window in rank order (so overlapping
// writes resolve as if the ranks wrote one after the other, which also satisfies atomic
// mode) and writes each covered run once. Reads mirror it: the aggregator reads the span of
// the requested pieces of its window in one call and sends each rank its pieces back with
// how much of each lay before the end of the file.
#include <algorithm>
#include <cstring>
#include <thread>

#include "mpi-io/cvfs_file.h"

namespace cvfs::mpiio {
namespace {

struct Piece {
  int64_t offset = 0;  // in the file
  int64_t length = 0;
  int64_t stream = 0;  // position in this rank's contiguous data
};

struct Plan {
  bool empty = true;
  int64_t base = 0;    // aligned start of domain 0
  int64_t domain = 0;  // bytes per domain
  int64_t window = 0;  // bytes per round
  int64_t rounds = 0;
  int aggregators = 0;
  // This rank's pieces, per round, per aggregator index.
  std::vector<std::vector<std::vector<Piece>>> pieces;
};

int MakePlan(CvfsFile* f, const std::vector<Segment>& segments, Plan* plan) {
  int64_t local[2] = {INT64_MAX, INT64_MIN};  // min offset, -max end
  for (const Segment& s : segments) {
    local[0] = std::min(local[0], s.offset);
    local[1] = std::max(local[1], s.offset + s.length);
  }
  local[1] = local[1] == INT64_MIN ? INT64_MAX : -local[1];
  int64_t global[2];
  if (int rc = MPI_Allreduce(local, global, 2, MPI_INT64_T, MPI_MIN, f->comm); rc != MPI_SUCCESS) {
    return rc;
  }
  const int64_t lo = global[0];
  const int64_t hi = global[1] == INT64_MAX ? INT64_MIN : -global[1];
  if (lo >= hi) return MPI_SUCCESS;
  plan->empty = false;
  const int64_t unit = std::max<int64_t>(1, f->hints.striping_unit);
  plan->aggregators = static_cast<int>(f->aggregators.size());
  plan->base = lo / unit * unit;
  const int64_t span = hi - plan->base;
  const int64_t per = (span + plan->aggregators - 1) / plan->aggregators;
  plan->domain = (per + unit - 1) / unit * unit;
  plan->window = std::min(std::max<int64_t>(1, f->hints.cb_buffer_size), plan->domain);
  plan->rounds = (plan->domain + plan->window - 1) / plan->window;
  plan->pieces.assign(plan->rounds, std::vector<std::vector<Piece>>(plan->aggregators));
  int64_t stream = 0;
  for (const Segment& s : segments) {
    int64_t at = s.offset;
    const int64_t end = s.offset + s.length;
    while (at < end) {
      const int64_t rel = at - plan->base;
      const int a = static_cast<int>(rel / plan->domain);
      const int64_t r = (rel % plan->domain) / plan->window;
      const int64_t window_end = plan->base + a * plan->domain + (r + 1) * plan->window;
      const int64_t n = std::min(end, window_end) - at;
      plan->pieces[r][a].push_back({at, n, stream + (at - s.offset)});
      at += n;
    }
    stream += s.length;
  }
  return MPI_SUCCESS;
}

// What each rank sent this one in an exchange: everything in rank order, and where each
// rank's part starts and how long it is.
template <typename T>
struct Received {
  std::vector<T> data;
  std::vector<int> counts, displs;
};

// Sends send[r] to rank r (counts first, then MPI_Alltoallv of `type` elements).
template <typename T>
int Exchange(MPI_Comm comm, MPI_Datatype type, const std::vector<std::vector<T>>& send,
             Received<T>* out) {
  const int n = static_cast<int>(send.size());
  std::vector<int> send_counts(n), send_displs(n);
  out->counts.assign(n, 0);
  out->displs.assign(n, 0);
  std::vector<T> flat;
  for (int r = 0; r < n; ++r) {
    send_counts[r] = static_cast<int>(send[r].size());
    send_displs[r] = static_cast<int>(flat.size());
    flat.insert(flat.end(), send[r].begin(), send[r].end());
  }
  int rc = MPI_Alltoall(send_counts.data(), 1, MPI_INT, out->counts.data(), 1, MPI_INT, comm);
  if (rc != MPI_SUCCESS) return rc;
  int total = 0;
  for (int r = 0; r < n; ++r) {
    out->displs[r] = total;
    total += out->counts[r];
  }
  out->data.assign(total, T{});
  return MPI_Alltoallv(flat.data(), send_counts.data(), send_displs.data(), type, out->data.data(),
                       out->counts.data(), out->displs.data(), type, comm);
}

int AgreeOnError(MPI_Comm comm, int rc) {
  int worst = rc;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, comm);
  return worst;
}

bool UseTwoPhase(const std::string& hint) { return hint != "disable"; }

bool IsAggregator(const CvfsFile* f) {
  return std::find(f->aggregators.begin(), f->aggregators.end(), f->rank) != f->aggregators.end();
}

// Writes the covered runs of one assembled window.
int WriteRuns(CvfsFile* f, const std::vector<char>& window, int64_t lo,
              const std::vector<std::pair<int64_t, int64_t>>& runs) {
  for (const auto& [start, end] : runs) {
    int64_t at = start;
    while (at < end) {
      const ssize_t n =
          cvfs_pwrite(f->fs, f->fd, window.data() + (at - lo), static_cast<size_t>(end - at), at);
      if (n < 0) return ErrorClassOf(static_cast<int>(n));
      at += n;
    }
  }
  return MPI_SUCCESS;
}

int TwoPhaseWrite(CvfsFile* f, const std::vector<Segment>& segments, const char* data) {
  Plan plan;
  if (int rc = MakePlan(f, segments, &plan); rc != MPI_SUCCESS) return rc;
  if (plan.empty) return MPI_SUCCESS;
  int failure = MPI_SUCCESS;
  // An aggregator writes window r on a thread while round r + 1 is exchanged: two window
  // buffers, at most one write in flight.
  std::vector<char> windows[2];
  std::thread writer;
  int written = MPI_SUCCESS;  // the writer's result, read after join
  auto join = [&] {
    if (writer.joinable()) {
      writer.join();
      if (failure == MPI_SUCCESS) failure = written;
    }
  };
  for (int64_t round = 0; round < plan.rounds; ++round) {
    // What goes to each aggregator, built straight into one send buffer.
    std::vector<std::vector<int64_t>> meta(f->size);
    std::vector<int64_t> send_bytes(f->size, 0);
    for (int a = 0; a < plan.aggregators; ++a) {
      const int to = f->aggregators[a];
      for (const Piece& p : plan.pieces[round][a]) {
        meta[to].push_back(p.offset);
        meta[to].push_back(p.length);
        send_bytes[to] += p.length;
      }
    }
    std::vector<std::vector<char>> bytes(f->size);
    for (int a = 0; a < plan.aggregators; ++a) {
      const int to = f->aggregators[a];
      bytes[to].resize(static_cast<size_t>(send_bytes[to]));
      size_t at = 0;
      for (const Piece& p : plan.pieces[round][a]) {
        std::memcpy(bytes[to].data() + at, data + p.stream, static_cast<size_t>(p.length));
        at += p.length;
      }
    }
    Received<int64_t> got_meta;
    Received<char> got_bytes;
    if (int rc = Exchange(f->comm, MPI_INT64_T, meta, &got_meta); rc != MPI_SUCCESS) {
      join();
      return rc;
    }
    if (int rc = Exchange(f->comm, MPI_BYTE, bytes, &got_bytes); rc != MPI_SUCCESS) {
      join();
      return rc;
    }
    const std::vector<int64_t>& pieces = got_meta.data;
    if (pieces.empty() || failure != MPI_SUCCESS) continue;
    // This rank aggregates: assemble its window in rank order, then write covered runs.
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < pieces.size(); i += 2) {
      lo = std::min(lo, pieces[i]);
      hi = std::max(hi, pieces[i] + pieces[i + 1]);
    }
    std::vector<char>& window = windows[round % 2];  // its last writer was joined a round ago
    window.resize(static_cast<size_t>(hi - lo));
    std::vector<std::pair<int64_t, int64_t>> covered;
    size_t m = 0;
    for (int r = 0; r < f->size; ++r) {
      int64_t from = got_bytes.displs[r];
      for (int k = 0; k < got_meta.counts[r]; k += 2, m += 2) {
        const int64_t off = pieces[m], len = pieces[m + 1];
        std::memcpy(window.data() + (off - lo), got_bytes.data.data() + from,
                    static_cast<size_t>(len));
        covered.emplace_back(off, off + len);
        from += len;
      }
    }
    std::sort(covered.begin(), covered.end());
    std::vector<std::pair<int64_t, int64_t>> runs;
    for (const auto& c : covered) {
      if (!runs.empty() && c.first <= runs.back().second) {
        runs.back().second = std::max(runs.back().second, c.second);
      } else {
        runs.push_back(c);
      }
    }
    join();
    if (failure != MPI_SUCCESS) continue;
    writer = std::thread([f, &window, lo, runs = std::move(runs), &written] {
      written = WriteRuns(f, window, lo, runs);
    });
  }
  join();
  // Aggregators commit the size they wrote, so every rank sees it once the call returns
  // (as a local file system shows it at once).
  if (failure == MPI_SUCCESS && IsAggregator(f)) {
    const int rc = cvfs_fsync(f->fs, f->fd);
    if (rc != 0) failure = ErrorClassOf(rc);
  }
  return AgreeOnError(f->comm, failure);
}

int TwoPhaseRead(CvfsFile* f, const std::vector<Segment>& segments, char* data, int64_t total,
                 int64_t* bytes) {
  Plan plan;
  *bytes = 0;
  if (int rc = MakePlan(f, segments, &plan); rc != MPI_SUCCESS) return rc;
  if (plan.empty) return MPI_SUCCESS;
  int failure = MPI_SUCCESS;
  // Valid bytes of each of this rank's pieces, by stream position.
  std::vector<std::pair<int64_t, std::pair<int64_t, int64_t>>> valid;  // stream, (len, valid)
  for (int64_t round = 0; round < plan.rounds; ++round) {
    std::vector<std::vector<int64_t>> requests(f->size);
    for (int a = 0; a < plan.aggregators; ++a) {
      for (const Piece& p : plan.pieces[round][a]) {
        requests[f->aggregators[a]].push_back(p.offset);
        requests[f->aggregators[a]].push_back(p.length);
      }
    }
    Received<int64_t> got_requests;
    if (int rc = Exchange(f->comm, MPI_INT64_T, requests, &got_requests); rc != MPI_SUCCESS) {
      return rc;
    }
    // As an aggregator: read the span of what was asked, answer each rank.
    std::vector<std::vector<int64_t>> lengths(f->size);
    std::vector<std::vector<char>> answers(f->size);
    const std::vector<int64_t>& asked = got_requests.data;
    if (!asked.empty()) {
      int64_t lo = INT64_MAX, hi = INT64_MIN;
      for (size_t i = 0; i < asked.size(); i += 2) {
        lo = std::min(lo, asked[i]);
        hi = std::max(hi, asked[i] + asked[i + 1]);
      }
      std::vector<char> window(static_cast<size_t>(hi - lo));
      int64_t have = 0;  // bytes of the span before the end of the file
      while (lo + have < hi && failure == MPI_SUCCESS) {
        const ssize_t n = cvfs_pread(f->fs, f->fd, window.data() + have,
                                     static_cast<size_t>(hi - lo - have), lo + have);
        if (n < 0) failure = ErrorClassOf(static_cast<int>(n));
        if (n <= 0) break;
        have += n;
      }
      size_t m = 0;
      for (int r = 0; r < f->size; ++r) {
        for (int k = 0; k < got_requests.counts[r]; k += 2, m += 2) {
          const int64_t off = asked[m], len = asked[m + 1];
          const int64_t ok = std::clamp<int64_t>(lo + have - off, 0, len);
          lengths[r].push_back(ok);
          answers[r].insert(answers[r].end(), window.data() + (off - lo),
                            window.data() + (off - lo) + ok);
        }
      }
    }
    Received<int64_t> got_lengths;
    Received<char> got_bytes;
    if (int rc = Exchange(f->comm, MPI_INT64_T, lengths, &got_lengths); rc != MPI_SUCCESS) {
      return rc;
    }
    if (int rc = Exchange(f->comm, MPI_BYTE, answers, &got_bytes); rc != MPI_SUCCESS) {
      return rc;
    }
    // Place the answers: from aggregator a, in the order this rank asked.
    for (int a = 0; a < plan.aggregators; ++a) {
      const int from_rank = f->aggregators[a];
      size_t li = static_cast<size_t>(got_lengths.displs[from_rank]);
      int64_t from = got_bytes.displs[from_rank];
      for (const Piece& p : plan.pieces[round][a]) {
        const int64_t ok = got_lengths.data[li++];
        std::memcpy(data + p.stream, got_bytes.data.data() + from, static_cast<size_t>(ok));
        from += ok;
        valid.push_back({p.stream, {p.length, ok}});
      }
    }
  }
  failure = AgreeOnError(f->comm, failure);
  std::sort(valid.begin(), valid.end());
  int64_t done = 0;
  for (const auto& [stream, lv] : valid) {
    if (stream != done) break;  // a gap cannot happen; be safe
    done += lv.second;
    if (lv.second < lv.first) break;
  }
  *bytes = std::min(done, total);
  return failure;
}

}  // namespace

int WriteViewAll(CvfsFile* f, int64_t pos, const void* buf, int64_t count, MPI_Datatype type,
                 int64_t* bytes) {
  *bytes = 0;
  int rc = MPI_SUCCESS;
  if ((f->amode & MPI_MODE_RDONLY) != 0) rc = MPI_ERR_READ_ONLY;
  if (count < 0) rc = MPI_ERR_COUNT;
  FlatType mem;
  if (rc == MPI_SUCCESS) rc = Flatten(type, &mem);
  // Every rank must take part in the exchange even when its own arguments are bad.
  std::vector<Segment> segments;
  std::vector<char> storage;
  const char* data = nullptr;
  int64_t total = 0;
  if (rc == MPI_SUCCESS) {
    total = mem.size * count;
    const char* base = static_cast<const char*>(buf);
    if (mem.dense()) {
      data = base + mem.lb;
    } else {
      storage.resize(static_cast<size_t>(total));
      Gather(mem, count, base, storage.data());
      data = storage.data();
    }
    f->view.Map(pos, total, &segments);
  }
  if (!UseTwoPhase(f->hints.cb_write)) {
    if (rc != MPI_SUCCESS) return rc;
    return WriteView(f, pos, buf, count, type, bytes);
  }
  const int exchange = TwoPhaseWrite(f, segments, data);
  if (rc != MPI_SUCCESS) return rc;
  if (exchange != MPI_SUCCESS) return exchange;
  *bytes = total;
  return MPI_SUCCESS;
}

int ReadViewAll(CvfsFile* f, int64_t pos, void* buf, int64_t count, MPI_Datatype type,
                int64_t* bytes) {
  *bytes = 0;
  int rc = MPI_SUCCESS;
  if ((f->amode & MPI_MODE_WRONLY) != 0) rc = MPI_ERR_ACCESS;
  if (count < 0) rc = MPI_ERR_COUNT;
  FlatType mem;
  if (rc == MPI_SUCCESS) rc = Flatten(type, &mem);
  std::vector<Segment> segments;
  int64_t total = 0;
  if (rc == MPI_SUCCESS) {
    total = mem.size * count;
    f->view.Map(pos, total, &segments);
  }
  if (!UseTwoPhase(f->hints.cb_read)) {
    if (rc != MPI_SUCCESS) return rc;
    return ReadView(f, pos, buf, count, type, bytes);
  }
  // A dense buffer receives the pieces in place; any other is filled from a packed copy.
  char* base = static_cast<char*>(buf);
  const bool in_place = rc == MPI_SUCCESS && mem.dense();
  std::vector<char> storage(in_place ? 0 : static_cast<size_t>(total));
  int64_t got = 0;
  const int exchange =
      TwoPhaseRead(f, segments, in_place ? base + mem.lb : storage.data(), total, &got);
  if (rc != MPI_SUCCESS) return rc;
  if (!in_place) Scatter(mem, count, storage.data(), got, base);
  *bytes = got;
  return exchange;
}

}  // namespace cvfs::mpiio
