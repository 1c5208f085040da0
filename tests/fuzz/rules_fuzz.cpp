// libFuzzer target: decode_to_utf8 / plausible_readings and evaluate() at every level,
// with attributes, SpecificCharacterSet, context and rule switches carved from the input;
// plus select_series / is_better over candidates built from the verdicts.
// Invariants checked (abort => libFuzzer reports a crash): every decoded text, reason and
// looked-at value is valid UTF-8, and every verdict has a rule and a reason.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>

#include "pacspull/rules/charset.hpp"
#include "pacspull/rules/rules.hpp"

using namespace pacspull::rules;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

const char* const kCharsets[] = {"",           "ISO_IR 100",      "ISO_IR 192",       "GB18030",
                                 "GBK",        "ISO_IR 144",      "ISO_IR 13",        "\\ISO 2022 IR 87",
                                 "\\ISO 2022 IR 149", "\\ISO 2022 IR 58", "ISO 2022 IR 13\\ISO 2022 IR 87",
                                 "ISO_IR 126", "ISO_IR 166",      "KOI8-R",           "WINDOWS-1251"};
const char* const kModalities[] = {"CT", "DX", "CR", "DR", "RF", "OT", "MR", "", "CT\\PR", "MG\\CT"};
const char* const kKeys[] = {"BodyPartExamined", "ProtocolName", "StudyDescription", "SeriesDescription",
                             "ImageComments", "ImageType", "SliceThickness", "NumberOfSeriesRelatedInstances",
                             "ConvolutionKernel", "SeriesNumber"};

void check_verdict(const Verdict& v) {
  require(!v.rule.empty(), "verdict has a rule");
  require(!v.reason.empty(), "verdict has a reason");
  require(is_valid_utf8(v.reason), "reason is UTF-8");
  for (const auto& [name, value] : v.looked_at) require(is_valid_utf8(value), "looked-at value is UTF-8");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);

  // 1. Raw decoding under a chosen or fuzzed declaration.
  std::string scs = in.ConsumeBool() ? in.PickValueInArray(kCharsets) : in.ConsumeRandomLengthString(24);
  std::string raw = in.ConsumeRandomLengthString(64);
  std::string best = decode_to_utf8(raw, scs);
  require(is_valid_utf8(best), "decode_to_utf8 returns UTF-8");
  auto readings = plausible_readings(raw, scs);
  require(!readings.empty(), "at least one reading");
  for (const auto& r : readings) require(is_valid_utf8(r.text), "reading is UTF-8");
  require(is_valid_utf8(fold_case(best)), "fold_case keeps UTF-8");

  // 2. Rules with fuzzed switches.
  RuleSet rs;
  rs.ris.tolerance = in.ConsumeBool();
  rs.ct.require_thin = in.ConsumeBool();
  rs.ct.require_contrast = in.ConsumeBool();
  rs.ct.kernel.prefer = static_cast<KernelWindow>(in.ConsumeIntegralInRange<int>(0, 2));
  rs.ct.kernel.require = in.ConsumeBool();
  rs.ct.kernel.over_thickness = in.ConsumeBool();
  rs.study_pass_without_modalities = in.ConsumeBool();
  if (in.ConsumeBool()) rs.extra_keywords.push_back(in.ConsumeRandomLengthString(8));

  pacspull::core::AttributeMap attrs;
  attrs.set("SpecificCharacterSet", scs);
  attrs.set("Modality", in.ConsumeBool() ? in.PickValueInArray(kModalities) : in.ConsumeRandomLengthString(6));
  attrs.set("ModalitiesInStudy", in.PickValueInArray(kModalities));
  for (const char* key : kKeys)
    if (in.ConsumeBool()) attrs.set(key, in.ConsumeRandomLengthString(32));

  Context ctx;
  if (in.ConsumeBool()) ctx.instance_count = in.ConsumeIntegral<long>();
  if (in.ConsumeBool()) ctx.ris_body_parts.push_back(in.ConsumeRandomLengthString(16));
  if (in.ConsumeBool()) ctx.ris_day_body_parts.push_back(in.ConsumeRandomLengthString(16));
  if (in.ConsumeBool()) ctx.manual_series_number = in.ConsumeIntegral<long>();

  std::vector<SeriesCandidate> candidates;
  for (Level level : {Level::Study, Level::Series, Level::Instance}) {
    Verdict v = evaluate(rs, level, attrs, ctx);
    check_verdict(v);
    if (level != Level::Study) {
      candidates.push_back(SeriesCandidate{pacspull::core::SeriesUid(std::to_string(candidates.size())), v.family,
                                           v.pass, v.slice_thickness, in.ConsumeIntegral<long>(),
                                           attrs.trimmed("ConvolutionKernel"), "", in.ConsumeIntegral<long>()});
    }
  }

  // 3. Selection and re-dispatch over what the verdicts produced.
  Selection sel = select_series(rs, candidates);
  require(!sel.reason.empty(), "selection has a reason");
  std::string why;
  is_better(rs, candidates[0], candidates[1], &why);
  require(!why.empty(), "is_better explains itself");
  return 0;
}
