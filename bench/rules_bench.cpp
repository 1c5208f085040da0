// rules_bench: series-level evaluate() over 10,000 synthetic series (CT/DX/MR, ASCII,
// UTF-8, GBK and mojibake text). Prints verdicts/second; not a pass/fail test.
// Usage: rules_bench [series_count=10000] [rounds=5]
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "pacspull/rules/rules.hpp"

namespace {

using pacspull::core::AttributeMap;

std::vector<AttributeMap> make_series(size_t n) {
  std::mt19937 rng(42);  // fixed seed: the same workload every run
  const char* modalities[] = {"CT", "CT", "CT", "DX", "CR", "MR", "RF"};
  const char* bodies[] = {"CHEST", "", "", "HAND", "ABDOMEN", "\xD0\xD8\xB2\xBF" /* 胸部 GBK */};
  const char* descriptions[] = {"CHEST 1.25mm B70f", "\xC3\x90\xC3\x98 plain" /* mojibake 胸 */,
                                "\xE8\x83\xB8\xE9\x83\xA8 CT" /* UTF-8 胸部 */, "Topogram 0.6 T20s", "111",
                                "Abdomen routine", "\xCF\xD0\xD0\xA1 5mm" /* GBK 肺小 */};
  const char* charsets[] = {"", "ISO_IR 100", "ISO_IR 192", "GB18030", ""};
  const char* thickness[] = {"1.25", "5", "8", "0", "", "0.625", "2"};
  const char* image_types[] = {"ORIGINAL\\PRIMARY\\AXIAL", "ORIGINAL\\PRIMARY\\HELICAL", "DERIVED\\SECONDARY\\MPR",
                               "ORIGINAL\\PRIMARY\\LOCALIZER"};
  const char* counts[] = {"1", "3", "64", "300", "512", ""};
  auto pick = [&](auto& arr) { return arr[rng() % (sizeof(arr) / sizeof(arr[0]))]; };
  std::vector<AttributeMap> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    AttributeMap a;
    a.set("Modality", pick(modalities));
    a.set("SpecificCharacterSet", pick(charsets));
    a.set("BodyPartExamined", pick(bodies));
    a.set("SeriesDescription", pick(descriptions));
    a.set("StudyDescription", pick(descriptions));
    a.set("ProtocolName", pick(descriptions));
    a.set("SliceThickness", pick(thickness));
    a.set("ImageType", pick(image_types));
    a.set("NumberOfSeriesRelatedInstances", pick(counts));
    a.set("ConvolutionKernel", "B70f");
    a.set("SeriesNumber", std::to_string(i % 12));
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  pacspull::rules::RuleSet rs;
  auto series = make_series(n);
  // Wall time is what a caller waits; CPU time is printed too because on a shared
  // machine the wall figure includes time spent waiting for a core.
  double best_ms = 1e300;
  double best_cpu_ms = 1e300;
  size_t passed = 0;
  for (int r = 0; r < rounds; ++r) {
    passed = 0;
    auto t0 = std::chrono::steady_clock::now();
    std::clock_t c0 = std::clock();
    for (const auto& a : series) passed += pacspull::rules::evaluate(rs, pacspull::rules::Level::Series, a).pass;
    double cpu_ms = 1000.0 * static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    best_ms = ms < best_ms ? ms : best_ms;
    best_cpu_ms = cpu_ms < best_cpu_ms ? cpu_ms : best_cpu_ms;
    std::printf("round %d: %zu series in %.1f ms wall, %.1f ms cpu\n", r + 1, n, ms, cpu_ms);
  }
  std::printf("rules_bench: %zu series, %zu passed, best %.1f ms total (%.1f ms cpu), %.0f verdicts/second\n", n,
              passed, best_ms, best_cpu_ms, static_cast<double>(n) / (best_ms / 1000.0));
  return 0;
}
