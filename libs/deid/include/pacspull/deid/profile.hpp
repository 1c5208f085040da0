#pragma once
// De-identification before the hand-off: DICOM PS3.15 Annex E, Basic Application Level
// Confidentiality Profile, with the options a site picks per AI target. The action table
// (Table E.1-1, the attributes a chest CT / DX / CR instance can carry) and the options are
// data; this header has no I/O. libs/deid/src/dcmtk_apply.cpp applies it to a DCMTK dataset.
//
// Actions (PS3.15 E.3): X remove, Z empty (or a dummy consistent with the VR), D dummy,
// U replace the UID by one derived consistently (same input -> same output, per target),
// C clean (keep only what is known not to identify), K keep.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pacspull::deid {

enum class Action { Keep, Remove, Empty, Dummy, ReplaceUid, Clean };
const char* action_name(Action a);

// The options of PS3.15 E.3 a site can pick; each changes some rows of the table.
struct Options {
  bool retain_uids = false;   // Retain UIDs Option (113110): U -> K
  bool retain_dates = false;  // Retain Longitudinal Temporal Information Full Dates Option (113106)
  bool clean_descriptors = false;  // Clean Descriptors Option (113105): descriptions cleaned, not removed
  // Secret mixed into every derived UID and pseudonym: without it, anyone holding a
  // patient id could recompute its pseudonym. Empty = the site and target names only.
  std::string key;
};

struct Rule {
  uint16_t group = 0, element = 0;
  const char* keyword = "";
  Action basic = Action::Remove;  // the Basic Profile column
  bool date_time = false;         // K under Retain Longitudinal Temporal Information Full Dates
  bool descriptor = false;        // C under Clean Descriptors
};

// Table E.1-1 (the rows that apply to the image IODs pacspull hands on), sorted by tag.
const std::vector<Rule>& basic_profile();
// The row for a tag, or nullptr when the profile keeps it. Private tags (odd group) and
// overlay / curve groups (60xx, 50xx) are handled by `action_for_tag`.
const Rule* find_rule(uint16_t group, uint16_t element);
// The action for an attribute under `options` (Keep for attributes the profile does not list;
// Remove for private attributes, curve data and overlay data/comments).
Action action_for_tag(uint16_t group, uint16_t element, const Options& options);

// UID derived from (key, target, uid): "2.25." + the first 128 bits of SHA-256, as PS3.5
// B.2 allows; the same input gives the same output for one target and key, and different
// targets never share a derived UID.
std::string derive_uid(std::string_view key, std::string_view target, std::string_view uid);
// The pseudonymous patient id for (key, target, patient id): "PP" + 20 hex digits.
std::string pseudonym(std::string_view key, std::string_view target, std::string_view patient_id);

// Clean Descriptors: a descriptor (ASCII; the caller removes non-ASCII values, which it
// cannot vouch for) with every occurrence of an identifier (names, ids, accession; case
// insensitive, tokens of 3 characters or more) and every run of 5 or more digits (dates,
// phone numbers, record numbers) removed, spaces collapsed.
std::string clean_descriptor(std::string_view value, const std::vector<std::string>& identifiers);

// The Deidentification Method Code Sequence (0012,0064) codes for these options (CID 7050).
struct MethodCode {
  const char* value;
  const char* meaning;
};
std::vector<MethodCode> method_codes(const Options& options);
// DeidentificationMethod (0012,0063): a short text naming the profile and options.
std::string method_text(const Options& options);

std::string sha256_hex(std::string_view data);

}  // namespace pacspull::deid
