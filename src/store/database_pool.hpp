#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "ingestd/errors.hpp"
#include "store/database.hpp"

namespace ingestd {

// A fixed set of connections shared by request handlers: each request borrows one for its
// queries. A connection a request found lost is reopened before it is lent again.
class DatabasePool {
 public:
  DatabasePool(const std::string& database_url, std::size_t size,
               std::chrono::milliseconds connect_timeout, std::stop_token stop) {
    for (std::size_t i = 0; i < size; ++i) {
      idle_.push_back({Database::connect(database_url, connect_timeout, stop), false});
    }
  }

  class Lease {
   public:
    Lease(DatabasePool& pool, std::unique_ptr<Database> store)
        : pool_(pool), store_(std::move(store)) {}
    ~Lease() { pool_.give_back(std::move(store_), lost_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Database& operator*() const { return *store_; }
    Database* operator->() const { return store_.get(); }
    // The connection failed: reopen it before the next request uses it.
    void lost() { lost_ = true; }

   private:
    DatabasePool& pool_;
    std::unique_ptr<Database> store_;
    bool lost_ = false;
  };

  // Waits up to `wait` for a free connection; TemporaryError when none came free.
  Lease acquire(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, wait, [&] { return !idle_.empty(); })) {
      throw TemporaryError("database: every connection of the pool is busy");
    }
    Idle idle = std::move(idle_.back());
    idle_.pop_back();
    lock.unlock();
    std::unique_ptr<Database> store = std::move(idle.store);
    if (idle.lost) {
      try {
        store->reconnect(std::chrono::milliseconds(1000), {});
      } catch (...) {
        give_back(std::move(store), true);
        throw;
      }
    }
    return Lease(*this, std::move(store));
  }

 private:
  void give_back(std::unique_ptr<Database> store, bool lost) {
    {
      std::lock_guard lock(mu_);
      idle_.push_back({std::move(store), lost});
    }
    cv_.notify_one();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  struct Idle {
    std::unique_ptr<Database> store;
    bool lost = false;  // reopen before lending it
  };
  std::vector<Idle> idle_;
};

}  // namespace ingestd
