#include "server/page_service_channel.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pageserver::server {
namespace {

using common::Result;
using common::Status;

Status ShuttingDown() { return Status::Aborted("pageserver is shutting down"); }

int PollMillis(std::optional<MessageChannel::Clock::time_point> deadline) {
  auto wait = MessageChannel::kPollInterval;
  if (deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        *deadline - MessageChannel::Clock::now());
    wait = std::clamp(left, std::chrono::milliseconds(0), wait);
  }
  return static_cast<int>(wait.count());
}

}  // namespace

MessageChannel::MessageChannel(int fd, const std::atomic<bool>& stopping, size_t max_body_bytes)
    : fd_(fd), stopping_(stopping), max_body_bytes_(max_body_bytes) {}

std::span<const std::byte> MessageChannel::Buffered() const {
  return std::span<const std::byte>(buf_).subspan(begin_, end_ - begin_);
}

Status MessageChannel::ProtocolError(Status status) {
  protocol_error_ = true;
  return status;
}

Result<std::optional<pgwire::StartupPacket>> MessageChannel::ReadStartup(
    Clock::time_point deadline) {
  using Out = std::optional<pgwire::StartupPacket>;
  while (true) {
    auto decoded = pgwire::DecodeStartupPacket(Buffered());
    if (!decoded.has_value()) return ProtocolError(std::move(decoded).error());
    if (decoded->has_value()) {
      begin_ += (*decoded)->length;
      return Out(std::move((*decoded)->message));
    }
    if (eof_) {
      if (begin_ == end_) return Out();
      return ProtocolError(Status::InvalidArgument("connection closed inside a startup packet (" +
                                                   std::to_string(end_ - begin_) +
                                                   " bytes received)"));
    }
    if (stopping_.load(std::memory_order_acquire)) return ShuttingDown();
    if (Clock::now() >= deadline) {
      return Status::TimedOut("startup packet not received within the startup timeout");
    }
    RETURN_IF_ERROR(Fill(Wait::kYes, deadline));
  }
}

Result<std::optional<pgwire::FrontendMessage>> MessageChannel::DecodeBuffered() {
  using Out = std::optional<pgwire::FrontendMessage>;
  auto decoded = pgwire::DecodeFrontendMessage(Buffered(), max_body_bytes_);
  if (!decoded.has_value()) return ProtocolError(std::move(decoded).error());
  if (!decoded->has_value()) return Out();
  peeked_length_ = (*decoded)->length;
  return Out((*decoded)->message);
}

Result<std::optional<pgwire::FrontendMessage>> MessageChannel::Read() {
  using Out = std::optional<pgwire::FrontendMessage>;
  if (stopping_.load(std::memory_order_acquire)) return ShuttingDown();
  while (true) {
    ASSIGN_OR_RETURN(Out message, DecodeBuffered());
    if (message.has_value()) {
      ConsumePeeked();
      return message;
    }
    if (eof_) {
      if (begin_ == end_) return Out();
      return ProtocolError(
          Status::InvalidArgument("connection closed inside a message: truncated after " +
                                  std::to_string(end_ - begin_) + " bytes"));
    }
    RETURN_IF_ERROR(Fill(Wait::kYes, std::nullopt));
  }
}

Result<std::optional<pgwire::FrontendMessage>> MessageChannel::PeekBuffered() {
  using Out = std::optional<pgwire::FrontendMessage>;
  ASSIGN_OR_RETURN(Out message, DecodeBuffered());
  if (message.has_value() || eof_) return message;
  RETURN_IF_ERROR(Fill(Wait::kNo, std::nullopt));
  return DecodeBuffered();
}

void MessageChannel::ConsumePeeked() {
  begin_ += peeked_length_;
  peeked_length_ = 0;
}

// Makes space after end_: first by dropping consumed bytes, then by growing
// up to the largest message plus one read chunk.
Status MessageChannel::MakeRoom() {
  if (buf_.size() - end_ >= kReadChunk) return Status::Ok();
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  const size_t limit = std::max(max_body_bytes_, pgwire::kMaxStartupPacketBytes) + 5 + kReadChunk;
  if (buf_.size() - end_ < kReadChunk && buf_.size() < limit) {
    buf_.resize(std::min(limit, std::max(end_ + kReadChunk, buf_.size() * 2)));
  }
  if (end_ == buf_.size()) {
    return Status::Internal("page service read buffer full (" + std::to_string(end_) + " bytes)");
  }
  return Status::Ok();
}

Status MessageChannel::Fill(Wait wait, std::optional<Clock::time_point> deadline) {
  RETURN_IF_ERROR(MakeRoom());
  while (true) {
    const ssize_t n = ::recv(fd_, buf_.data() + end_, buf_.size() - end_, MSG_DONTWAIT);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return Status::Ok();
    }
    if (n == 0) {
      eof_ = true;
      return Status::Ok();
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      peer_closed_.store(true, std::memory_order_release);
      return Status::FromErrno(errno, "recv on page service connection");
    }
    if (wait == Wait::kNo) return Status::Ok();
    if (stopping_.load(std::memory_order_acquire)) return ShuttingDown();
    if (deadline && Clock::now() >= *deadline) return Status::Ok();  // caller sees the deadline
    pollfd pfd{fd_, POLLIN, 0};
    const int rc = ::poll(&pfd, 1, PollMillis(deadline));
    if (rc < 0 && errno != EINTR)
      return Status::FromErrno(errno, "poll on page service connection");
  }
}

Status MessageChannel::WaitWritable(Clock::time_point last_progress) {
  const auto limit =
      stopping_.load(std::memory_order_acquire) ? std::chrono::seconds(1) : kSendStallTimeout;
  if (Clock::now() - last_progress >= limit) {
    peer_closed_.store(true, std::memory_order_release);
    return Status::TimedOut("page service client stopped reading: send made no progress for " +
                            std::to_string(limit.count()) + " s");
  }
  pollfd pfd{fd_, POLLOUT, 0};
  const int rc = ::poll(&pfd, 1, static_cast<int>(kPollInterval.count()));
  if (rc < 0 && errno != EINTR) return Status::FromErrno(errno, "poll on page service connection");
  return Status::Ok();
}

Status MessageChannel::Send(std::span<const std::byte> bytes) {
  auto last_progress = Clock::now();
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes = bytes.subspan(static_cast<size_t>(n));
      last_progress = Clock::now();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      RETURN_IF_ERROR(WaitWritable(last_progress));
      continue;
    }
    peer_closed_.store(true, std::memory_order_release);
    return Status::FromErrno(n < 0 ? errno : EPIPE, "send on page service connection");
  }
  return Status::Ok();
}

}  // namespace pageserver::server
