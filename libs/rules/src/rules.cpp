#include "pacspull/rules/rules.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "pacspull/rules/charset.hpp"
#include "text_match.hpp"

namespace pacspull::rules {

std::string_view to_string(Family f) noexcept {
  switch (f) {
    case Family::Ct: return "CT";
    case Family::Dx: return "DX";
    case Family::Other: return "Other";
    case Family::Unknown: break;
  }
  return "Unknown";
}

std::string_view to_string(Level l) noexcept {
  switch (l) {
    case Level::Study: return "study";
    case Level::Series: return "series";
    case Level::Instance: return "instance";
  }
  return "?";
}

std::string_view to_string(KernelWindow w) noexcept {
  switch (w) {
    case KernelWindow::Lung: return "lung";
    case KernelWindow::Mediastinal: return "mediastinal";
    case KernelWindow::None: break;
  }
  return "none";
}

namespace {

bool contains_upper(const std::vector<std::string>& list, std::string_view value_upper) {
  for (const auto& m : list)
    if (detail::upper_ascii(m) == value_upper) return true;
  return false;
}

// Every field of a RuleSet, in a fixed order, fed to a visitor: canonical() prints them
// and version() hashes them, so the two can never disagree about what counts. Adding a
// field to RuleSet means adding it here (the version must change whenever behaviour can).
template <class V>
void visit_fields(const RuleSet& rs, V& v) {
  v("schema", 1L);
  v("chest_keywords", rs.chest_keywords);
  v("extra_keywords", rs.extra_keywords);
  v("study_pass_without_modalities", rs.study_pass_without_modalities);
  v("ris.enabled", rs.ris.enabled);
  v("ris.tolerance", rs.ris.tolerance);
  v("ris.extra_keywords", rs.ris.extra_keywords);
  v("ct.enabled", rs.ct.enabled);
  v("ct.modalities", rs.ct.modalities);
  v("ct.extra_keywords", rs.ct.extra_keywords);
  v("ct.min_instances", rs.ct.min_instances);
  v("ct.max_slice_thickness", rs.ct.max_slice_thickness);
  v("ct.require_thin", rs.ct.require_thin);
  v("ct.thin_slice_thickness", rs.ct.thin_slice_thickness);
  v("ct.sane_slice_thickness_max", rs.ct.sane_slice_thickness_max);
  v("ct.assumed_coverage_mm", rs.ct.assumed_coverage_mm);
  v("ct.check_image_type", rs.ct.check_image_type);
  v("ct.image_type_required", rs.ct.image_type_required);
  v("ct.image_type_scan", rs.ct.image_type_scan);
  v("ct.image_type_excluded", rs.ct.image_type_excluded);
  v("ct.excluded_description_words", rs.ct.excluded_description_words);
  v("ct.require_contrast", rs.ct.require_contrast);
  v("ct.contrast_keywords", rs.ct.contrast_keywords);
  v("ct.kernel.prefer", static_cast<long>(rs.ct.kernel.prefer));
  v("ct.kernel.require", rs.ct.kernel.require);
  v("ct.kernel.over_thickness", rs.ct.kernel.over_thickness);
  v("ct.kernel.lung_kernels", rs.ct.kernel.lung_kernels);
  v("ct.kernel.mediastinal_kernels", rs.ct.kernel.mediastinal_kernels);
  v("dx.enabled", rs.dx.enabled);
  v("dx.modalities", rs.dx.modalities);
  v("dx.enabled_modalities", rs.dx.enabled_modalities);
  v("dx.extra_keywords", rs.dx.extra_keywords);
}

struct Printer {
  std::string out;
  void key(const char* k) {
    out += k;
    out += '=';
  }
  void operator()(const char* k, const std::vector<std::string>& v) {
    key(k);
    for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
    out += '\n';
  }
  void operator()(const char* k, bool v) {
    key(k);
    out += v ? "true\n" : "false\n";
  }
  void operator()(const char* k, long v) {
    key(k);
    out += std::to_string(v) + "\n";
  }
  void operator()(const char* k, double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    key(k);
    out += std::string(buf) + "\n";
  }
};

// A 64-bit multiply-xorshift hash over 8-byte words assembled explicitly (little-endian
// order regardless of the platform), so the version is stable across builds and runs.
// Word-at-a-time, and field names are not hashed (the order is fixed by visit_fields
// and "schema" changes with it), because evaluate() stamps every verdict with it.
struct Hasher {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  void word(uint64_t w) {
    h ^= w;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
  }
  void bytes(std::string_view s) {
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w = 0;
      for (int k = 7; k >= 0; --k) w = (w << 8) | static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      word(w);
    }
    uint64_t w = 0;
    for (size_t k = s.size(); k > i; --k) w = (w << 8) | static_cast<unsigned char>(s[k - 1]);
    word(w);
    word(s.size());  // length terminates the string: "ab","c" differs from "a","bc"
  }
  void u64(uint64_t v) { word(v); }
  void operator()(const char* k, const std::vector<std::string>& v) {
    u64(v.size());
    for (const auto& s : v) bytes(s);
  }
  void operator()(const char* k, bool v) {
    word(v ? 1 : 0);
  }
  void operator()(const char* k, long v) {
    u64(static_cast<uint64_t>(v));
  }
  void operator()(const char* k, double v) {
    uint64_t bits = 0;
    static_assert(sizeof bits == sizeof v);
    std::memcpy(&bits, &v, sizeof bits);
    u64(bits);
  }
};

}  // namespace

std::string RuleSet::canonical() const {
  Printer p;
  visit_fields(*this, p);
  return p.out;
}

std::string RuleSet::version() const {
  Hasher h;
  visit_fields(*this, h);
  char buf[32];
  std::snprintf(buf, sizeof buf, "r1-%016llx", static_cast<unsigned long long>(h.h));
  return buf;
}

Family family_of(const RuleSet& rs, std::string_view modality) {
  std::string m = detail::upper_ascii(core::trim_dicom(modality));
  if (m.empty()) return Family::Unknown;
  if (contains_upper(rs.ct.modalities, m)) return Family::Ct;
  if (contains_upper(rs.dx.modalities, m)) return Family::Dx;
  return Family::Other;
}

KernelWindow kernel_window(const RuleSet& rs, std::string_view kernel) {
  auto values = core::split_multi(kernel);
  if (values.empty()) return KernelWindow::None;
  std::string k = detail::upper_ascii(values.front());
  auto matches = [&](const std::vector<std::string>& list) {
    for (const auto& t : list) {
      std::string u = detail::upper_ascii(t);
      if (k == u || (u.size() >= 3 && k.rfind(u, 0) == 0)) return true;
    }
    return false;
  };
  if (matches(rs.ct.kernel.lung_kernels)) return KernelWindow::Lung;
  if (matches(rs.ct.kernel.mediastinal_kernels)) return KernelWindow::Mediastinal;
  return KernelWindow::None;
}

}  // namespace pacspull::rules
