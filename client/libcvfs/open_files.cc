#include "client/libcvfs/open_files.h"

#include <fcntl.h>

#include <algorithm>
#include <cassert>

namespace cvfs::libcvfs {

bool OpenFile::readable() const { return (flags & O_ACCMODE) != O_WRONLY; }
bool OpenFile::writable() const { return (flags & O_ACCMODE) != O_RDONLY; }
bool OpenFile::append() const { return (flags & O_APPEND) != 0; }

int OpenFiles::Insert(std::shared_ptr<OpenFile> file) {
  std::lock_guard<std::mutex> lock(mu_);
  if (open_count_ >= max_) return -1;
  auto& state = inodes_[file->inode];
  if (!state) state = std::make_shared<InodeState>();
  file->state = state;
  {
    std::lock_guard<std::mutex> state_lock(state->mu);
    state->files.push_back(file.get());
  }
  int fd = lowest_free_;
  while (fd < static_cast<int>(slots_.size()) && slots_[fd]) ++fd;
  if (fd == static_cast<int>(slots_.size())) slots_.emplace_back();
  slots_[fd] = std::move(file);
  ++open_count_;
  lowest_free_ = fd + 1;
  return fd;
}

std::shared_ptr<OpenFile> OpenFiles::Get(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fd < 0 || fd >= static_cast<int>(slots_.size())) return nullptr;
  return slots_[fd];
}

void OpenFiles::Detach(OpenFile* file) {
  // mu_ held.
  auto& state = *file->state;
  bool last = false;
  {
    std::lock_guard<std::mutex> state_lock(state.mu);
    auto it = std::find(state.files.begin(), state.files.end(), file);
    assert(it != state.files.end());
    state.files.erase(it);
    last = state.files.empty();
  }
  if (last) inodes_.erase(file->inode);
}

std::shared_ptr<OpenFile> OpenFiles::Remove(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fd < 0 || fd >= static_cast<int>(slots_.size()) || !slots_[fd]) return nullptr;
  std::shared_ptr<OpenFile> file = std::move(slots_[fd]);
  slots_[fd] = nullptr;
  --open_count_;
  lowest_free_ = std::min(lowest_free_, fd);
  Detach(file.get());
  return file;
}

std::vector<std::shared_ptr<OpenFile>> OpenFiles::RemoveAll() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<OpenFile>> out;
  for (auto& slot : slots_) {
    if (!slot) continue;
    Detach(slot.get());
    out.push_back(std::move(slot));
    slot = nullptr;
  }
  open_count_ = 0;
  lowest_free_ = 0;
  return out;
}

std::shared_ptr<InodeState> OpenFiles::Find(uint64_t inode) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = inodes_.find(inode);
  return it == inodes_.end() ? nullptr : it->second;
}

Status OpenFiles::FlushState(InodeState& state) {
  std::lock_guard<std::mutex> lock(state.mu);
  for (OpenFile* file : state.files) {
    if (file->handle == 0 || !file->dirty.exchange(false)) continue;
    Status st = fs_->Fsync(file->handle);
    if (!st.ok()) {
      file->dirty = true;
      return st;
    }
  }
  return Status::Ok();
}

Status OpenFiles::Flush(uint64_t inode) {
  auto state = Find(inode);
  return state ? FlushState(*state) : Status::Ok();
}

Status OpenFiles::FlushFile(OpenFile& file) {
  file.dirty = true;  // an fsync commits even when nothing was written (times, size)
  return FlushState(*file.state);
}

void OpenFiles::Truncated(uint64_t inode, uint64_t size) {
  auto state = Find(inode);
  if (!state) return;
  std::lock_guard<std::mutex> lock(state->mu);
  state->written_end = std::min(state->written_end, size);
}

void OpenFiles::Wrote(OpenFile& file, uint64_t end) {
  file.dirty = true;
  std::lock_guard<std::mutex> lock(file.state->mu);
  file.state->written_end = std::max(file.state->written_end, end);
}

uint64_t OpenFiles::WrittenEnd(uint64_t inode) {
  auto state = Find(inode);
  if (!state) return 0;
  std::lock_guard<std::mutex> lock(state->mu);
  return state->written_end;
}

}  // namespace cvfs::libcvfs
