// allocator=pool: PyTorch's CPU allocator for large blocks, backed by a pool of resident pages.
//
// AASIST's training step allocates and frees gigabytes of ~0.1-1 GB activations. glibc either returns them to
// the kernel (every step faults them in again: 2-3x slower steps) or, with the retained heap, keeps them in a
// heap that fragments (peak RSS twice the live peak). This pool keeps freed blocks' pages mapped and serves a
// request from an idle range of at least its size (split in place) or, when none is large enough, by moving
// idle ranges into one fresh virtual range with mremap (page tables move, the pages stay resident: no copy, no
// fault). New pages are faulted in only when the live bytes exceed every earlier peak, so the pool holds the
// live peak and no more, and a steady training loop faults nothing. Blocks under 1 MiB go to PyTorch's
// default allocator (glibc). Idle pages are not inherited by forked processes (DataLoader workers):
// MADV_WIPEONFORK. Linux 4.14+ only (mremap, MADV_WIPEONFORK); built on first use by runtime/allocator.py.
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

namespace {

constexpr size_t kPage = size_t{2} << 20;    // 2 MiB: a huge page, so that mremap moves page tables whole
constexpr size_t kSmallest = size_t{1} << 20;  // smaller blocks go to the default allocator
constexpr size_t kLargest = SIZE_MAX / 4;      // beyond any machine; rounding cannot overflow below it

size_t round_up(size_t n) { return (n + kPage - 1) / kPage * kPage; }

// n bytes of address space aligned to kPage, with no pages behind it (PROT_NONE); nullptr if none.
char* reserve(size_t n) {
  void* p = mmap(nullptr, n + kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  auto start = reinterpret_cast<uintptr_t>(p);
  uintptr_t aligned = (start + kPage - 1) / kPage * kPage;
  if (aligned > start) munmap(p, aligned - start);
  size_t tail = start + n + kPage - (aligned + n);
  if (tail > 0) munmap(reinterpret_cast<char*>(aligned + n), tail);
  return reinterpret_cast<char*>(aligned);
}

struct PagePool final : c10::Allocator {
  std::mutex mutex;
  std::atomic<bool> active{false};              // while false, it passes every request to the default
  std::map<char*, size_t> idle_by_address;      // idle ranges, adjacent ones merged
  std::multimap<size_t, char*> idle_by_size;    // the same ranges, for best fit
  std::unordered_map<void*, size_t> live;       // block -> its rounded size
  // Every address where one of the pool's mappings (VMAs) may begin or end: a superset of the real ones.
  // mremap moves one mapping per call on kernels before 6.17, and a failed call may already have unmapped
  // its destination, so pages are moved one mapping at a time, and a call never fails for spanning two.
  std::set<char*> edges;
  size_t live_bytes = 0, idle_bytes = 0, faulted_bytes = 0;
  c10::Allocator* fallback = c10::GetDefaultCPUAllocator();

  void forget_size(char* p, size_t n) {
    auto range = idle_by_size.equal_range(n);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == p) {
        idle_by_size.erase(it);
        return;
      }
    }
  }

  // [p, p + n) was just mapped as one mapping: edges recorded inside it are stale (unmapped before).
  void mapped_whole(char* p, size_t n) {
    edges.erase(edges.upper_bound(p), edges.lower_bound(p + n));
    edges.insert(p);
    edges.insert(p + n);
  }

  // madvise over whole ranges splits mappings at their ends: record them.
  void advise(char* p, size_t n, int advice) {
    edges.insert(p);
    edges.insert(p + n);
    madvise(p, n, advice);
  }

  void add_idle(char* p, size_t n) {
    advise(p, n, MADV_WIPEONFORK);  // a forked process gets zero pages here, not a copy-on-write share
    idle_bytes += n;
    auto next = idle_by_address.lower_bound(p);
    if (next != idle_by_address.end() && p + n == next->first) {
      forget_size(next->first, next->second);
      n += next->second;
      next = idle_by_address.erase(next);
    }
    if (next != idle_by_address.begin()) {
      auto previous = std::prev(next);
      if (previous->first + previous->second == p) {
        forget_size(previous->first, previous->second);
        p = previous->first;
        n += previous->second;
        idle_by_address.erase(previous);
      }
    }
    idle_by_address.emplace(p, n);
    idle_by_size.emplace(n, p);
  }

  // The first `used` bytes of the idle range (p, n) leave the pool; the rest stays idle.
  void take_idle(char* p, size_t n, size_t used) {
    idle_by_address.erase(p);
    forget_size(p, n);
    idle_bytes -= used;
    edges.insert(p + used);
    if (n > used) {
      idle_by_address.emplace(p + used, n - used);
      idle_by_size.emplace(n - used, p + used);
    }
  }

  // Moves the pages of [from, from + n) to `to`, one mapping per mremap call (page tables move; nothing is
  // copied or faulted in); returns the bytes moved, a prefix, and carries the edges along.
  size_t move_pages(char* from, size_t n, char* to) {
    std::vector<char*> inner(edges.upper_bound(from), edges.lower_bound(from + n));
    size_t done = 0;
    for (size_t i = 0; i <= inner.size() && done < n; ++i) {
      size_t end = i < inner.size() ? static_cast<size_t>(inner[i] - from) : n;
      if (mremap(from + done, end - done, end - done, MREMAP_MAYMOVE | MREMAP_FIXED, to + done) == MAP_FAILED) {
        break;
      }
      done = end;
    }
    for (char* edge : inner) {
      if (edge < from + done) {
        edges.erase(edge);
        edges.insert(to + (edge - from));
      }
    }
    edges.insert(to);
    edges.insert(to + done);
    edges.insert(from + done);
    return done;
  }

  // A block of n bytes; nullptr if the system has no memory for it.
  char* obtain(size_t n) {
    auto fit = idle_by_size.lower_bound(n);
    if (fit != idle_by_size.end()) {
      char* p = fit->second;
      take_idle(p, fit->first, n);
      advise(p, n, MADV_KEEPONFORK);
      return p;
    }
    char* block = reserve(n);
    if (block == nullptr) return nullptr;
    mapped_whole(block, n);
    size_t filled = 0;
    while (filled < n && !idle_by_size.empty()) {
      auto largest = std::prev(idle_by_size.end());
      char* p = largest->second;
      size_t size = largest->first, wanted = std::min(size, n - filled);
      take_idle(p, size, wanted);
      size_t moved = move_pages(p, wanted, block + filled);
      filled += moved;
      if (moved < wanted) {
        // Out of mappings or memory. The failed call may have unmapped its destination, and another thread
        // may have mapped something there since: release only what is known to be the pool's, and map the
        // block anew.
        add_idle(p + moved, wanted - moved);
        if (filled > 0) add_idle(block, filled);
        size_t unknown_end = filled + (wanted - moved);  // the destinations of the calls not made are ours
        if (unknown_end < n) munmap(block + unknown_end, n - unknown_end);
        return fresh(n);
      }
    }
    if (filled > 0) advise(block, filled, MADV_KEEPONFORK);
    if (filled < n) {
      int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
      if (mmap(block + filled, n - filled, prot, flags, -1, 0) == MAP_FAILED) {
        munmap(block, n);  // all the pool's: the moved-in pages go back to the kernel with it
        return nullptr;
      }
      faulted_bytes += n - filled;
    }
    return block;
  }

  // A block of n bytes mapped where the kernel chooses; nullptr if none.
  char* fresh(size_t n) {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    char* block = static_cast<char*>(p);
    mapped_whole(block, n);
    faulted_bytes += n;
    return block;
  }

  c10::DataPtr allocate(size_t nbytes) override {
    if (nbytes < kSmallest || nbytes > kLargest || !active) return fallback->allocate(nbytes);
    size_t n = round_up(nbytes);
    std::lock_guard<std::mutex> lock(mutex);
    char* p = obtain(n);
    TORCH_CHECK(p != nullptr, "allocator=pool: not enough memory for ", nbytes, " bytes");
    try {
      live.emplace(p, n);
    } catch (...) {
      add_idle(p, n);
      throw;
    }
    live_bytes += n;
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }

  void give_back(void* p) {
    std::unique_lock<std::mutex> lock(mutex);
    auto it = live.find(p);
    if (it == live.end()) {  // not the pool's (raw_deleter is the pool's, for raw_allocate's sake)
      lock.unlock();
      fallback->raw_deleter()(p);
      return;
    }
    size_t n = it->second;
    live.erase(it);
    live_bytes -= n;
    if (active) {
      add_idle(static_cast<char*>(p), n);
    } else {
      munmap(p, n);
    }
  }

  void release_idle() {
    for (auto& [p, n] : idle_by_address) {
      munmap(p, n);
      edges.erase(edges.upper_bound(p), edges.lower_bound(p + n));
    }
    idle_by_address.clear();
    idle_by_size.clear();
    idle_bytes = 0;
  }

  static void release(void* p);
  // Not only for the pool's blocks (the header asks that of a raw_deleter): it hands the others to the
  // default allocator's, so a block from either is freed right whichever was current at raw_allocate.
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }
};

PagePool* pool = nullptr;
void PagePool::release(void* p) { pool->give_back(p); }

PagePool* installed_pool() {
  static PagePool* instance = [] {  // once, even from concurrent first calls
    pool = new PagePool();  // never deleted: blocks it handed out may outlive any caller
    pthread_atfork([] { pool->mutex.lock(); }, [] { pool->mutex.unlock(); }, [] { pool->mutex.unlock(); });
    c10::SetCPUAllocator(pool, 0);
    return pool;
  }();
  return instance;
}

}  // namespace

// Pool large blocks (on != 0) or pass every request to PyTorch's default allocator and unmap the idle pages
// (on == 0); returns 1 when the pool is PyTorch's CPU allocator. Once installed it stays installed: a block
// taken with raw_allocate is freed with the raw_deleter of the allocator current at that time, which must be
// the pool's for the pool's blocks.
extern "C" int aasist_page_pool_enable(int on) {
  PagePool* p = installed_pool();
  std::lock_guard<std::mutex> lock(p->mutex);
  bool installed = c10::GetCPUAllocator() == p;
  p->active = on && installed;
  if (!p->active) p->release_idle();
  return installed;
}

// Unmap the idle pages now (e.g. before ONNX Runtime, which allocates outside PyTorch, needs memory).
extern "C" void aasist_page_pool_release() {
  if (pool == nullptr) return;
  std::lock_guard<std::mutex> lock(pool->mutex);
  pool->release_idle();
}

// live, idle and total faulted-in bytes of the pool's blocks.
extern "C" void aasist_page_pool_stats(uint64_t* live, uint64_t* idle, uint64_t* faulted) {
  *live = *idle = *faulted = 0;
  if (pool == nullptr) return;
  std::lock_guard<std::mutex> lock(pool->mutex);
  *live = pool->live_bytes;
  *idle = pool->idle_bytes;
  *faulted = pool->faulted_bytes;
}
