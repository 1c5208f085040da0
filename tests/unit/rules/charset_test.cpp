// Decoding DICOM text however it reached us: declared charsets, undeclared GBK, the
// classic GB2312-as-Latin-1 mojibake, win1251 under a wrong declaration, garbage.
#include <catch2/catch.hpp>

#include <random>

#include "pacspull/rules/charset.hpp"

using namespace pacspull::rules;

namespace {
const std::string kChestUtf8 = "\xE8\x83\xB8";   // 胸
const std::string kLungUtf8 = "\xE8\x82\xBA";    // 肺
const std::string kChestGbk = "\xD0\xD8";        // 胸 in GB2312/GBK/GB18030
const std::string kChestMojibake = "\xC3\x90\xC3\x98";  // D0 D8 read as Latin-1, re-encoded UTF-8

bool has_reading(const std::vector<Reading>& rs, const std::string& text, std::string* charset = nullptr) {
  for (const auto& r : rs)
    if (r.text.find(text) != std::string::npos) {
      if (charset) *charset = r.charset;
      return true;
    }
  return false;
}
}  // namespace

TEST_CASE("UTF-8 validation is strict") {
  CHECK(is_valid_utf8("CHEST"));
  CHECK(is_valid_utf8(kChestUtf8));
  CHECK(is_valid_utf8("\xF0\x9F\x98\x80"));        // U+1F600
  CHECK_FALSE(is_valid_utf8(kChestGbk));           // GBK bytes
  CHECK_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  CHECK_FALSE(is_valid_utf8("\xE8\x83"));          // truncated
}

TEST_CASE("declared charsets decode") {
  CHECK(decode_to_utf8(kChestUtf8, "ISO_IR 192") == kChestUtf8);
  CHECK(decode_to_utf8(kChestGbk, "GB18030") == kChestUtf8);
  CHECK(decode_to_utf8(kChestGbk, "GBK") == kChestUtf8);
  CHECK(decode_to_utf8("Buc^J\xE9r\xF4me", "ISO_IR 100") == "Buc^J\xC3\xA9r\xC3\xB4me");
  // ISO_IR 144 (ISO 8859-5): "ГРУДЬ" is B3 C0 C3 B4 CC.
  CHECK(decode_to_utf8("\xB3\xC0\xC3\xB4\xCC", "ISO_IR 144") == "\xD0\x93\xD0\xA0\xD0\xA3\xD0\x94\xD0\xAC");
  // GB18030 four-byte: 0x81308130 is U+0080; 0x9030 8130 is U+10000.
  CHECK(decode_gb18030("\x81\x30\x81\x30") == "\xC2\x80");
  CHECK(decode_gb18030("\x90\x30\x81\x30") == "\xF0\x90\x80\x80");
  // ISO 2022 IR 58 (GB2312 designated into G1).
  CHECK(decode_to_utf8("\x1B$)A\xD0\xD8", "\\ISO 2022 IR 58") == kChestUtf8);
  // ISO 2022 IR 149 (KS X 1001): 김 is B1 E8.
  CHECK(decode_to_utf8("\x1B$)C\xB1\xE8", "\\ISO 2022 IR 149") == "\xEA\xB9\x80");
  // ISO 2022 IR 87 (JIS X 0208): 山 is 3B 33.
  CHECK(decode_to_utf8("\x1B$B;3\x1B(B", "\\ISO 2022 IR 87") == "\xE5\xB1\xB1");
}

TEST_CASE("GB18030 bytes without a declaration are read as GBK") {
  CHECK(decode_to_utf8(kChestGbk, "") == kChestUtf8);
  auto readings = plausible_readings(kChestGbk + "\xB2\xBF", "");
  CHECK(readings.front().text == kChestUtf8 + "\xE9\x83\xA8");  // 胸部
  CHECK(readings.front().charset == "GB18030");
}

TEST_CASE("GB18030 bytes under a wrong declaration still yield a 胸 reading") {
  std::string charset;
  CHECK(has_reading(plausible_readings(kChestGbk, "ISO_IR 100"), kChestUtf8, &charset));
  CHECK(charset == "GB18030");
  CHECK(has_reading(plausible_readings(kChestGbk, "ISO_IR 192"), kChestUtf8));
  // Declared UTF-8 but the bytes are not: best reading falls back to GBK.
  CHECK(decode_to_utf8(kChestGbk, "ISO_IR 192") == kChestUtf8);
}

TEST_CASE("classic mojibake C3 90 C3 98 is reversed to 胸") {
  for (const char* scs : {"", "ISO_IR 192", "ISO_IR 100"}) {
    std::string charset;
    INFO(scs);
    CHECK(has_reading(plausible_readings(kChestMojibake, scs), kChestUtf8, &charset));
    CHECK(charset == "GB18030 via Latin-1 mojibake");
  }
  // The record keeps the honest reading: the bytes are valid UTF-8 for "ÐØ".
  CHECK(decode_to_utf8(kChestMojibake, "ISO_IR 192") == kChestMojibake);
}

TEST_CASE("win1251 Cyrillic under a Latin-1 declaration") {
  // "ГРУДЬ" in windows-1251: C3 D0 D3 C4 DC; "грудная клетка": E3 F0 F3 E4 ED E0 FF 20 EA EB E5 F2 EA E0.
  std::string grud = "\xC3\xD0\xD3\xC4\xDC";
  std::string charset;
  CHECK(has_reading(plausible_readings(grud, "ISO_IR 100"), "\xD0\x93\xD0\xA0\xD0\xA3\xD0\x94\xD0\xAC", &charset));
  CHECK(charset == "windows-1251");
  std::string kletka = "\xE3\xF0\xF3\xE4\xED\xE0\xFF \xEA\xEB\xE5\xF2\xEA\xE0";
  CHECK(has_reading(plausible_readings(kletka, "ISO_IR 100"),
                    "\xD0\xB3\xD1\x80\xD1\x83\xD0\xB4\xD0\xBD\xD0\xB0\xD1\x8F"));  // грудная
  // Also when the Latin-1 misreading was re-encoded to UTF-8 on the way.
  std::string via_latin1 = decode_latin1(grud);
  CHECK(has_reading(plausible_readings(via_latin1, "ISO_IR 192"), "\xD0\x93\xD0\xA0\xD0\xA3\xD0\x94\xD0\xAC",
                    &charset));
  CHECK(charset == "windows-1251 via Latin-1 mojibake");
}

TEST_CASE("KOI8-R when declared by its (non-standard) name") {
  CHECK(decode_to_utf8("\xE7\xF2\xF5\xE4\xF8", "KOI8-R") == "\xD0\x93\xD0\xA0\xD0\xA3\xD0\x94\xD0\xAC");  // ГРУДЬ
}

TEST_CASE("pure ASCII has exactly one reading") {
  auto r = plausible_readings("CHEST 1.25mm", "GB18030");
  REQUIRE(r.size() == 1);
  CHECK(r[0].text == "CHEST 1.25mm");
  CHECK(r[0].lossless);
}

TEST_CASE("undecodable bytes become a lossy reading, never an exception") {
  bool ok = true;
  std::string s = decode_charset("\xFF\xFE\x80", "ISO_IR 192", &ok);
  CHECK_FALSE(ok);
  CHECK(s.find("\xEF\xBF\xBD") != std::string::npos);
  // Undeclared and not UTF-8/GBK: Latin-1 is the last resort (every byte means something).
  CHECK(decode_to_utf8("\xFF\x80", "") == "\xC3\xBF\xC2\x80");
  // Unknown declared charset: lossy default repertoire, marked as such.
  auto readings = plausible_readings("\xFF\xFF", "ISO_IR 999");
  bool lossy_declared = false;
  for (const auto& r : readings) lossy_declared = lossy_declared || (r.charset == "ISO_IR 999" && !r.lossless);
  CHECK(lossy_declared);
}

TEST_CASE("random bytes under every charset: no crash, always valid UTF-8 out") {
  std::mt19937 rng(7);
  const char* charsets[] = {"", "ISO_IR 100", "ISO_IR 192", "GB18030", "GBK", "ISO_IR 144", "ISO_IR 13",
                            "\\ISO 2022 IR 87", "ISO 2022 IR 13\\ISO 2022 IR 87", "\\ISO 2022 IR 149",
                            "\\ISO 2022 IR 58", "ISO_IR 126", "KOI8-R", "nonsense\\\\\\"};
  for (int i = 0; i < 3000; ++i) {
    std::string raw(rng() % 40, '\0');
    for (auto& c : raw) c = static_cast<char>(rng() % 4 == 0 ? 0x1B : rng() % 256);
    for (const char* scs : charsets) {
      std::string out = decode_to_utf8(raw, scs);
      REQUIRE(is_valid_utf8(out));
      for (const auto& r : plausible_readings(raw, scs)) REQUIRE(is_valid_utf8(r.text));
    }
  }
}

TEST_CASE("case folding covers ASCII, Latin-1 and Cyrillic") {
  CHECK(fold_case("Chest") == "chest");
  CHECK(fold_case("\xD0\x93\xD0\xA0\xD0\xA3\xD0\x94\xD0\xAC") ==
        "\xD0\xB3\xD1\x80\xD1\x83\xD0\xB4\xD1\x8C");  // ГРУДЬ -> грудь
  CHECK(fold_case(kChestUtf8 + kLungUtf8) == kChestUtf8 + kLungUtf8);
}
