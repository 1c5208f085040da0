// rules::Text: whatever bytes arrive, what comes out is valid UTF-8 without NUL, and it is
// the same reading the filter uses.
#include <catch2/catch.hpp>

#include <random>

#include "pacspull/rules/charset.hpp"
#include "pacspull/rules/text.hpp"

using pacspull::rules::Text;
using namespace std::string_literals;

namespace {
bool clean(const std::string& s) { return pacspull::rules::is_valid_utf8(s) && s.find('\0') == std::string::npos; }
}  // namespace

TEST_CASE("Text::decode reads field charsets the way the filter does") {
  // GBK "胸部" declared ISO_IR 100 (a lie), GBK undeclared, GB18030 declared.
  const std::string gbk = "\xD0\xD8\xB2\xBF";
  CHECK(Text::decode(gbk, "ISO_IR 100").str() == pacspull::rules::decode_to_utf8(gbk, "ISO_IR 100"));
  CHECK(Text::decode(gbk, "").str() == "\xE8\x83\xB8\xE9\x83\xA8");
  CHECK(Text::decode(gbk, "GB18030").str() == "\xE8\x83\xB8\xE9\x83\xA8");
  // ISO_IR 144 Cyrillic "ГРУДЬ".
  CHECK(Text::decode("\xB3\xC0\xC3\xB4\xCC", "ISO_IR 144").str() == "\xD0\x93\xD0\xA0\xD0\xA3\xD0\x94\xD0\xAC");
  // Padding goes, UTF-8 stays.
  CHECK(Text::decode("CHEST \0"s, "").str() == "CHEST");
  CHECK(Text::decode("\xE8\x83\xB8 ", "ISO_IR 192").str() == "\xE8\x83\xB8");
}

TEST_CASE("Text never holds invalid UTF-8 or NUL, whatever the input") {
  std::mt19937 rng(20261201);
  std::uniform_int_distribution<int> byte(0, 255), len(0, 64);
  const char* charsets[] = {"", "ISO_IR 100", "ISO_IR 192", "GB18030", "GBK", "ISO_IR 144", "ISO 2022 IR 87",
                            "\\ISO 2022 IR 149", "garbage\xFF"};
  for (int n = 0; n < 5000; ++n) {
    std::string raw;
    for (int i = len(rng); i > 0; --i) raw.push_back(static_cast<char>(byte(rng)));
    for (const char* cs : charsets) {
      INFO("input #" << n << " under '" << cs << "'");
      REQUIRE(clean(Text::decode(raw, cs).str()));
    }
    REQUIRE(clean(Text::from_utf8(raw).str()));
    REQUIRE(clean(Text::ascii(raw).str()));
  }
}

TEST_CASE("Text::checked refuses what it would have to repair; from_utf8 repairs") {
  CHECK(Text::checked("1.2.840 胸")->str() == "1.2.840 胸");
  CHECK_FALSE(Text::checked("A\xFF"));
  CHECK_FALSE(Text::checked("A\0B"s));
  CHECK(Text::from_utf8("A\xFF" "B").str() == "A\xEF\xBF\xBD" "B");
  CHECK(Text::from_utf8("A\0B"s).str() == "A\xEF\xBF\xBD" "B");
}

TEST_CASE("Text::ascii keeps UIDs and AE titles distinct and printable") {
  CHECK(Text::ascii("1.2.3\0"s).str() == "1.2.3");
  CHECK(Text::ascii(" PACS  ").str() == "PACS");
  CHECK(Text::ascii("1.2\xFF").str() == "1.2%FF");
  CHECK(Text::ascii("1.2%FF").str() == "1.2%25FF");  // no collision with the escaped form
  CHECK(Text::ascii("a\nb").str() == "a%0Ab");
}

TEST_CASE("raw_texts keeps the bytes of non-ASCII values only") {
  pacspull::core::AttributeMap a{{"SpecificCharacterSet", "ISO_IR 100"},
                                 {"StudyDescription", "\xD0\xD8\xB2\xBF"},
                                 {"PatientName", "WANG^LEI"}};
  auto raws = pacspull::rules::raw_texts(a, {"StudyDescription", "PatientName", "Absent"});
  REQUIRE(raws.size() == 1);
  CHECK(raws[0].attribute == "StudyDescription");
  CHECK(raws[0].raw == "\xD0\xD8\xB2\xBF");
  CHECK(raws[0].specific_character_set == "ISO_IR 100");
  CHECK(raws[0].text == pacspull::rules::decoded(a, "StudyDescription"));
}

TEST_CASE("first_bad_utf8_line names the line of a non-UTF-8 byte") {
  CHECK_FALSE(pacspull::rules::first_bad_utf8_line("a: 1\nb: 胸\n"));
  CHECK(pacspull::rules::first_bad_utf8_line("a: 1\nb: \xD0\xD8\nc: 2\n") == 2u);
  CHECK(pacspull::rules::first_bad_utf8_line("a\0"s) == 1u);
}
