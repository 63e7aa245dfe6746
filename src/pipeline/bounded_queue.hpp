#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <stop_token>

namespace ingestd {

// A fixed-capacity FIFO between two pipeline stages. A full queue blocks the producer, which
// is how backpressure travels from the writer back to the fetcher and keeps memory flat.
// close() lets the consumer drain what is queued and then see the end.
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // False when the queue was closed or stop was requested before there was room.
  bool push(T item, std::stop_token stop) {
    std::unique_lock lock(mutex_);
    if (!not_full_.wait(lock, stop, [&] { return closed_ || items_.size() < capacity_; }))
      return false;
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }

  // Empty once the queue is closed and drained, or when stop is requested.
  std::optional<T> pop(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    if (!not_empty_.wait(lock, stop, [&] { return closed_ || !items_.empty(); }))
      return std::nullopt;
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }

  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  std::size_t capacity() const { return capacity_; }

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable_any not_empty_;
  std::condition_variable_any not_full_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace ingestd
