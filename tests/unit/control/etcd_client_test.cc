// EtcdClient against a real private etcd: KV, transactions, leases, watches, failover.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "control/etcd_client.h"
#include "control/keys.h"
#include "tests/unit/control/etcd_fixture.h"

namespace cvfs::control {
namespace {

using namespace std::chrono_literals;
using testing::SharedEtcd;
using testing::WaitFor;

std::string Prefix(const std::string& tag) {
  return "/cvfs-test/" + testing::UniqueCluster(tag) + "/";
}

TEST_CASE("put, get, prefix and delete round-trip binary-safe keys and values") {
  auto etcd = SharedEtcd().Client();
  const std::string p = Prefix("kv");
  const std::string value("bin\0ary\xff value", 14);
  auto rev = etcd->Put(p + "a", value);
  REQUIRE(rev.ok());
  CHECK(*rev > 0);
  REQUIRE(etcd->Put(p + "b", "2").ok());
  REQUIRE(etcd->Put(p + "c/d", "3").ok());
  REQUIRE(etcd->Put(p.substr(0, p.size() - 1) + "0", "outside").ok());  // sorts after prefix

  auto a = etcd->Get(p + "a");
  REQUIRE(a.ok());
  REQUIRE(a->kvs.size() == 1);
  CHECK(a->kvs[0].value == value);
  CHECK(a->kvs[0].create_revision == *rev);
  CHECK(a->kvs[0].mod_revision == *rev);
  CHECK(a->kvs[0].version == 1);
  CHECK(a->revision >= *rev);

  auto missing = etcd->Get(p + "zz");
  REQUIRE(missing.ok());
  CHECK(missing->kvs.empty());

  auto all = etcd->GetPrefix(p);
  REQUIRE(all.ok());
  REQUIRE(all->kvs.size() == 3);
  CHECK(all->kvs[0].key == p + "a");
  CHECK(all->kvs[2].key == p + "c/d");
  CHECK(all->count == 3);

  auto deleted = etcd->Delete(p + "a");
  REQUIRE(deleted.ok());
  CHECK(*deleted == 1);
  CHECK(*etcd->Delete(p + "a") == 0);
  auto n = etcd->DeletePrefix(p);
  REQUIRE(n.ok());
  CHECK(*n == 2);
  CHECK(etcd->GetPrefix(p)->kvs.empty());
}

TEST_CASE("transactions: KeyMissing, revision compares and both branches") {
  auto etcd = SharedEtcd().Client();
  const std::string k = Prefix("txn") + "k";
  auto first = etcd->Txn({Compare::KeyMissing(k)}, {TxnOp::Put(k, "v1")}, {TxnOp::Get(k)});
  REQUIRE(first.ok());
  CHECK(first->succeeded);
  const int64_t created = first->revision;

  auto second = etcd->Txn({Compare::KeyMissing(k)}, {TxnOp::Put(k, "v2")}, {TxnOp::Get(k)});
  REQUIRE(second.ok());
  CHECK_FALSE(second->succeeded);
  REQUIRE(second->responses.size() == 1);
  REQUIRE(second->responses[0].kvs.size() == 1);
  CHECK(second->responses[0].kvs[0].value == "v1");
  CHECK(second->responses[0].kvs[0].create_revision == created);

  // Compare failures: wrong mod revision, wrong value, wrong create revision.
  auto stale = etcd->Txn({Compare::ModRevisionIs(k, created - 1)}, {TxnOp::Put(k, "x")}, {});
  REQUIRE(stale.ok());
  CHECK_FALSE(stale->succeeded);
  CHECK(etcd->Txn({Compare::ValueIs(k, "nope")}, {TxnOp::Put(k, "x")}, {})->succeeded == false);
  CHECK(etcd->Txn({Compare::CreateRevisionIs(k, created + 100)}, {TxnOp::Put(k, "x")}, {})
            ->succeeded == false);
  CHECK(etcd->Get(k)->kvs[0].value == "v1");

  // All compares hold: both puts and a delete apply atomically.
  auto ok = etcd->Txn({Compare::ModRevisionIs(k, created), Compare::ValueIs(k, "v1"),
                       Compare::CreateRevisionIs(k, created)},
                      {TxnOp::Put(k, "v3"), TxnOp::Delete(k + "-other")}, {});
  REQUIRE(ok.ok());
  CHECK(ok->succeeded);
  REQUIRE(ok->responses.size() == 2);
  CHECK(ok->responses[1].deleted == 0);
  CHECK(etcd->Get(k)->kvs[0].value == "v3");
}

TEST_CASE("leases: grant, keepalive, keys vanish on expiry and on revoke") {
  auto etcd = SharedEtcd().Client();
  const std::string p = Prefix("lease");
  auto lease = etcd->LeaseGrant(1);
  REQUIRE(lease.ok());
  CHECK(lease->id.valid());
  CHECK(lease->ttl_seconds >= 1);
  REQUIRE(etcd->Put(p + "k", "v", lease->id).ok());
  CHECK(etcd->Get(p + "k")->kvs.at(0).lease == lease->id);

  // Kept alive for 2.5 s (> TTL): the key survives.
  for (int i = 0; i < 6; ++i) {
    auto ttl = etcd->LeaseKeepAlive(lease->id);
    REQUIRE(ttl.ok());
    CHECK(*ttl >= 1);
    std::this_thread::sleep_for(400ms);
  }
  CHECK(etcd->Get(p + "k")->kvs.size() == 1);

  // Not kept alive: etcd expires it within TTL + its ~0.5 s expiry check period.
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(WaitFor([&] { return etcd->Get(p + "k")->kvs.empty(); }, 4000ms));
  const double expiry_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("lease TTL 1 s: key gone %.2f s after the last keepalive\n", expiry_s);
  auto gone = etcd->LeaseKeepAlive(lease->id);
  CHECK(gone.status().code() == ErrorCode::kNotFound);
  CHECK(etcd->LeaseRevoke(lease->id).code() == ErrorCode::kNotFound);
  CHECK(etcd->Put(p + "k2", "v", lease->id).status().code() == ErrorCode::kNotFound);

  auto second = etcd->LeaseGrant(30);
  REQUIRE(second.ok());
  REQUIRE(etcd->Put(p + "k3", "v", second->id).ok());
  CHECK(etcd->LeaseRevoke(second->id).ok());
  CHECK(etcd->Get(p + "k3")->kvs.empty());
  CHECK(etcd->LeaseGrant(0).status().code() == ErrorCode::kInvalidArgument);
}

struct Recorder {
  std::mutex mu;
  std::vector<WatchEvent> events;
  int resyncs = 0;
  WatchCallback Callback() {
    return [this](const WatchBatch& b) {
      std::lock_guard<std::mutex> lock(mu);
      if (b.resync_required) ++resyncs;
      for (const auto& e : b.events) events.push_back(e);
    };
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return events.size();
  }
};

TEST_CASE("watch delivers puts and deletes of a prefix in order, with prev_kv") {
  auto etcd = SharedEtcd().Client();
  const std::string p = Prefix("watch");
  REQUIRE(etcd->Put(p + "before", "x").ok());
  Recorder rec;
  WatchOptions wo;
  wo.key = p;
  wo.range_end = PrefixRangeEnd(p);
  wo.prev_kv = true;
  auto watch = etcd->Watch(wo, rec.Callback());
  REQUIRE(watch.ok());
  REQUIRE(etcd->Put(p + "a", "1").ok());
  REQUIRE(etcd->Put(p + "a", "2").ok());
  REQUIRE(etcd->Put(p.substr(0, p.size() - 1) + "~", "not watched").ok());
  auto del = etcd->Delete(p + "a");
  REQUIRE(del.ok());
  REQUIRE(WaitFor([&] { return rec.size() >= 3; }, 3000ms));
  std::this_thread::sleep_for(100ms);
  std::lock_guard<std::mutex> lock(rec.mu);
  REQUIRE(rec.events.size() == 3);
  CHECK(rec.events[0].type == WatchEventType::kPut);
  CHECK(rec.events[0].kv.value == "1");
  CHECK(rec.events[1].kv.value == "2");
  REQUIRE(rec.events[1].prev_kv.has_value());
  CHECK(rec.events[1].prev_kv->value == "1");
  CHECK(rec.events[2].type == WatchEventType::kDelete);
  CHECK(rec.events[2].kv.key == p + "a");
  CHECK((*watch)->last_revision() == rec.events[2].kv.mod_revision);

  // Stop is prompt and final.
  const auto t0 = std::chrono::steady_clock::now();
  (*watch)->Stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 500ms);
}

TEST_CASE("watch from a start revision replays history; a compacted one asks for resync") {
  auto etcd = SharedEtcd().Client();
  const std::string k = Prefix("history") + "k";
  auto r1 = etcd->Put(k, "1");
  REQUIRE(r1.ok());
  REQUIRE(etcd->Put(k, "2").ok());
  Recorder replay;
  WatchOptions wo;
  wo.key = k;
  wo.start_revision = *r1;
  auto w = etcd->Watch(wo, replay.Callback());
  REQUIRE(w.ok());
  REQUIRE(WaitFor([&] { return replay.size() >= 2; }, 3000ms));
  (*w)->Stop();

  auto r3 = etcd->Put(k, "3");
  REQUIRE(r3.ok());
  REQUIRE(etcd->Call("/v3/kv/compaction", {{"revision", std::to_string(*r3)}}).ok());
  Recorder compacted;
  wo.start_revision = *r1;
  auto w2 = etcd->Watch(wo, compacted.Callback());
  REQUIRE(w2.ok());
  REQUIRE(WaitFor(
      [&] {
        std::lock_guard<std::mutex> l(compacted.mu);
        return compacted.resyncs > 0;
      },
      3000ms));
  // After the resync the watch goes on from the present.
  REQUIRE(etcd->Put(k, "4").ok());
  REQUIRE(WaitFor([&] { return compacted.size() >= 1; }, 3000ms));
  std::lock_guard<std::mutex> lock(compacted.mu);
  CHECK(compacted.events.back().kv.value == "4");
}

TEST_CASE("an unreachable endpoint fails with kUnavailable within the timeout") {
  auto port = testing::FindFreePort();
  REQUIRE(port.ok());
  EtcdOptions o;
  o.endpoints = {"http://127.0.0.1:" + std::to_string(*port)};
  o.request_timeout = 800ms;
  o.connect_timeout = 200ms;
  auto etcd = EtcdClient::Create(o);
  REQUIRE(etcd.ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = (*etcd)->Get("/x");
  CHECK(r.status().code() == ErrorCode::kUnavailable);
  CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);
  auto w = (*etcd)->Watch({.key = "/x"}, [](const WatchBatch&) {});
  CHECK(w.status().code() == ErrorCode::kUnavailable);

  // A black-hole address (TEST-NET, never routed here) hits the connect timeout.
  o.endpoints = {"http://192.0.2.1:2379"};
  auto blackhole = EtcdClient::Create(o);
  REQUIRE(blackhole.ok());
  const auto t1 = std::chrono::steady_clock::now();
  CHECK((*blackhole)->Get("/x").status().code() == ErrorCode::kUnavailable);
  CHECK(std::chrono::steady_clock::now() - t1 < 1500ms);
}

TEST_CASE("calls fail over to the second endpoint when the first is dead") {
  auto port = testing::FindFreePort();
  REQUIRE(port.ok());
  EtcdOptions o = SharedEtcd().Options();
  o.endpoints = {"http://127.0.0.1:" + std::to_string(*port), SharedEtcd().endpoint()};
  auto etcd = EtcdClient::Create(o);
  REQUIRE(etcd.ok());
  const std::string k = Prefix("failover") + "k";
  REQUIRE((*etcd)->Put(k, "v").ok());
  CHECK((*etcd)->Get(k)->kvs.at(0).value == "v");
  Recorder rec;
  auto w = (*etcd)->Watch({.key = k}, rec.Callback());
  REQUIRE(w.ok());
  REQUIRE((*etcd)->Put(k, "w").ok());
  CHECK(WaitFor([&] { return rec.size() == 1; }, 3000ms));
}

}  // namespace
}  // namespace cvfs::control
