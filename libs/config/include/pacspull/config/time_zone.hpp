#pragma once
// Reading IANA time zones from the host's tzdata: the file I/O that libs/core's TimeZone
// (pure: it parses bytes) leaves to its caller.
#include <filesystem>
#include <string>

#include "pacspull/core/timezone.hpp"

namespace pacspull::config {

// The zone named `name` ("Asia/Shanghai", "UTC") from $TZDIR or /usr/share/zoneinfo.
// Throws core::TimeZoneError ("unknown time zone 'Asia/Shangai'") for a name that is not
// a zone file there, a name that tries to leave the directory, or a malformed file.
core::TimeZone load_time_zone(const std::string& name);

// The host's zone, as the C library would pick it: $TZ (":Name", "Name", an absolute
// file path, or a POSIX rule such as "CST-8"), else /etc/localtime (named after the
// zoneinfo file it links to), else UTC when /etc/localtime does not exist. Throws
// core::TimeZoneError when the zone it names cannot be read.
core::TimeZone host_time_zone();

}  // namespace pacspull::config
