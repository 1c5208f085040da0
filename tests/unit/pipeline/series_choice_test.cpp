// Series choice before the move on full information (issue 9 part 3, bytes ratio): what may
// stay behind when the PACS answers an image header (ImageType, SliceThickness,
// ConvolutionKernel) at series level or from one image-level answer, and what must move
// when it does not. Integrity first: no series the filter would hand on is ever left.
#include <catch2/catch.hpp>

#include "pacspull/pipeline/series_choice.hpp"
#include "pacspull/rules/text.hpp"

using namespace pacspull;
using namespace pacspull::pipeline;

namespace {

// A CT series answer; `image_type` empty = the PACS gave no header (dcmqrscp).
core::AttributeMap ct(const std::string& uid, int number, long count, const std::string& thickness,
                      const std::string& image_type = "ORIGINAL\\PRIMARY\\AXIAL", const std::string& description = "CHEST",
                      const std::string& body = "CHEST") {
  core::AttributeMap m{{"SeriesInstanceUID", uid},
                       {"Modality", "CT"},
                       {"SeriesNumber", std::to_string(number)},
                       {"SeriesDescription", description},
                       {"BodyPartExamined", body},
                       {"NumberOfSeriesRelatedInstances", std::to_string(count)}};
  if (!image_type.empty()) {
    m.set("ImageType", image_type);
    m.set("SliceThickness", thickness);
  }
  return m;
}

bool moves(const SeriesChoice& c, const std::string& uid) {
  return c.whole_study || std::find(c.move.begin(), c.move.end(), uid) != c.move.end();
}

std::string why_dropped(const SeriesChoice& c, const std::string& uid) {
  for (const auto& [u, why] : c.dropped)
    if (u == uid) return why;
  return "";
}

}  // namespace

TEST_CASE("Header answered: scout, thicker passing series stay behind; only the selected series moves") {
  rules::RuleSet rs;
  // e2e01 as Orthanc answers it: topogram (LOCALIZER, 2), 5 mm (12), 1 mm (40).
  std::vector<core::AttributeMap> s{ct("scout", 1, 2, "", "ORIGINAL\\PRIMARY\\LOCALIZER", "TOPOGRAM"),
                                    ct("thick", 2, 12, "5"), ct("thin", 3, 40, "1")};
  SeriesChoice c = choose_series(rs, s, {});
  REQUIRE_FALSE(c.whole_study);
  CHECK(c.move == std::vector<std::string>{"thin"});
  CHECK(c.instances == 40);
  CHECK_FALSE(why_dropped(c, "scout").empty());
  CHECK_THAT(why_dropped(c, "thick"), Catch::Contains("filter will select series thin"));
}

TEST_CASE("Thickness lies: believed only as the filter believes them, and only with the header known") {
  rules::RuleSet rs;
  // e2e19: SliceThickness 5 (12), 0 (75: not believed, 300/75 = 4 mm), empty (10: 30 mm).
  std::vector<core::AttributeMap> s{ct("five", 1, 12, "5"), ct("zero", 2, 75, "0"), ct("empty", 3, 10, "")};
  SeriesChoice c = choose_series(rs, s, {});
  CHECK(c.move == std::vector<std::string>{"zero"});
  CHECK_THAT(why_dropped(c, "empty"), Catch::Contains("30 mm"));
  CHECK_THAT(why_dropped(c, "five"), Catch::Contains("filter will select series zero"));

  // The same series from a PACS that reads no header (dcmqrscp: Modality and counts only):
  // the 10-image series may carry a believable thin SliceThickness, so everything moves.
  std::vector<core::AttributeMap> bare{ct("five", 1, 12, "", ""), ct("zero", 2, 75, "", ""), ct("empty", 3, 10, "", "")};
  SeriesChoice b = choose_series(rs, bare, {});
  CHECK(b.whole_study);
  CHECK(b.dropped.empty());

  // A SliceThickness without a header behind it (a PACS database column) is not final.
  core::AttributeMap column = ct("thick8", 1, 40, "", "");
  column.set("SliceThickness", "8");
  SeriesChoice d = choose_series(rs, {column, ct("scout", 2, 2, "", "")}, {});
  CHECK(moves(d, "thick8"));
  // A PACS that fills ImageType but answers SliceThickness empty for every series (indexed
  // ImageType, not SliceThickness): an empty thickness is not known to be the header's, so
  // neither the 300/10 = 30 mm estimate nor the selection ahead is trusted.
  std::vector<core::AttributeMap> no_thickness{ct("a", 1, 12, ""), ct("b", 2, 75, ""), ct("c", 3, 10, "")};
  SeriesChoice f = choose_series(rs, no_thickness, {});
  CHECK(f.whole_study);
  CHECK(f.dropped.empty());
  // With the header, 8 mm is final.
  SeriesChoice e = choose_series(rs, {ct("thick8", 1, 40, "8"), ct("thin", 2, 40, "1")}, {});
  CHECK(e.move == std::vector<std::string>{"thin"});
  CHECK_THAT(why_dropped(e, "thick8"), Catch::Contains("SliceThickness 8"));
}

TEST_CASE("A series not judged fully stays: it might be the one selected") {
  rules::RuleSet rs;
  // No header for "unknown" (its thickness and image type unseen), no count for "nocount".
  core::AttributeMap nocount{{"SeriesInstanceUID", "nocount"}, {"Modality", "CT"},   {"SeriesNumber", "4"},
                             {"BodyPartExamined", "CHEST"},     {"SliceThickness", "0.5"}, {"ImageType", "ORIGINAL\\PRIMARY\\AXIAL"}};
  std::vector<core::AttributeMap> s{ct("thick", 1, 12, "5"), ct("thin", 2, 40, "1"), ct("unknown", 3, 30, "", ""),
                                    nocount};
  SeriesChoice c = choose_series(rs, s, {});
  CHECK(moves(c, "thin"));
  CHECK(moves(c, "unknown"));
  CHECK(moves(c, "nocount"));
  CHECK_FALSE(moves(c, "thick"));
  CHECK_FALSE(c.instances);  // one count unknown
  // Chest decided only at receipt (empty BodyPartExamined, no keyword in what the query
  // sees): that series fails at query time for want of chest text, so it cannot anchor a
  // selection; it moves, and so does its thicker sibling.
  std::vector<core::AttributeMap> nochest{ct("a", 1, 40, "1", "ORIGINAL\\PRIMARY\\AXIAL", "1.0", ""),
                                          ct("b", 2, 12, "5", "ORIGINAL\\PRIMARY\\AXIAL", "5.0", "")};
  SeriesChoice n = choose_series(rs, nochest, {});
  CHECK(moves(n, "a"));
  CHECK(moves(n, "b"));
}

TEST_CASE("Selection ahead of the move follows the site's rules: kernel preference, thin slices required") {
  rules::RuleSet rs;
  rs.ct.kernel.prefer = rules::KernelWindow::Lung;
  rs.ct.kernel.over_thickness = true;
  core::AttributeMap soft = ct("soft", 1, 80, "1");
  soft.set("ConvolutionKernel", "B30f");
  core::AttributeMap lung = ct("lung", 2, 40, "2");
  lung.set("ConvolutionKernel", "B70f");
  SeriesChoice c = choose_series(rs, {soft, lung}, {});
  CHECK(c.move == std::vector<std::string>{"lung"});  // the preferred window outranks thickness here

  rules::RuleSet thin_only;
  thin_only.ct.require_thin = true;
  // Every series thick, each judged on its header: nothing can pass, the study is
  // unsupported without a move (the finder settles it, naming each series' reason).
  SeriesChoice t = choose_series(thin_only, {ct("a", 1, 12, "5"), ct("b", 2, 40, "3")}, {});
  CHECK(t.none_pass);
  CHECK(t.whole_study);  // a caller ignoring none_pass moves it whole, as before
  CHECK(t.move.empty());
  CHECK(t.dropped.size() == 2);
  CHECK_FALSE(why_dropped(t, "a").empty());
  CHECK_FALSE(why_dropped(t, "b").empty());
}

TEST_CASE("No series can pass: unsupported before the move only when every series is judged on full information") {
  rules::RuleSet rs;
  // e2e02 as Orthanc answers it: one head CT series, header read (ImageType, 10 mm), count.
  SeriesChoice head = choose_series(rs, {ct("head", 1, 20, "10", "ORIGINAL\\PRIMARY\\AXIAL", "AXIAL 1.0", "HEAD")}, {});
  CHECK(head.none_pass);
  CHECK_THAT(why_dropped(head, "head"), Catch::Contains("BodyPartExamined HEAD"));
  CHECK_THAT(head.reason, Catch::Contains("unsupported"));
  // A 3D reconstruction only (derived, secondary): the image_type rule, header read.
  SeriesChoice recon = choose_series(
      rs, {ct("mpr", 1, 60, "1", "DERIVED\\SECONDARY\\REFORMATTED", "CHEST 3D MPR"), ct("scout", 2, 2, "", "ORIGINAL\\PRIMARY\\LOCALIZER", "TOPOGRAM")}, {});
  CHECK(recon.none_pass);
  CHECK(recon.dropped.size() == 2);
  // The same head series from a PACS that reads no header (BodyPartExamined from its
  // database, no ImageType): not fully judged, the study moves whole, the filter decides.
  SeriesChoice bare = choose_series(rs, {ct("head", 1, 20, "", "", "AXIAL 1.0", "HEAD")}, {});
  CHECK_FALSE(bare.none_pass);
  CHECK(bare.whole_study);
  CHECK(bare.dropped.empty());
  // Header read but no count (the scout and thickness estimate need the PACS's count): moves.
  core::AttributeMap nocount = ct("head", 1, 20, "10", "ORIGINAL\\PRIMARY\\AXIAL", "AXIAL 1.0", "HEAD");
  nocount.set("NumberOfSeriesRelatedInstances", "");
  CHECK_FALSE(choose_series(rs, {nocount}, {}).none_pass);
  // One series in doubt (empty BodyPartExamined, no chest text the query sees): it is kept.
  SeriesChoice doubt = choose_series(
      rs, {ct("head", 1, 20, "10", "ORIGINAL\\PRIMARY\\AXIAL", "AXIAL 1.0", "HEAD"),
           ct("maybe", 2, 40, "1", "ORIGINAL\\PRIMARY\\AXIAL", "AXIAL 1.0", "")}, {});
  CHECK_FALSE(doubt.none_pass);
  CHECK(moves(doubt, "maybe"));
  // A DX view beside: whole study, never judged before the move.
  core::AttributeMap dx{{"SeriesInstanceUID", "d1"}, {"Modality", "DX"}, {"BodyPartExamined", "SKULL"},
                        {"ImageType", "ORIGINAL\\PRIMARY"}, {"NumberOfSeriesRelatedInstances", "1"}};
  SeriesChoice with_dx = choose_series(rs, {ct("head", 1, 20, "10", "ORIGINAL\\PRIMARY\\AXIAL", "AXIAL 1.0", "HEAD"), dx}, {});
  CHECK_FALSE(with_dx.none_pass);
  CHECK(with_dx.whole_study);
  // A report (SR) beside the head series: SR is no family's, its drop is final.
  core::AttributeMap sr{{"SeriesInstanceUID", "sr"}, {"Modality", "SR"}};
  CHECK(choose_series(rs, {ct("head", 1, 20, "10", "ORIGINAL\\PRIMARY\\AXIAL", "AXIAL 1.0", "HEAD"), sr}, {}).none_pass);
}

TEST_CASE("DX family and non-CT answers are untouched by the header rules") {
  rules::RuleSet rs;
  core::AttributeMap dx{{"SeriesInstanceUID", "d1"}, {"Modality", "DX"}, {"ImageType", "ORIGINAL\\PRIMARY"},
                        {"NumberOfSeriesRelatedInstances", "1"}};
  core::AttributeMap dx2 = dx;
  dx2.set("SeriesInstanceUID", "d2");
  SeriesChoice c = choose_series(rs, {dx, dx2}, {});
  CHECK(c.whole_study);
  CHECK_THAT(c.reason, Catch::Contains("DX family"));
  CHECK(header_answered(dx));
  CHECK_FALSE(header_answered(core::AttributeMap{{"Modality", "CT"}, {"SliceThickness", "1"}}));
}

TEST_CASE("The finder's query keys and the header taken from one image-level answer") {
  const core::AttributeMap series = series_query_keys("1.2.3");
  CHECK(series.trimmed("StudyInstanceUID") == "1.2.3");
  for (const char* k : {"SeriesInstanceUID", "Modality", "SeriesDescription", "BodyPartExamined",
                        "NumberOfSeriesRelatedInstances", "SpecificCharacterSet", "ImageType", "SliceThickness",
                        "ConvolutionKernel"})
    CHECK(series.has(k));
  const core::AttributeMap before = series_query_keys("1.2.3", false);
  CHECK_FALSE(before.has("ImageType"));
  CHECK(before.has("BodyPartExamined"));
  const core::AttributeMap images = image_query_keys("1.2.3", "1.2.3.4");
  CHECK(images.trimmed("SeriesInstanceUID") == "1.2.3.4");
  CHECK(images.has("SOPInstanceUID"));
  CHECK(images.has("SliceThickness"));

  core::AttributeMap s{{"SeriesInstanceUID", "1.2.3.4"}, {"Modality", "CT"}};
  CHECK_FALSE(take_header(s, {}).has_value());  // no image: nothing learnt
  CHECK(take_header(s, {core::AttributeMap{{"SOPInstanceUID", "9"}}}) == std::optional<bool>(false));
  CHECK_FALSE(header_answered(s));
  CHECK(take_header(s, {core::AttributeMap{{"SOPInstanceUID", "9"}},
                        core::AttributeMap{{"ImageType", "ORIGINAL\\PRIMARY\\AXIAL"}, {"SliceThickness", "1.25"},
                                           {"ConvolutionKernel", "B70f"}}}) == std::optional<bool>(true));
  CHECK(header_answered(s));
  CHECK(s.trimmed("SliceThickness") == "1.25");
  CHECK(s.trimmed("ConvolutionKernel") == "B70f");
  // A series answer with its own header keeps it.
  CHECK_FALSE(take_header(s, {core::AttributeMap{{"ImageType", "DERIVED"}, {"SliceThickness", "5"}}}).has_value());
  CHECK(s.trimmed("SliceThickness") == "1.25");
}

namespace {

// What dcmqrscp answers at series level (Modality; the count from the image-level SOP list).
core::AttributeMap bare(const std::string& uid, long count, const std::string& modality = "CT") {
  return {{"SeriesInstanceUID", uid}, {"Modality", modality}, {"NumberOfSeriesRelatedInstances", std::to_string(count)}};
}

// The header of one instance as C-GET brings it (raw values, its own SpecificCharacterSet).
core::AttributeMap header(const std::string& thickness, const std::string& image_type = "ORIGINAL\\PRIMARY\\AXIAL",
                          const std::string& description = "CHEST", const std::string& body = "CHEST",
                          const std::string& charset = "") {
  core::AttributeMap h{{"SOPInstanceUID", "9.9"}, {"Modality", "CT"},        {"ImageType", image_type},
                       {"SliceThickness", thickness}, {"SeriesDescription", description}, {"BodyPartExamined", body},
                       {"ProtocolName", "ROUTINE"}, {"ConvolutionKernel", "B70f"}, {"PatientName", "DOE^JOHN"}};
  if (!charset.empty()) h.set("SpecificCharacterSet", charset);
  return h;
}

}  // namespace

TEST_CASE("Sampled headers: which series a sample can change, and which instance is sampled") {
  rules::RuleSet rs;
  CHECK(wants_sample(rs, bare("thin", 40), {}));
  CHECK(wants_sample(rs, bare("ten", kSampleMinInstances), {}));
  CHECK_FALSE(wants_sample(rs, bare("scout", 2), {}));  // a scout by count: left behind without a header
  CHECK_FALSE(wants_sample(rs, bare("few", kSampleMinInstances - 1), {}));
  CHECK_FALSE(wants_sample(rs, core::AttributeMap{{"SeriesInstanceUID", "n"}, {"Modality", "CT"}}, {}));  // no count
  CHECK_FALSE(wants_sample(rs, bare("dx", 40, "DX"), {}));
  CHECK_FALSE(wants_sample(rs, bare("mr", 40, "MR"), {}));
  CHECK_FALSE(wants_sample(rs, ct("hdr", 1, 40, "1"), {}));  // the PACS answered the header
  core::AttributeMap head = bare("head", 40);
  head.set("BodyPartExamined", "HEAD");  // left behind already, whatever its header says
  CHECK_FALSE(wants_sample(rs, head, {}));
  CHECK(wants_sample(rs, bare("many", 400), {}, 500) == false);  // a site's own threshold

  // The middle InstanceNumber, else the first listed.
  std::vector<core::AttributeMap> images;
  for (int n : {5, 1, 4, 2, 3})
    images.push_back({{"SOPInstanceUID", "1.9." + std::to_string(n)}, {"InstanceNumber", std::to_string(n)}});
  CHECK(sample_instance(images) == std::optional<std::string>("1.9.3"));
  images.push_back({{"SOPInstanceUID", "1.9.6"}, {"InstanceNumber", "6"}});
  CHECK(sample_instance(images) == std::optional<std::string>("1.9.3"));  // even count: the lower middle
  CHECK(sample_instance({core::AttributeMap{{"SOPInstanceUID", "a"}}, core::AttributeMap{{"SOPInstanceUID", "b"}}}) ==
        std::optional<std::string>("a"));
  CHECK_FALSE(sample_instance({core::AttributeMap{{"InstanceNumber", "1"}}}).has_value());
  CHECK_FALSE(sample_instance({}).has_value());
}

TEST_CASE("Sampled headers judge a dcmqrscp day as an Orthanc one: thicker, head CT and 3D series stay behind") {
  rules::RuleSet rs;
  // e2e01 on dcmqrscp: scout (2), 5 mm (12), 1 mm (40); nothing but Modality answered.
  std::vector<core::AttributeMap> s{bare("scout", 2), bare("thick", 12), bare("thin", 40)};
  CHECK(choose_series(rs, s, {}).move.size() == 2);  // without headers: both may be the thinnest
  merge_sample(s[1], header("5"));
  merge_sample(s[2], header("1"));
  CHECK(header_answered(s[2]));
  CHECK(s[2].trimmed("ConvolutionKernel") == "B70f");
  CHECK_FALSE(s[2].has("PatientName"));  // only what the series rules read is merged
  SeriesChoice c = choose_series(rs, s, {});
  REQUIRE_FALSE(c.whole_study);
  CHECK(c.move == std::vector<std::string>{"thin"});
  CHECK_THAT(why_dropped(c, "thick"), Catch::Contains("filter will select series thin"));

  // e2e02: a head CT, its only series; the sample says BodyPartExamined HEAD: settled.
  std::vector<core::AttributeMap> h{bare("head", 20)};
  merge_sample(h[0], header("1", "ORIGINAL\\PRIMARY\\AXIAL", "AXIAL 1.0", "HEAD"));
  SeriesChoice hc = choose_series(rs, h, {});
  CHECK(hc.none_pass);
  CHECK_THAT(why_dropped(hc, "head"), Catch::Contains("BodyPartExamined HEAD"));

  // e2e21: a 3D reconstruction, DERIVED\SECONDARY: settled.
  std::vector<core::AttributeMap> r{bare("vr", 12)};
  merge_sample(r[0], header("1", "DERIVED\\SECONDARY\\AXIAL", "CHEST VR"));
  CHECK(choose_series(rs, r, {}).none_pass);

  // A series the answer describes keeps its own text; only missing texts are taken.
  core::AttributeMap own = bare("own", 40);
  own.set("SeriesDescription", "LUNG 1.0");
  merge_sample(own, header("1", "ORIGINAL\\PRIMARY\\AXIAL", "OTHER", ""));
  CHECK(own.trimmed("SeriesDescription") == "LUNG 1.0");
  CHECK(own.trimmed("ProtocolName") == "ROUTINE");
  CHECK(own.trimmed("BodyPartExamined").empty());
  // A header without SliceThickness: empty, as the filter reads it.
  core::AttributeMap no_thickness = bare("nt", 40);
  core::AttributeMap nt = header("");
  nt.set("SliceThickness", "");
  merge_sample(no_thickness, nt);
  CHECK(no_thickness.has("SliceThickness"));
  CHECK(no_thickness.trimmed("SliceThickness").empty());
}

TEST_CASE("Sampled headers: texts read under the instance's own character set (GB18030, windows-1251)") {
  rules::RuleSet rs;
  // e2e05-like: GB18030 declared, BodyPartExamined empty, SeriesDescription 胸部 1.0 (bytes
  // D0 D8 B2 BF), the chest keyword 胸 only in that text.
  const std::string gb = "\xD0\xD8\xB2\xBF 1.0";
  core::AttributeMap s = bare("gb", 40);
  merge_sample(s, header("1", "ORIGINAL\\PRIMARY\\AXIAL", gb, "", "GB18030"));
  CHECK(s.trimmed("SpecificCharacterSet") == "GB18030");
  CHECK(rules::decoded(s, "SeriesDescription").str() == "胸部 1.0");
  SeriesChoice c = choose_series(rs, {s}, {});
  CHECK_FALSE(c.none_pass);
  CHECK(moves(c, "gb"));
  // Without its header this series could not be told from a non-chest one; with it, a
  // second, thicker chest series of the study stays behind.
  core::AttributeMap thick = bare("gb5", 12);
  merge_sample(thick, header("5", "ORIGINAL\\PRIMARY\\AXIAL", "\xD0\xD8\xB2\xBF 5.0", "", "GB18030"));
  SeriesChoice two = choose_series(rs, {s, thick}, {});
  REQUIRE_FALSE(two.whole_study);
  CHECK(two.move == std::vector<std::string>{"gb"});

  // windows-1251 "КТ ОГК" under a lying ISO_IR 100 (e2e15): kept raw with the declaration it
  // came with, so the rules try every reading (windows-1251 among them) as on the file.
  const std::string cyr = "\xCA\xD2 \xCE\xC3\xCA";  // КТ ОГК in windows-1251
  core::AttributeMap w = bare("w", 40);
  merge_sample(w, header("1", "ORIGINAL\\PRIMARY\\AXIAL", cyr, "CHEST", "ISO_IR 100"));
  CHECK(w.get("SeriesDescription") == std::optional<std::string_view>(cyr));
  CHECK(w.trimmed("SpecificCharacterSet") == "ISO_IR 100");

  // The answer has non-ASCII text of its own under another set: both read as they were
  // written, held as UTF-8.
  core::AttributeMap mixed = bare("m", 40);
  mixed.set("SpecificCharacterSet", "GB18030");
  mixed.set("ProtocolName", "\xD0\xD8");  // 胸 in GB18030
  merge_sample(mixed, header("1", "ORIGINAL\\PRIMARY\\AXIAL", "\xCA\xD2", "CHEST", "ISO_IR 144"));
  CHECK(mixed.trimmed("SpecificCharacterSet") == "ISO_IR 192");
  CHECK(mixed.trimmed("ProtocolName") == "胸");
  CHECK(mixed.trimmed("SeriesDescription") == rules::Text::decode("\xCA\xD2", "ISO_IR 144").str());
}
