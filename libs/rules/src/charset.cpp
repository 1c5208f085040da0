#include "pacspull/rules/charset.hpp"

#include <array>
#include <cstdint>

namespace pacspull::rules {
namespace tables {
#include "charset_tables.inc"
}  // namespace tables

namespace {

constexpr char32_t kReplacement = 0xFFFD;

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes one code point of valid UTF-8 at s[i], advancing i. Invalid input yields
// U+FFFD and advances one byte (callers only use it on validated text).
char32_t next_cp(std::string_view s, size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    ++i;
    return b;
  }
  size_t n = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0;
  if (n == 0 || i + n >= s.size()) {
    ++i;
    return kReplacement;
  }
  char32_t cp = b & (0x3F >> n);
  for (size_t k = 1; k <= n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n + 1;
  return cp;
}

// Plain 7-bit text with no ISO 2022 escape: every charset reads it the same way.
bool is_ascii(std::string_view s) noexcept {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80 || c == 0x1B) return false;
  return true;
}

// The double-byte tables, unpacked once from their UTF-8 row literals.
struct DbcsTables {
  std::array<uint16_t, 126 * 190> gbk{};
  std::array<uint16_t, 94 * 94> jis0208{};
  std::array<uint16_t, 94 * 94> ksx1001{};

  template <size_t N, size_t Rows>
  static void unpack(std::array<uint16_t, N>& dst, const char* const (&rows)[Rows], size_t cells) {
    for (size_t r = 0; r < Rows; ++r) {
      std::string_view row(rows[r]);
      size_t i = 0;
      for (size_t c = 0; c < cells && i < row.size(); ++c) {
        char32_t cp = next_cp(row, i);
        dst[r * cells + c] = (cp == U'?' || cp > 0xFFFF) ? 0 : static_cast<uint16_t>(cp);
      }
    }
  }

  DbcsTables() {
    unpack(gbk, tables::kGbkRows, 190);
    unpack(jis0208, tables::kJis0208Rows, 94);
    unpack(ksx1001, tables::kKsx1001Rows, 94);
  }
};

const DbcsTables& dbcs() {
  static const DbcsTables t;  // thread-safe one-time initialisation
  return t;
}

// GBK two-byte lookup; 0 when unmapped or out of range.
char32_t gbk_pair(unsigned char lead, unsigned char trail) {
  if (lead < 0x81 || lead > 0xFE || trail < 0x40 || trail > 0xFE || trail == 0x7F) return 0;
  size_t col = trail < 0x7F ? trail - 0x40 : trail - 0x41;
  return dbcs().gbk[(lead - 0x81) * 190 + col];
}

char32_t gb18030_four(size_t linear) {
  constexpr size_t n = sizeof(tables::kGb18030Ranges) / sizeof(tables::kGb18030Ranges[0]);
  if (linear >= 39420) return 0;
  // Ranges are sorted by index; find the last start <= linear.
  size_t lo = 0;
  size_t hi = n;
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (tables::kGb18030Ranges[mid][0] <= linear)
      lo = mid;
    else
      hi = mid;
  }
  if (tables::kGb18030Ranges[lo][0] > linear) return 0;
  return tables::kGb18030Ranges[lo][1] + static_cast<char32_t>(linear - tables::kGb18030Ranges[lo][0]);
}

std::string decode_sbcs(std::string_view raw, const unsigned short (&upper)[128], bool* ok) {
  std::string out;
  out.reserve(raw.size() * 2);
  bool good = true;
  for (char c : raw) {
    auto b = static_cast<unsigned char>(c);
    if (b < 0x80) {
      out.push_back(c);
    } else if (char32_t cp = upper[b - 0x80]; cp != 0) {
      append_utf8(out, cp);
    } else {
      append_utf8(out, kReplacement);
      good = false;
    }
  }
  if (ok) *ok = good;
  return out;
}

std::string decode_ascii_only(std::string_view raw, bool* ok) {
  std::string out;
  out.reserve(raw.size());
  bool good = true;
  for (char c : raw) {
    if (static_cast<unsigned char>(c) < 0x80) {
      out.push_back(c);
    } else {
      append_utf8(out, kReplacement);
      good = false;
    }
  }
  if (ok) *ok = good;
  return out;
}

std::string decode_utf8_lossy(std::string_view raw, bool* ok) {
  if (is_valid_utf8(raw)) {
    if (ok) *ok = true;
    return std::string(raw);
  }
  // Keep the valid parts, replace each invalid byte.
  std::string out;
  size_t i = 0;
  while (i < raw.size()) {
    size_t j = i + 1;
    auto b = static_cast<unsigned char>(raw[i]);
    size_t len = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
    if (len > 0 && i + len <= raw.size() && is_valid_utf8(raw.substr(i, len))) {
      out.append(raw.substr(i, len));
      i += len;
    } else {
      append_utf8(out, kReplacement);
      i = j;
    }
  }
  if (ok) *ok = false;
  return out;
}

// --- SpecificCharacterSet terms ---------------------------------------------------

enum class Kind {
  Default,  // ISO 646 (ASCII); also unknown terms
  Utf8,
  Gb18030,
  Latin1,
  Sbcs,  // table in `table`
  JisX0201,
  Win1251,
  Koi8r,
};

struct Term {
  Kind kind = Kind::Default;
  const unsigned short (*table)[128] = nullptr;
  bool iso2022 = false;
  bool known = true;
};

std::string upper_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return out;
}

std::string trim_term(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\0')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\0')) --e;
  return upper_ascii(s.substr(b, e - b));
}

Term sbcs_term(const unsigned short (&t)[128]) {
  Term term;
  term.kind = Kind::Sbcs;
  term.table = &t;
  return term;
}

// The IR number of "ISO_IR nnn" / "ISO 2022 IR nnn"; -1 when the term is neither.
int ir_number(const std::string& t, bool* iso2022) {
  std::string_view v(t);
  *iso2022 = false;
  if (v.rfind("ISO_IR ", 0) == 0) {
    v.remove_prefix(7);
  } else if (v.rfind("ISO 2022 IR ", 0) == 0) {
    v.remove_prefix(12);
    *iso2022 = true;
  } else {
    return -1;
  }
  int n = 0;
  if (v.empty() || v.size() > 4) return -1;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

Term parse_term(const std::string& t) {
  Term term;
  if (t.empty()) return term;
  bool iso2022 = false;
  int ir = ir_number(t, &iso2022);
  term.iso2022 = iso2022;
  switch (ir) {
    case 6: return term;
    case 100: term.kind = Kind::Latin1; return term;
    case 101: term = sbcs_term(tables::k_latin2); break;
    case 109: term = sbcs_term(tables::k_latin3); break;
    case 110: term = sbcs_term(tables::k_latin4); break;
    case 144: term = sbcs_term(tables::k_cyrillic); break;
    case 127: term = sbcs_term(tables::k_arabic); break;
    case 126: term = sbcs_term(tables::k_greek); break;
    case 138: term = sbcs_term(tables::k_hebrew); break;
    case 148: term = sbcs_term(tables::k_latin5); break;
    case 166: term = sbcs_term(tables::k_thai); break;
    case 13: term.kind = Kind::JisX0201; break;
    case 192: term.kind = Kind::Utf8; break;
    case 58: term.kind = Kind::Gb18030; break;  // GB2312 bytes are a subset of GBK
    case 87:
    case 149:
    case 159: break;  // only meaningful inside ISO 2022 (designated by escapes)
    default:
      if (ir >= 0) {
        term.known = false;
        return term;
      }
      if (t == "GB18030" || t == "GBK" || t == "GB2312" || t == "CP936" || t == "EUC-CN") {
        term.kind = Kind::Gb18030;
      } else if (t == "UTF-8" || t == "UTF8") {
        term.kind = Kind::Utf8;
      } else if (t == "WINDOWS-1251" || t == "CP1251" || t == "WIN1251") {
        term.kind = Kind::Win1251;
      } else if (t == "KOI8-R" || t == "KOI8") {
        term.kind = Kind::Koi8r;
      } else if (t == "ISO-8859-1" || t == "LATIN1") {
        term.kind = Kind::Latin1;
      } else if (t == "ISO-8859-5") {
        term = sbcs_term(tables::k_cyrillic);
      } else {
        term.known = false;
      }
      return term;
  }
  term.iso2022 = iso2022;
  return term;
}

std::vector<std::string> split_terms(std::string_view scs) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = scs.find('\\', start);
    out.push_back(trim_term(scs.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start)));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

// --- ISO 2022 ----------------------------------------------------------------------

enum class G0 { Ascii, JisRoman, Jis0208, Jis0212 };
enum class G1 { None, Latin1, Sbcs, Katakana, Ksx1001, Gb2312 };

struct Iso2022State {
  G0 g0 = G0::Ascii;
  G1 g1 = G1::None;
  const unsigned short (*g1_table)[128] = nullptr;
};

Iso2022State initial_state(const Term& first) {
  Iso2022State s;
  switch (first.kind) {
    case Kind::Latin1: s.g1 = G1::Latin1; break;
    case Kind::Sbcs:
      s.g1 = G1::Sbcs;
      s.g1_table = first.table;
      break;
    case Kind::JisX0201:
      s.g1 = G1::Katakana;
      s.g0 = G0::JisRoman;
      break;
    default: break;
  }
  return s;
}

std::string decode_iso2022(std::string_view raw, const std::vector<std::string>& terms, bool* ok) {
  const Iso2022State initial = initial_state(parse_term(terms.empty() ? std::string() : terms.front()));
  Iso2022State st = initial;
  bool good = true;
  std::string out;
  out.reserve(raw.size() * 2);
  const size_t n = raw.size();
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<unsigned char>(raw[k]); };
  auto bad = [&] {
    append_utf8(out, kReplacement);
    good = false;
  };
  while (i < n) {
    unsigned char b = byte(i);
    if (b == 0x1B) {
      auto rest = raw.substr(i + 1);
      auto starts = [&](std::string_view p) { return rest.substr(0, p.size()) == p; };
      size_t len = 0;
      if (starts("(B")) {
        st.g0 = G0::Ascii, len = 2;
      } else if (starts("(J")) {
        st.g0 = G0::JisRoman, len = 2;
      } else if (starts(")I")) {
        st.g1 = G1::Katakana, len = 2;
      } else if (starts("$B") || starts("$@")) {
        st.g0 = G0::Jis0208, len = 2;
      } else if (starts("$(D")) {
        st.g0 = G0::Jis0212, len = 3;
      } else if (starts("$)C")) {
        st.g1 = G1::Ksx1001, len = 3;
      } else if (starts("$)A")) {
        st.g1 = G1::Gb2312, len = 3;
      } else if (rest.size() >= 2 && rest[0] == '-') {
        len = 2;
        switch (rest[1]) {
          case 'A': st.g1 = G1::Latin1; break;
          case 'B': st.g1 = G1::Sbcs, st.g1_table = &tables::k_latin2; break;
          case 'C': st.g1 = G1::Sbcs, st.g1_table = &tables::k_latin3; break;
          case 'D': st.g1 = G1::Sbcs, st.g1_table = &tables::k_latin4; break;
          case 'L': st.g1 = G1::Sbcs, st.g1_table = &tables::k_cyrillic; break;
          case 'G': st.g1 = G1::Sbcs, st.g1_table = &tables::k_arabic; break;
          case 'F': st.g1 = G1::Sbcs, st.g1_table = &tables::k_greek; break;
          case 'H': st.g1 = G1::Sbcs, st.g1_table = &tables::k_hebrew; break;
          case 'M': st.g1 = G1::Sbcs, st.g1_table = &tables::k_latin5; break;
          case 'T': st.g1 = G1::Sbcs, st.g1_table = &tables::k_thai; break;
          default: len = 0;
        }
      }
      if (len == 0) {
        bad();  // unknown escape: drop the ESC byte only
        ++i;
      } else {
        i += 1 + len;
      }
      continue;
    }
    if (b < 0x80) {
      if (b == '\r' || b == '\n' || b == '\t' || b == '\f') st = initial;  // PS3.5 6.1.2.5.3
      if ((st.g0 == G0::Jis0208 || st.g0 == G0::Jis0212) && b >= 0x21 && b <= 0x7E) {
        if (i + 1 < n && byte(i + 1) >= 0x21 && byte(i + 1) <= 0x7E && st.g0 == G0::Jis0208) {
          char32_t cp = dbcs().jis0208[(b - 0x21) * 94 + (byte(i + 1) - 0x21)];
          cp ? append_utf8(out, cp) : bad();
        } else {
          bad();
        }
        i += 2;
        continue;
      }
      if (st.g0 == G0::JisRoman && b == 0x5C) {
        append_utf8(out, 0xA5);
      } else if (st.g0 == G0::JisRoman && b == 0x7E) {
        append_utf8(out, 0x203E);
      } else {
        out.push_back(static_cast<char>(b));
      }
      ++i;
      continue;
    }
    switch (st.g1) {
      case G1::None: bad(); ++i; break;
      case G1::Latin1: append_utf8(out, b); ++i; break;
      case G1::Sbcs: {
        char32_t cp = (*st.g1_table)[b - 0x80];
        cp ? append_utf8(out, cp) : bad();
        ++i;
        break;
      }
      case G1::Katakana:
        (b >= 0xA1 && b <= 0xDF) ? append_utf8(out, 0xFF61 + (b - 0xA1)) : bad();
        ++i;
        break;
      case G1::Ksx1001:
      case G1::Gb2312: {
        if (i + 1 < n && b >= 0xA1 && byte(i + 1) >= 0xA1 && byte(i + 1) <= 0xFE && b <= 0xFE) {
          char32_t cp = st.g1 == G1::Ksx1001 ? dbcs().ksx1001[(b - 0xA1) * 94 + (byte(i + 1) - 0xA1)]
                                             : gbk_pair(b, byte(i + 1));
          cp ? append_utf8(out, cp) : bad();
          i += 2;
        } else {
          bad();
          ++i;
        }
        break;
      }
    }
  }
  if (ok) *ok = good;
  return out;
}

std::string decode_with(const Term& t, std::string_view raw, bool* ok) {
  switch (t.kind) {
    case Kind::Default: {
      std::string s = decode_ascii_only(raw, ok);
      if (ok && !t.known) *ok = false;
      return s;
    }
    case Kind::Utf8: return decode_utf8_lossy(raw, ok);
    case Kind::Gb18030: return decode_gb18030(raw, ok);
    case Kind::Latin1:
      if (ok) *ok = true;
      return decode_latin1(raw);
    case Kind::Sbcs: return decode_sbcs(raw, *t.table, ok);
    case Kind::JisX0201: {
      std::vector<std::string> terms{"ISO 2022 IR 13"};
      return decode_iso2022(raw, terms, ok);
    }
    case Kind::Win1251: return decode_win1251(raw, ok);
    case Kind::Koi8r: return decode_koi8r(raw, ok);
  }
  if (ok) *ok = false;
  return std::string(raw);
}

bool any_iso2022(const std::vector<std::string>& terms) {
  for (const auto& t : terms)
    if (t.find("2022") != std::string::npos) return true;
  return false;
}

// Decodes per the declaration; `single_byte` tells whether the declared set is one
// where any byte string decodes (so a valid multi-byte UTF-8 string is more likely
// UTF-8 mislabelled than Latin text that happens to look like UTF-8).
std::string decode_declared(std::string_view raw, std::string_view scs, bool* ok, bool* single_byte, bool* declared) {
  auto terms = split_terms(scs);
  *declared = !(terms.size() == 1 && terms.front().empty());
  if (any_iso2022(terms)) {
    *single_byte = false;
    return decode_iso2022(raw, terms, ok);
  }
  Term t = parse_term(terms.front());
  *single_byte = t.kind == Kind::Default || t.kind == Kind::Latin1 || t.kind == Kind::Sbcs ||
                 t.kind == Kind::Win1251 || t.kind == Kind::Koi8r;
  return decode_with(t, raw, ok);
}

std::string declared_name(std::string_view scs) {
  auto terms = split_terms(scs);
  std::string name;
  for (const auto& t : terms) {
    if (!name.empty()) name += "\\";
    name += t;
  }
  return name.empty() || name == "\\" ? std::string("default repertoire") : name;
}

bool all_latin1_range(std::string_view utf8, bool* has_high) {
  *has_high = false;
  size_t i = 0;
  while (i < utf8.size()) {
    char32_t cp = next_cp(utf8, i);
    if (cp > 0xFF) return false;
    if (cp >= 0x80) *has_high = true;
  }
  return true;
}

std::string to_latin1_bytes(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  size_t i = 0;
  while (i < utf8.size()) out.push_back(static_cast<char>(next_cp(utf8, i)));
  return out;
}

bool has_multibyte(std::string_view decoded) {
  for (char c : decoded)
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  return false;
}

}  // namespace

bool is_valid_utf8(std::string_view s) noexcept {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    char32_t cp;
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2, cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3, cp = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4, cp = b & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

std::string decode_latin1(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) append_utf8(out, static_cast<unsigned char>(c));
  return out;
}

std::string decode_win1251(std::string_view raw, bool* ok) { return decode_sbcs(raw, tables::k_win1251, ok); }
std::string decode_koi8r(std::string_view raw, bool* ok) { return decode_sbcs(raw, tables::k_koi8r, ok); }

std::string decode_gb18030(std::string_view raw, bool* ok) {
  std::string out;
  out.reserve(raw.size() * 2);
  bool good = true;
  const size_t n = raw.size();
  auto byte = [&](size_t k) { return static_cast<unsigned char>(raw[k]); };
  size_t i = 0;
  while (i < n) {
    unsigned char b = byte(i);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    if (b == 0x80 || b == 0xFF || i + 1 >= n) {
      append_utf8(out, kReplacement), good = false, ++i;
      continue;
    }
    unsigned char b2 = byte(i + 1);
    if (b2 >= 0x30 && b2 <= 0x39) {
      if (i + 3 < n && byte(i + 2) >= 0x81 && byte(i + 2) <= 0xFE && byte(i + 3) >= 0x30 && byte(i + 3) <= 0x39) {
        size_t linear = (b - 0x81) * 12600u + (b2 - 0x30) * 1260u + (byte(i + 2) - 0x81) * 10u + (byte(i + 3) - 0x30);
        char32_t cp = 0;
        if (b <= 0x84) {
          cp = gb18030_four(linear);
        } else if (b >= 0x90 && b <= 0xE3) {
          size_t sup = linear - 189000;  // 0x90308130 is U+10000
          if (sup <= 0xFFFFF) cp = static_cast<char32_t>(0x10000 + sup);
        }
        if (cp) {
          append_utf8(out, cp);
        } else {
          append_utf8(out, kReplacement), good = false;
        }
        i += 4;
      } else {
        append_utf8(out, kReplacement), good = false, ++i;
      }
      continue;
    }
    if (char32_t cp = gbk_pair(b, b2); cp != 0) {
      append_utf8(out, cp);
      i += 2;
    } else {
      append_utf8(out, kReplacement), good = false, ++i;
    }
  }
  if (ok) *ok = good;
  return out;
}

std::string decode_charset(std::string_view raw, std::string_view scs, bool* ok) {
  bool single_byte = false;
  bool declared = false;
  return decode_declared(raw, scs, ok, &single_byte, &declared);
}

std::vector<Reading> plausible_readings(std::string_view raw, std::string_view scs) {
  std::vector<Reading> out;
  if (is_ascii(raw)) {
    out.push_back({"ASCII", std::string(raw), true});
    return out;
  }
  auto add = [&](std::string charset, std::string text, bool lossless) {
    for (const auto& r : out)
      if (r.text == text) return;
    out.push_back({std::move(charset), std::move(text), lossless});
  };
  bool declared_ok = false;
  bool single_byte = false;
  bool declared = false;
  std::string declared_text = decode_declared(raw, scs, &declared_ok, &single_byte, &declared);
  const bool utf8 = is_valid_utf8(raw);
  bool gb_ok = false;
  std::string gb = decode_gb18030(raw, &gb_ok);

  // Best first (the decode_to_utf8 policy), then the rest.
  if (declared_ok && !(single_byte && utf8)) {
    add(declared_name(scs), declared_text, true);
  } else if (utf8) {
    add("UTF-8", std::string(raw), true);
  } else if (gb_ok) {
    add("GB18030", gb, true);
  } else if (!declared) {
    add("Latin-1", decode_latin1(raw), true);
  }
  add(declared_name(scs), std::move(declared_text), declared_ok);
  if (utf8) add("UTF-8", std::string(raw), true);
  if (gb_ok) add("GB18030", std::move(gb), true);
  bool w_ok = false;
  std::string w = decode_win1251(raw, &w_ok);
  if (w_ok) add("windows-1251", std::move(w), true);
  if (utf8) {
    bool has_high = false;
    if (all_latin1_range(raw, &has_high) && has_high) {
      std::string bytes = to_latin1_bytes(raw);
      bool ok2 = false;
      std::string g2 = decode_gb18030(bytes, &ok2);
      if (ok2 && has_multibyte(g2)) add("GB18030 via Latin-1 mojibake", std::move(g2), true);
      std::string w2 = decode_win1251(bytes, &ok2);
      if (ok2) add("windows-1251 via Latin-1 mojibake", std::move(w2), true);
    }
  }
  return out;
}

std::string decode_to_utf8(std::string_view raw, std::string_view scs) {
  try {
    if (is_ascii(raw)) return std::string(raw);
    bool declared_ok = false;
    bool single_byte = false;
    bool declared = false;
    std::string text = decode_declared(raw, scs, &declared_ok, &single_byte, &declared);
    const bool utf8 = is_valid_utf8(raw);
    if (declared_ok && !(single_byte && utf8)) return text;
    if (utf8) return std::string(raw);
    bool gb_ok = false;
    std::string gb = decode_gb18030(raw, &gb_ok);
    if (gb_ok) return gb;
    if (!declared) return decode_latin1(raw);
    return text;
  } catch (...) {
    // Only allocation can throw here; an empty reading is the safe answer.
    return std::string();
  }
}

std::string fold_case(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  if (is_ascii(s)) {
    for (char c : s) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    return out;
  }
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp = next_cp(s, i);
    if (cp >= 'A' && cp <= 'Z') {
      cp += 32;
    } else if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) {
      cp += 32;
    } else if (cp >= 0x410 && cp <= 0x42F) {
      cp += 32;
    } else if (cp >= 0x400 && cp <= 0x40F) {
      cp += 80;
    }
    append_utf8(out, cp);
  }
  return out;
}

}  // namespace pacspull::rules
