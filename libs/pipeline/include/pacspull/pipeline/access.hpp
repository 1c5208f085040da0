#pragma once
// Who may open a DICOM association to our receiver (issue 11 part 1), as decisions.
// Pure: addresses are parsed here (IPv4 dotted quads, IPv6 with "::" and an embedded
// IPv4 tail, CIDR prefixes), no socket headers, no name lookup. An IPv4 address and its
// IPv4-mapped IPv6 form (::ffff:a.b.c.d) are the same address, so a rule written either way
// matches a peer seen either way.
//
// Thread-safety: every function is pure; a CallerPolicy is immutable once built and may be
// read from any number of threads.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pacspull/core/ids.hpp"

namespace pacspull::pipeline {

// An IP address, always held as 16 bytes (IPv4 as ::ffff:a.b.c.d).
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  bool v4 = false;  // written as IPv4 (or IPv4-mapped): printed back as a dotted quad
  std::string str() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// An address with a prefix length: "10.1.0.0/16", "fe80::/10", a bare address = /32 or /128.
struct IpNetwork {
  IpAddress base;  // host bits cleared
  int prefix = 0;  // over the 16-byte form: an IPv4 /24 is held as /120
  std::string str() const;
};

// Accepts "a.b.c.d", "a.b.c.d:port", IPv6 text, "[v6]" and "[v6]:port" (a peer address as
// a DICOM library reports it). nullopt: not an address (a host name is not resolved here).
std::optional<IpAddress> parse_ip_address(std::string_view text);
// "a.b.c.d[/n]" (n 0..32) or "v6[/n]" (n 0..128). Host bits set under the prefix are an
// error ("10.1.2.3/16" is refused: it is ambiguous whether the site meant the host or the net).
std::optional<IpNetwork> parse_ip_network(std::string_view text, std::string* error = nullptr);
bool contains(const IpNetwork& network, const IpAddress& address);

// One caller we accept: its AE title, from one of `networks` (empty: from any address).
struct AllowedCaller {
  core::AeTitle ae_title;
  std::vector<IpNetwork> networks;
  std::string source;  // where it was configured, for log lines: "pacs main", "receiver.allowed_callers"
};

struct CallerPolicy {
  bool accept_any = false;  // receiver.accept_any_caller: the old, open behaviour
  std::vector<AllowedCaller> callers;
};

// The metric label of a rejection (pacspull_receiver_associations_rejected_total{reason}).
enum class CallerVerdict { Accepted, UnknownCallingAe, AddressNotAllowed };
const char* reason_label(CallerVerdict v);  // "accepted", "calling_ae", "address"

struct CallerDecision {
  CallerVerdict verdict = CallerVerdict::UnknownCallingAe;
  std::string detail;  // why, for the log line (AE titles and addresses only, never PHI)
  bool accepted() const { return verdict == CallerVerdict::Accepted; }
};

// Accepted when accept_any, or when an entry with this calling AE title (exact, after the
// DICOM trim of spaces) has no networks or has one containing `peer_address`. A peer
// address that does not parse matches no network (and is named in the detail).
CallerDecision admit_caller(const CallerPolicy& policy, std::string_view calling_ae, std::string_view peer_address);

}  // namespace pacspull::pipeline
