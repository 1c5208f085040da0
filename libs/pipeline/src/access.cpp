#include "pacspull/pipeline/access.hpp"

#include <algorithm>
#include <charconv>

namespace pacspull::pipeline {
namespace {

constexpr std::array<uint8_t, 12> kMappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<int> decimal(std::string_view s, int max) {
  if (s.empty() || s.size() > 3 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  if (s.size() > 1 && s.front() == '0') return std::nullopt;  // "010" could be read as octal: refused
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  if (v > max) return std::nullopt;
  return v;
}

std::optional<std::array<uint8_t, 4>> parse_v4(std::string_view s) {
  std::array<uint8_t, 4> out{};
  for (int i = 0; i < 4; ++i) {
    const size_t dot = i < 3 ? s.find('.') : s.size();
    if (dot == std::string_view::npos) return std::nullopt;
    auto octet = decimal(s.substr(0, dot), 255);
    if (!octet) return std::nullopt;
    out[static_cast<size_t>(i)] = static_cast<uint8_t>(*octet);
    s.remove_prefix(i < 3 ? dot + 1 : dot);
  }
  return out;
}

IpAddress from_v4(const std::array<uint8_t, 4>& v4) {
  IpAddress a;
  std::copy(kMappedPrefix.begin(), kMappedPrefix.end(), a.bytes.begin());
  std::copy(v4.begin(), v4.end(), a.bytes.begin() + 12);
  a.v4 = true;
  return a;
}

bool is_mapped(const std::array<uint8_t, 16>& b) { return std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), b.begin()); }

// Groups of 1..4 hex digits separated by ':', one "::" at most, an IPv4 tail allowed.
std::optional<std::array<uint8_t, 16>> parse_v6(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::vector<uint16_t> head, tail;
  bool compressed = false;
  std::optional<std::array<uint8_t, 4>> v4_tail;
  const size_t gap = s.find("::");
  std::string_view left = s, right;
  if (gap != std::string_view::npos) {
    compressed = true;
    left = s.substr(0, gap);
    right = s.substr(gap + 2);
    if (right.find("::") != std::string_view::npos) return std::nullopt;
  }
  auto groups = [&](std::string_view part, std::vector<uint16_t>& out, bool last) -> bool {
    if (part.empty()) return true;
    while (true) {
      const size_t colon = part.find(':');
      std::string_view g = part.substr(0, colon);
      if (colon == std::string_view::npos && last && g.find('.') != std::string_view::npos) {
        v4_tail = parse_v4(g);
        return v4_tail.has_value();
      }
      if (g.empty() || g.size() > 4) return false;
      uint16_t v = 0;
      for (char c : g) {
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return false;
        v = static_cast<uint16_t>(v * 16 + d);
      }
      out.push_back(v);
      if (colon == std::string_view::npos) return true;
      part.remove_prefix(colon + 1);
    }
  };
  if (!groups(left, head, !compressed) || !groups(right, tail, true)) return std::nullopt;
  const size_t words = head.size() + tail.size() + (v4_tail ? 2 : 0);
  if (compressed ? words > 7 : words != 8) return std::nullopt;
  std::array<uint8_t, 16> out{};
  size_t i = 0;
  for (uint16_t w : head) {
    out[i++] = static_cast<uint8_t>(w >> 8);
    out[i++] = static_cast<uint8_t>(w & 0xff);
  }
  i = 16 - tail.size() * 2 - (v4_tail ? 4 : 0);
  for (uint16_t w : tail) {
    out[i++] = static_cast<uint8_t>(w >> 8);
    out[i++] = static_cast<uint8_t>(w & 0xff);
  }
  if (v4_tail) std::copy(v4_tail->begin(), v4_tail->end(), out.begin() + 12);
  return out;
}

std::optional<IpAddress> parse_bare(std::string_view s) {
  if (auto v4 = parse_v4(s)) return from_v4(*v4);
  if (auto v6 = parse_v6(s)) {
    IpAddress a;
    a.bytes = *v6;
    a.v4 = is_mapped(a.bytes);
    return a;
  }
  return std::nullopt;
}

void clear_host_bits(std::array<uint8_t, 16>& b, int prefix) {
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(prefix - i * 8, 0, 8);
    b[static_cast<size_t>(i)] &= static_cast<uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
  }
}

}  // namespace

std::string IpAddress::str() const {
  if (v4 || is_mapped(bytes))
    return std::to_string(bytes[12]) + "." + std::to_string(bytes[13]) + "." + std::to_string(bytes[14]) + "." +
           std::to_string(bytes[15]);
  // RFC 5952: lower case, the longest run (>= 2) of zero groups as "::".
  std::array<int, 8> w{};
  for (size_t i = 0; i < 8; ++i) w[i] = bytes[2 * i] << 8 | bytes[2 * i + 1];
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && w[static_cast<size_t>(j)] == 0) ++j;
    if (j - i > best_len && j - i >= 2) best = i, best_len = j - i;
    i = j == i ? i + 1 : j;
  }
  static const char* hex = "0123456789abcdef";
  auto group = [&](int v) {
    std::string g;
    for (int shift = 12; shift >= 0; shift -= 4)
      if (!g.empty() || (v >> shift & 0xf) != 0 || shift == 0) g += hex[v >> shift & 0xf];
    return g;
  };
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    out += group(w[static_cast<size_t>(i)]);
  }
  return out;
}

std::string IpNetwork::str() const {
  const bool v4 = base.v4 && prefix >= 96;
  return base.str() + "/" + std::to_string(v4 ? prefix - 96 : prefix);
}

std::optional<IpAddress> parse_ip_address(std::string_view text) {
  std::string_view s = trim(text);
  if (!s.empty() && s.front() == '[') {  // [v6] or [v6]:port
    const size_t close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view rest = s.substr(close + 1);
    const bool port_ok = rest.empty() || (rest.front() == ':' && rest.size() > 1 && rest.size() <= 6 &&
                                          std::all_of(rest.begin() + 1, rest.end(), [](char c) { return c >= '0' && c <= '9'; }));
    if (!port_ok) return std::nullopt;
    s = s.substr(1, close - 1);
  } else if (const size_t colon = s.find(':'); colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) {
    // One colon: IPv4 with a port.
    std::string_view port = s.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    s = s.substr(0, colon);
    auto v4 = parse_v4(s);
    if (!v4) return std::nullopt;
    return from_v4(*v4);
  }
  if (const size_t zone = s.find('%'); zone != std::string_view::npos) s = s.substr(0, zone);  // fe80::1%eth0
  return parse_bare(s);
}

std::optional<IpNetwork> parse_ip_network(std::string_view text, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<IpNetwork> {
    if (error) *error = why;
    return std::nullopt;
  };
  const std::string_view s = trim(text);
  const size_t slash = s.find('/');
  const std::string_view addr_text = s.substr(0, slash);
  auto addr = parse_bare(addr_text);
  if (!addr) return fail("'" + std::string(s) + "' is not an IPv4 or IPv6 address or CIDR (host names are not resolved)");
  const bool written_v4 = parse_v4(addr_text).has_value();
  int prefix = written_v4 ? 32 : 128;
  if (slash != std::string_view::npos) {
    auto p = decimal(s.substr(slash + 1), written_v4 ? 32 : 128);
    if (!p) return fail("'" + std::string(s) + "': the prefix length must be 0.." + (written_v4 ? "32" : "128"));
    prefix = *p;
  }
  if (written_v4) prefix += 96;
  IpNetwork n{*addr, prefix};
  clear_host_bits(n.base.bytes, prefix);
  if (n.base.bytes != addr->bytes)
    return fail("'" + std::string(s) + "' has host bits set under its prefix (did you mean " + n.str() + "?)");
  return n;
}

bool contains(const IpNetwork& network, const IpAddress& address) {
  std::array<uint8_t, 16> masked = address.bytes;
  clear_host_bits(masked, network.prefix);
  return masked == network.base.bytes;
}

const char* reason_label(CallerVerdict v) {
  switch (v) {
    case CallerVerdict::Accepted:
      return "accepted";
    case CallerVerdict::UnknownCallingAe:
      return "calling_ae";
    case CallerVerdict::AddressNotAllowed:
      return "address";
  }
  return "unknown";
}

CallerDecision admit_caller(const CallerPolicy& policy, std::string_view calling_ae, std::string_view peer_address) {
  const std::string_view ae = trim(calling_ae);
  if (policy.accept_any) return {CallerVerdict::Accepted, "any caller accepted (receiver.accept_any_caller)"};
  const std::optional<IpAddress> peer = parse_ip_address(peer_address);
  std::vector<std::string> wanted;
  for (const AllowedCaller& c : policy.callers) {
    if (c.ae_title.str() != ae) continue;
    if (c.networks.empty()) return {CallerVerdict::Accepted, "calling AE '" + std::string(ae) + "' (" + c.source + ")"};
    for (const IpNetwork& n : c.networks) {
      if (peer && contains(n, *peer))
        return {CallerVerdict::Accepted, "calling AE '" + std::string(ae) + "' from " + n.str() + " (" + c.source + ")"};
      wanted.push_back(n.str());
    }
  }
  if (wanted.empty())
    return {CallerVerdict::UnknownCallingAe,
            "calling AE title '" + std::string(ae) + "' is not a configured PACS nor in receiver.allowed_callers"};
  std::string list;
  for (const auto& w : wanted) list += (list.empty() ? "" : ", ") + w;
  return {CallerVerdict::AddressNotAllowed, "calling AE '" + std::string(ae) + "' from " +
                                                (peer ? peer->str() : "unparsable address '" + std::string(peer_address) + "'") +
                                                ", allowed only from " + list};
}

}  // namespace pacspull::pipeline
