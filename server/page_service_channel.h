#pragma once

// MessageChannel: the socket side of one page-service connection. It reads
// bytes into one bounded buffer, cuts them into pgwire messages and writes
// answers, polling with a short timeout so a stop request is noticed while
// it waits. Private to the page service (page_service*.cc).
//
// Buffering: at most max_body_bytes + 5 bytes of one message plus one read
// chunk (kReadChunk) are held; a longer message is refused from its header
// (pgwire decoders), so nothing a client sends grows memory without bound.
//
// Ownership: the channel does not own the fd. A FrontendMessage returned by
// Read() or PeekBuffered() views the channel's buffer and is valid until the
// next Read() / PeekBuffered() / ReadStartup() call.
//
// Errors: InvalidArgument / ResourceExhausted for a message the client got
// wrong (protocol_error() is then true: answer with an ErrorResponse and
// close); Aborted "pageserver is shutting down" when `stopping` became true
// while waiting; TimedOut at a deadline; IoError for the socket (the peer is
// gone: peer_closed()).
//
// Thread-safety: one reading thread (ReadStartup, Read, PeekBuffered,
// ConsumePeeked) and one sending thread at a time, which may be another
// (the page service's batch pipeline sends from its workers, in turn);
// `stopping` may be set from any.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "common/status.h"
#include "server/pgwire.h"

namespace pageserver::server {

class MessageChannel {
 public:
  using Clock = std::chrono::steady_clock;
  // How long one poll() waits before looking at `stopping` again.
  static constexpr std::chrono::milliseconds kPollInterval{50};
  // Bytes asked of one recv().
  static constexpr size_t kReadChunk = 64 * 1024;
  // A send that makes no progress this long fails (a client that stopped
  // reading must not hold a handler thread forever); 1 s while stopping.
  static constexpr std::chrono::seconds kSendStallTimeout{60};

  MessageChannel(int fd, const std::atomic<bool>& stopping, size_t max_body_bytes);
  MessageChannel(const MessageChannel&) = delete;
  MessageChannel& operator=(const MessageChannel&) = delete;

  // One startup-phase packet; nullopt when the client closed before sending
  // a byte. TimedOut after `deadline`.
  common::Result<std::optional<pgwire::StartupPacket>> ReadStartup(Clock::time_point deadline);

  // Waits for one whole message and consumes it. nullopt: the client closed
  // the connection at a message boundary. A close inside a message is
  // InvalidArgument ("truncated"). Aborted at once when stopping.
  common::Result<std::optional<pgwire::FrontendMessage>> Read();

  // The next message if the buffer holds a whole one after taking what the
  // socket has without blocking; not consumed (ConsumePeeked() does). nullopt
  // when no whole message is there. A malformed message is reported as by
  // Read().
  common::Result<std::optional<pgwire::FrontendMessage>> PeekBuffered();
  // REQUIRES: the last call was a PeekBuffered() that returned a message.
  void ConsumePeeked();

  // Writes all of `bytes` (one send() when the socket takes them).
  common::Status Send(std::span<const std::byte> bytes);

  bool protocol_error() const { return protocol_error_; }
  bool peer_closed() const { return peer_closed_.load(std::memory_order_acquire); }

 private:
  enum class Wait : uint8_t { kNo, kYes };
  std::span<const std::byte> Buffered() const;
  common::Result<std::optional<pgwire::FrontendMessage>> DecodeBuffered();
  // Receives once; with Wait::kYes polls until data, EOF, stop or deadline.
  common::Status Fill(Wait wait, std::optional<Clock::time_point> deadline);
  common::Status MakeRoom();
  common::Status WaitWritable(Clock::time_point last_progress);
  common::Status ProtocolError(common::Status status);

  const int fd_;
  const std::atomic<bool>& stopping_;
  const size_t max_body_bytes_;
  std::vector<std::byte> buf_;
  size_t begin_ = 0;  // first unconsumed byte
  size_t end_ = 0;    // end of received bytes
  size_t peeked_length_ = 0;
  bool eof_ = false;
  bool protocol_error_ = false;
  std::atomic<bool> peer_closed_{false};  // set by either side
};

}  // namespace pageserver::server
