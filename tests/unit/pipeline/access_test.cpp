// The receiver's caller policy (issue 11 part 1): IPv4/IPv6 addresses and CIDRs, and who
// is let in by AE title and address.
#include <catch2/catch.hpp>

#include "pacspull/pipeline/access.hpp"

using namespace pacspull;
using namespace pacspull::pipeline;

namespace {
IpNetwork net(const char* text) {
  std::string error;
  auto n = parse_ip_network(text, &error);
  INFO(text << ": " << error);
  REQUIRE(n);
  return *n;
}
IpAddress ip(const char* text) {
  auto a = parse_ip_address(text);
  INFO(text);
  REQUIRE(a);
  return *a;
}
}  // namespace

TEST_CASE("IPv4 addresses parse, with or without a port; junk does not") {
  CHECK(ip("10.1.2.3").str() == "10.1.2.3");
  CHECK(ip("10.1.2.3:11112").str() == "10.1.2.3");
  CHECK(ip(" 127.0.0.1 ").str() == "127.0.0.1");
  CHECK(ip("0.0.0.0").str() == "0.0.0.0");
  CHECK(ip("255.255.255.255").str() == "255.255.255.255");
  for (const char* bad : {"", "10.1.2", "10.1.2.3.4", "256.1.1.1", "10.1.2.3:", "10.1.2.3:port", "pacs.hospital",
                          "010.1.2.3", "1..2.3", "10.1.2.3:123456", "-1.2.3.4"}) {
    INFO(bad);
    CHECK_FALSE(parse_ip_address(bad));
  }
}

TEST_CASE("IPv6 addresses parse in every RFC 4291 form and print as RFC 5952") {
  CHECK(ip("::1").str() == "::1");
  CHECK(ip("::").str() == "::");
  CHECK(ip("2001:DB8:0:0:0:0:0:1").str() == "2001:db8::1");
  CHECK(ip("2001:db8::1:0:0:1").str() == "2001:db8::1:0:0:1");
  CHECK(ip("fe80::1%eth0").str() == "fe80::1");
  CHECK(ip("[2001:db8::7]:104").str() == "2001:db8::7");
  CHECK(ip("[::1]").str() == "::1");
  CHECK(ip("1:2:3:4:5:6:7:8").str() == "1:2:3:4:5:6:7:8");
  CHECK(ip("64:ff9b::192.0.2.33").str() == "64:ff9b::c000:221");
  // IPv4-mapped: the same address as the dotted quad.
  CHECK(ip("::ffff:10.0.0.7") == ip("10.0.0.7"));
  CHECK(ip("::ffff:10.0.0.7").str() == "10.0.0.7");
  for (const char* bad : {"1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", ":::", "[::1", "[::1]x",
                          "1:2:3:4:5:6:7::8:9", "::1.2.3"}) {
    INFO(bad);
    CHECK_FALSE(parse_ip_address(bad));
  }
}

TEST_CASE("CIDR networks match the addresses inside them, IPv4 and IPv6") {
  CHECK(contains(net("10.1.0.0/16"), ip("10.1.255.7")));
  CHECK_FALSE(contains(net("10.1.0.0/16"), ip("10.2.0.1")));
  CHECK(contains(net("10.1.2.3"), ip("10.1.2.3")));
  CHECK_FALSE(contains(net("10.1.2.3"), ip("10.1.2.4")));
  CHECK(contains(net("0.0.0.0/0"), ip("192.168.1.1")));
  CHECK_FALSE(contains(net("0.0.0.0/0"), ip("2001:db8::1")));  // all IPv4 is not all of IPv6
  CHECK(contains(net("192.168.4.0/22"), ip("192.168.7.255")));
  CHECK_FALSE(contains(net("192.168.4.0/22"), ip("192.168.8.0")));
  CHECK(contains(net("172.16.0.0/12"), ip("172.31.1.1")));
  CHECK(contains(net("2001:db8::/32"), ip("2001:db8:ffff::1")));
  CHECK_FALSE(contains(net("2001:db8::/32"), ip("2001:db9::1")));
  CHECK(contains(net("fe80::/10"), ip("febf::1")));
  CHECK_FALSE(contains(net("fe80::/10"), ip("fec0::1")));
  CHECK(contains(net("::1"), ip("::1")));
  CHECK(contains(net("::/0"), ip("10.0.0.1")));  // ::/0 is every address, mapped IPv4 too
  // An IPv4 rule matches the peer seen as IPv4-mapped IPv6, and the other way round.
  CHECK(contains(net("10.0.0.0/8"), ip("::ffff:10.9.9.9")));
  CHECK(contains(net("::ffff:10.0.0.0/104"), ip("10.9.9.9")));
  CHECK(net("10.0.0.0/8").str() == "10.0.0.0/8");
  CHECK(net("2001:db8::/32").str() == "2001:db8::/32");
}

TEST_CASE("Bad CIDRs are refused with a reason") {
  std::string error;
  CHECK_FALSE(parse_ip_network("10.1.2.3/16", &error));
  CHECK(error.find("host bits") != std::string::npos);
  CHECK(error.find("10.1.0.0/16") != std::string::npos);
  CHECK_FALSE(parse_ip_network("10.0.0.0/33", &error));
  CHECK(error.find("0..32") != std::string::npos);
  CHECK_FALSE(parse_ip_network("2001:db8::/129", &error));
  CHECK(error.find("0..128") != std::string::npos);
  CHECK_FALSE(parse_ip_network("pacs.example.org", &error));
  CHECK(error.find("not resolved") != std::string::npos);
  CHECK_FALSE(parse_ip_network("10.0.0.0/", &error));
  CHECK_FALSE(parse_ip_network("10.0.0.0/08", &error));
}

TEST_CASE("The caller policy: known AE titles only, optionally from their addresses") {
  CallerPolicy p;
  p.callers.push_back({core::AeTitle("ORTHANC"), {}, "pacs main"});
  p.callers.push_back({core::AeTitle("MIRROR"), {net("10.1.0.0/16"), net("2001:db8::/32")}, "pacs mirror"});
  p.callers.push_back({core::AeTitle("MIRROR"), {net("192.168.1.5")}, "receiver.allowed_callers"});

  auto d = admit_caller(p, "ORTHANC", "127.0.0.1");
  CHECK(d.accepted());
  CHECK(d.detail.find("pacs main") != std::string::npos);
  CHECK(admit_caller(p, "ORTHANC ", "anything").accepted());  // trailing pad of a DICOM AE
  CHECK(admit_caller(p, "MIRROR", "10.1.3.4").accepted());
  CHECK(admit_caller(p, "MIRROR", "[2001:db8::5]:4242").accepted());
  CHECK(admit_caller(p, "MIRROR", "192.168.1.5").accepted());  // the second entry for the AE

  d = admit_caller(p, "MIRROR", "10.2.0.1");
  CHECK(d.verdict == CallerVerdict::AddressNotAllowed);
  CHECK(std::string(reason_label(d.verdict)) == "address");
  CHECK(d.detail.find("10.2.0.1") != std::string::npos);
  CHECK(d.detail.find("10.1.0.0/16") != std::string::npos);
  CHECK(admit_caller(p, "MIRROR", "not-an-ip").verdict == CallerVerdict::AddressNotAllowed);

  d = admit_caller(p, "STRANGER", "10.1.3.4");
  CHECK(d.verdict == CallerVerdict::UnknownCallingAe);
  CHECK(std::string(reason_label(d.verdict)) == "calling_ae");
  CHECK(d.detail.find("STRANGER") != std::string::npos);
  CHECK(admit_caller(p, "orthanc", "127.0.0.1").verdict == CallerVerdict::UnknownCallingAe);  // AE titles are exact
  CHECK(admit_caller(p, "", "127.0.0.1").verdict == CallerVerdict::UnknownCallingAe);

  CHECK(admit_caller(CallerPolicy{}, "ORTHANC", "127.0.0.1").verdict == CallerVerdict::UnknownCallingAe);  // nobody
  CallerPolicy open;
  open.accept_any = true;
  CHECK(admit_caller(open, "STRANGER", "8.8.8.8").accepted());
}
