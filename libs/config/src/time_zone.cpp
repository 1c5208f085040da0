#include "pacspull/config/time_zone.hpp"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

namespace pacspull::config {
namespace {

namespace fs = std::filesystem;

fs::path zoneinfo_dir() {
  const char* dir = std::getenv("TZDIR");
  return dir && *dir ? fs::path(dir) : fs::path("/usr/share/zoneinfo");
}

std::optional<std::string> read_bytes(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool plausible_name(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.size() > 255) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+' || c == '.'))
      return false;
  std::stringstream ss(name);
  for (std::string part; std::getline(ss, part, '/');)
    if (part.empty() || part == "." || part == "..") return false;
  return true;
}

core::TimeZone from_file(const std::string& name, const fs::path& p) {
  auto bytes = read_bytes(p);
  if (!bytes) throw core::TimeZoneError("cannot read time zone file " + p.string());
  return core::TimeZone::from_tzif(name, *bytes);
}

}  // namespace

core::TimeZone load_time_zone(const std::string& name) {
  if (!plausible_name(name)) throw core::TimeZoneError("unknown time zone '" + name + "': not an IANA zone name");
  fs::path p = zoneinfo_dir() / name;
  auto bytes = read_bytes(p);
  if (!bytes)
    throw core::TimeZoneError("unknown time zone '" + name + "' (no file " + p.string() +
                              "; names look like Asia/Shanghai, Europe/Moscow, UTC)");
  return core::TimeZone::from_tzif(name, *bytes);
}

core::TimeZone host_time_zone() {
  const char* tz = std::getenv("TZ");
  if (tz && *tz) {
    std::string v = tz[0] == ':' ? tz + 1 : tz;
    if (!v.empty() && v.front() == '/') return from_file(v, v);
    if (plausible_name(v) && read_bytes(zoneinfo_dir() / v)) return load_time_zone(v);
    return core::TimeZone::from_posix(v, v);  // "CST-8": a rule, not a name
  }
  const fs::path local = "/etc/localtime";
  std::error_code ec;
  if (!fs::exists(local, ec)) return core::TimeZone::utc();  // what the C library assumes too
  std::string name = "localtime";
  if (fs::is_symlink(local, ec)) {
    std::string target = fs::read_symlink(local, ec).string();
    auto at = target.find("zoneinfo/");
    if (at != std::string::npos) name = target.substr(at + 9);
  }
  return from_file(name, local);
}

}  // namespace pacspull::config
