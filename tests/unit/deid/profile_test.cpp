#include <catch2/catch.hpp>

#include <set>

#include "pacspull/deid/profile.hpp"

using namespace pacspull::deid;

TEST_CASE("SHA-256 matches the FIPS 180-4 test vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("Basic Profile: identifying attributes go, UIDs are replaced, the rest is kept") {
  Options basic;
  CHECK(action_for_tag(0x0010, 0x0010, basic) == Action::Empty);        // PatientName
  CHECK(action_for_tag(0x0010, 0x0020, basic) == Action::Empty);        // PatientID
  CHECK(action_for_tag(0x0010, 0x1040, basic) == Action::Remove);       // PatientAddress
  CHECK(action_for_tag(0x0008, 0x0080, basic) == Action::Remove);       // InstitutionName
  CHECK(action_for_tag(0x0008, 0x0020, basic) == Action::Empty);        // StudyDate (Type 2)
  CHECK(action_for_tag(0x0008, 0x0022, basic) == Action::Remove);       // AcquisitionDate
  CHECK(action_for_tag(0x0020, 0x000D, basic) == Action::ReplaceUid);   // StudyInstanceUID
  CHECK(action_for_tag(0x0008, 0x103E, basic) == Action::Remove);       // SeriesDescription
  CHECK(action_for_tag(0x0018, 0x0050, basic) == Action::Keep);         // SliceThickness
  CHECK(action_for_tag(0x0018, 0x0015, basic) == Action::Keep);         // BodyPartExamined
  CHECK(action_for_tag(0x0008, 0x0016, basic) == Action::Keep);         // SOPClassUID
  CHECK(action_for_tag(0x7FE0, 0x0010, basic) == Action::Keep);         // PixelData
  CHECK(action_for_tag(0x0009, 0x0010, basic) == Action::Remove);       // private creator
  CHECK(action_for_tag(0x0029, 0x1010, basic) == Action::Remove);       // private data
  CHECK(action_for_tag(0x6000, 0x3000, basic) == Action::Remove);       // overlay data
  CHECK(action_for_tag(0x6000, 0x0010, basic) == Action::Keep);         // overlay rows
  CHECK(action_for_tag(0x5000, 0x0005, basic) == Action::Remove);       // curve
  // Birth date is not covered by the temporal options: always emptied.
  Options all{true, true, true, "k"};
  CHECK(action_for_tag(0x0010, 0x0030, all) == Action::Empty);
}

TEST_CASE("Options change exactly their columns") {
  Options uids;
  uids.retain_uids = true;
  CHECK(action_for_tag(0x0020, 0x000D, uids) == Action::Keep);
  CHECK(action_for_tag(0x0008, 0x0018, uids) == Action::Keep);
  CHECK(action_for_tag(0x0008, 0x0020, uids) == Action::Empty);
  Options dates;
  dates.retain_dates = true;
  CHECK(action_for_tag(0x0008, 0x0020, dates) == Action::Keep);
  CHECK(action_for_tag(0x0008, 0x0032, dates) == Action::Keep);
  CHECK(action_for_tag(0x0020, 0x000D, dates) == Action::ReplaceUid);
  Options clean;
  clean.clean_descriptors = true;
  CHECK(action_for_tag(0x0008, 0x103E, clean) == Action::Clean);
  CHECK(action_for_tag(0x0018, 0x1030, clean) == Action::Clean);
  CHECK(action_for_tag(0x0010, 0x1040, clean) == Action::Remove);
  CHECK(method_codes(Options{}).size() == 1);
  CHECK(method_codes(Options{true, true, true, ""}).size() == 4);
  CHECK(method_text(Options{true, true, true, ""}).size() <= 64);  // LO
}

TEST_CASE("The table is sorted, unique, and every row is found") {
  const auto& t = basic_profile();
  std::set<std::pair<int, int>> seen;
  for (const auto& r : t) {
    CHECK(seen.insert({r.group, r.element}).second);
    CHECK(find_rule(r.group, r.element) == &r);
  }
  CHECK(t.size() > 150);
}

TEST_CASE("Derived UIDs are consistent per target, differ between targets and keys, and are valid UIDs") {
  const std::string uid = "1.2.826.0.1.3680043.8.498.12345";
  const std::string a = derive_uid("k", "ct-ai", uid);
  CHECK(a == derive_uid("k", "ct-ai", uid));
  CHECK(a != derive_uid("k", "dx-ai", uid));
  CHECK(a != derive_uid("other", "ct-ai", uid));
  CHECK(a != derive_uid("k", "ct-ai", uid + "1"));
  CHECK(a.rfind("2.25.", 0) == 0);
  CHECK(a.size() <= 64);
  CHECK(a.find_first_not_of("0123456789.") == std::string::npos);
  CHECK(a.substr(5, 1) != "0");  // no leading zero in a component (unless the value is 0)
  // ("ab","c") and ("a","bc") are different inputs.
  CHECK(derive_uid("ab", "c", uid) != derive_uid("a", "bc", uid));
  const std::string p = pseudonym("k", "ct-ai", "PID-001");
  CHECK(p == pseudonym("k", "ct-ai", "PID-001"));
  CHECK(p != pseudonym("k", "dx-ai", "PID-001"));
  CHECK(p.size() == 22);
  CHECK(p.rfind("PP", 0) == 0);
}

TEST_CASE("Clean Descriptors removes names, ids and long digit runs, keeps the clinical words") {
  CHECK(clean_descriptor("Lung 1.0 B70f", {"WANG", "LEI", "P123"}) == "Lung 1.0 B70f");
  CHECK(clean_descriptor("CHEST wang lei 20261201", {"WANG", "LEI"}) == "CHEST");
  CHECK(clean_descriptor("Thorax P123456 routine", {"P123456"}) == "Thorax routine");
  CHECK(clean_descriptor("call 13912345678 re CT", {}) == "call re CT");
  CHECK(clean_descriptor("  ", {}) == "");
  CHECK(clean_descriptor("AX 5mm", {"AX"}) == "AX 5mm");  // identifiers under 3 characters are not tokens
}
