#include "pacspull/config/site_config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "pacspull/config/time_zone.hpp"
#include "pacspull/pipeline/modalities.hpp"
#include "pacspull/rules/text.hpp"
#include "pacspull/rules_yaml/load_rules.hpp"

extern char** environ;

namespace pacspull::config {
namespace {

// Reads one YAML tree against the schema, collecting every error with its line.
class Reader {
 public:
  Reader(std::string origin, const Environment& env) : origin_(std::move(origin)), env_(env) {}

  std::string where(const YAML::Node& n) const {
    if (!n.IsDefined() || n.Mark().line < 0) return origin_;
    return origin_ + ":" + std::to_string(n.Mark().line + 1);
  }
  void error(const YAML::Node& n, const std::string& msg) { errors_.push_back(where(n) + ": " + msg); }

  // Rejects keys of `section` not in `allowed`.
  void only(const YAML::Node& section, const std::string& path, std::initializer_list<const char*> allowed) {
    if (!section.IsDefined() || section.IsNull()) return;
    if (!section.IsMap()) {
      error(section, "'" + path + "' must be a mapping");
      return;
    }
    std::set<std::string> ok(allowed.begin(), allowed.end());
    for (const auto& kv : section) {
      auto key = kv.first.as<std::string>();
      if (!ok.count(key)) error(kv.first, "unknown key '" + key + "'" + (path.empty() ? "" : " in '" + path + "'"));
    }
  }

  // The scalar at section[key] (path for messages and env), overridden by the env.
  std::optional<std::string> scalar(const YAML::Node& section, const std::string& path, const char* key,
                                    YAML::Node* at = nullptr) {
    std::string full = path.empty() ? key : path + "." + key;
    std::string env_name = "PACSPULL_";
    for (char c : full) env_name += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (auto it = env_.find(env_name); it != env_.end()) return it->second;
    if (!section.IsDefined() || !section.IsMap()) return std::nullopt;
    YAML::Node n = section[key];
    if (!n.IsDefined() || n.IsNull()) return std::nullopt;
    if (at) *at = n;
    if (!n.IsScalar()) {
      error(n, "'" + full + "' must be a single value");
      return std::nullopt;
    }
    return n.Scalar();
  }

  void text(const YAML::Node& s, const std::string& path, const char* key, std::string& out, bool required = false) {
    YAML::Node at;
    if (auto v = scalar(s, path, key, &at)) {
      out = *v;
      if (required && out.empty()) error(at.IsDefined() ? at : s, "'" + path + "." + key + "' must not be empty");
    } else if (required && out.empty()) {
      error(s, "missing '" + (path.empty() ? std::string(key) : path + "." + key) + "'");
    }
  }

  void ae(const YAML::Node& s, const std::string& path, const char* key, core::AeTitle& out) {
    std::string v = out.str();
    text(s, path, key, v, true);
    if (v.size() > 16) error(s[key], "AE title '" + v + "' is longer than 16 characters");
    out = core::AeTitle(v);
  }

  template <class Int>
  void integer(const YAML::Node& s, const std::string& path, const char* key, Int& out, long long lo, long long hi) {
    YAML::Node at;
    auto v = scalar(s, path, key, &at);
    if (!v) return;
    try {
      size_t used = 0;
      long long n = std::stoll(*v, &used);
      if (used != v->size() || n < lo || n > hi) throw std::out_of_range("range");
      out = static_cast<Int>(n);
    } catch (const std::exception&) {
      error(at.IsDefined() ? at : s, "'" + path + "." + key + "' must be a whole number from " + std::to_string(lo) +
                                         " to " + std::to_string(hi) + ", not '" + *v + "'");
    }
  }

  void duration(const YAML::Node& s, const std::string& path, const char* key, Millis& out) {
    YAML::Node at;
    auto v = scalar(s, path, key, &at);
    if (!v) return;
    try {
      out = parse_duration(*v);
    } catch (const std::exception& e) {
      error(at.IsDefined() ? at : s, "'" + path + "." + key + "': " + e.what());
    }
  }

  void strings(const YAML::Node& s, const std::string& path, const char* key, std::vector<std::string>& out) {
    std::string full = path + "." + key;
    std::string env_name = "PACSPULL_";
    for (char c : full) env_name += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (auto it = env_.find(env_name); it != env_.end()) {
      out.clear();
      std::stringstream ss(it->second);
      for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty()) out.push_back(item);
      return;
    }
    if (!s.IsDefined() || !s.IsMap() || !s[key].IsDefined() || s[key].IsNull()) return;
    YAML::Node n = s[key];
    if (!n.IsSequence()) {
      error(n, "'" + full + "' must be a list");
      return;
    }
    out.clear();
    for (const auto& item : n) {
      if (!item.IsScalar()) error(item, "'" + full + "' items must be single values");
      else out.push_back(item.Scalar());
    }
  }

  void ports(const YAML::Node& s, const std::string& path, ServicePorts& p) {
    integer(s, path, "grpc_port", p.grpc_port, 0, 65535);
    integer(s, path, "metrics_port", p.metrics_port, 0, 65535);
    text(s, path, "grpc_bind", p.grpc_bind);
  }

  void node(const YAML::Node& s, const std::string& path, DicomNode& n) {
    ae(s, path, "ae_title", n.ae_title);
    text(s, path, "host", n.host, true);
    integer(s, path, "port", n.port, 1, 65535);
    if (n.port == 0) error(s, "missing '" + path + ".port'");
  }

  const std::vector<std::string>& errors() const { return errors_; }
  const std::string& origin() const { return origin_; }

 private:
  std::string origin_;
  const Environment& env_;
  std::vector<std::string> errors_;
};

// A yes/no value ("true"/"false", "yes"/"no", "on"/"off").
std::optional<bool> parse_flag(const std::string& v) {
  if (v == "true" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "no" || v == "off") return false;
  return std::nullopt;
}

void read_flag(Reader& r, const YAML::Node& s, const std::string& path, const char* key, std::optional<bool>& out) {
  YAML::Node at;
  auto v = r.scalar(s, path, key, &at);
  if (!v) return;
  out = parse_flag(*v);
  if (!out) r.error(at.IsDefined() ? at : s, "'" + path + "." + key + "' must be true or false, not '" + *v + "'");
}

void read_flag(Reader& r, const YAML::Node& s, const std::string& path, const char* key, bool& out) {
  std::optional<bool> v;
  read_flag(r, s, path, key, v);
  if (v) out = *v;
}

// section[key], or an undefined node when section is missing or not a mapping (indexing
// a missing section throws in yaml-cpp).
YAML::Node child(const YAML::Node& section, const char* key) {
  if (!section.IsDefined() || !section.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  YAML::Node n = section[key];
  return n.IsDefined() ? n : YAML::Node(YAML::NodeType::Undefined);
}

// `tls:` of a peer or of the receiver (issue 11 part 2). `ca_certificates`: one path or a list.
void read_tls(Reader& r, const YAML::Node& t, const std::string& path, DicomTls& out, bool server) {
  r.only(t, path, {"enabled", "certificate", "private_key", "ca_certificates", "verify_peer"});
  read_flag(r, t, path, "enabled", out.enabled);
  r.text(t, path, "certificate", out.certificate);
  r.text(t, path, "private_key", out.private_key);
  if (child(t, "ca_certificates").IsScalar()) {
    std::string one;
    r.text(t, path, "ca_certificates", one);
    out.ca_certificates = {one};
  } else {
    r.strings(t, path, "ca_certificates", out.ca_certificates);
  }
  read_flag(r, t, path, "verify_peer", out.verify_peer);
  if (!out.enabled) return;
  const YAML::Node at = t.IsDefined() ? t : YAML::Node();
  if (out.certificate.empty() != out.private_key.empty())
    r.error(at, "'" + path + ".certificate' and '" + path + ".private_key' go together");
  if (server && out.certificate.empty())
    r.error(at, "'" + path + "' needs 'certificate' and 'private_key' (PEM files): the receiver presents them");
  if (out.verify_peer && out.ca_certificates.empty())
    r.error(at, "'" + path + ".verify_peer' needs 'ca_certificates' (the CA files or directories we trust), or "
                "'verify_peer: false' for encryption without authentication");
}

// A list of IP addresses or CIDRs (`addresses:`), IPv4 or IPv6.
void read_networks(Reader& r, const YAML::Node& s, const std::string& path, const char* key,
                   std::vector<pipeline::IpNetwork>& out) {
  std::vector<std::string> items;
  r.strings(s, path, key, items);
  for (const auto& item : items) {
    std::string error;
    if (auto n = pipeline::parse_ip_network(item, &error)) out.push_back(*n);
    else r.error(s.IsMap() && s[key].IsDefined() ? s[key] : s, "'" + path + "." + key + "': " + error);
  }
}

// `pacs[i].capabilities`: the site pins what the probe would find (issue 9 part 1).
void read_capability_pins(Reader& r, const YAML::Node& caps, const std::string& path, PacsNode& p) {
  r.only(caps, path, {"study_modalities", "study_counts", "filters_modalities", "series_modality", "series_counts",
                      "series_body_part", "series_description", "image_level", "result_cap", "c_get", "series_move",
                      "timezone_offset"});
  if (!caps.IsDefined() || !caps.IsMap()) return;
  auto& c = p.capability_pins;
  const std::pair<const char*, std::optional<bool>*> flags[] = {
      {"study_modalities", &c.study_modalities}, {"study_counts", &c.study_counts},
      {"filters_modalities", &c.filters_modalities}, {"series_modality", &c.series_modality},
      {"series_counts", &c.series_counts}, {"series_body_part", &c.series_body_part},
      {"series_description", &c.series_description}, {"image_level", &c.image_level},
      {"c_get", &c.c_get}, {"series_move", &c.series_move}};
  for (const auto& [key, out] : flags) {
    read_flag(r, caps, path, key, *out);
    if (*out) p.pinned.push_back(key);
  }
  long cap = -1;
  r.integer(caps, path, "result_cap", cap, 0, 1'000'000);
  if (cap >= 0) {
    c.result_cap = cap;
    p.pinned.push_back("result_cap");
  }
  std::string tz;
  r.text(caps, path, "timezone_offset", tz);
  if (!tz.empty()) {
    c.timezone_offset = tz;
    p.pinned.push_back("timezone_offset");
  }
}

// `targets:` (several AI nodes and bus-only consumers); without it, `ai_node` is the one target.
void read_targets(Reader& r, const YAML::Node& list, bool given, SiteConfig& c) {
  if (!given) {
    SiteConfig::Target t;
    t.name = "ai_node";
    t.node = c.ai_node;
    c.targets.push_back(std::move(t));
    return;
  }
  if (!list.IsSequence() || list.size() == 0) {
    r.error(list, "'targets' must list at least one target");
    return;
  }
  static const std::set<std::string> kSyntaxes{"", "explicit-little-endian", "implicit-little-endian",
                                               "deflated-explicit-little-endian"};
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = "targets." + std::to_string(i);
    const YAML::Node n = list[i];
    SiteConfig::Target t;
    r.only(n, path, {"name", "kind", "ae_title", "host", "port", "families", "deidentify", "retain_uids",
                     "retain_dates", "clean_descriptors", "deid_key", "transfer_syntax", "window", "tls"});
    r.text(n, path, "name", t.name, true);
    r.text(n, path, "kind", t.kind);
    if (t.kind == "dicom") {
      r.node(n, path, t.node);
      read_tls(r, child(n, "tls"), path + ".tls", t.node.tls, false);
    }
    else if (t.kind != "bus") r.error(n["kind"], "'" + path + ".kind' must be dicom or bus, not '" + t.kind + "'");
    r.strings(n, path, "families", t.families);
    for (const auto& f : t.families)
      if (f != "CT" && f != "DX") r.error(n["families"], "'" + path + ".families' items are CT or DX, not '" + f + "'");
    auto flag = [&](const char* key, bool& out) {
      std::string v;
      r.text(n, path, key, v);
      if (v == "true" || v == "yes" || v == "on") out = true;
      else if (v == "false" || v == "no" || v == "off") out = false;
      else if (!v.empty()) r.error(n[key], "'" + path + "." + key + "' must be true or false, not '" + v + "'");
    };
    flag("deidentify", t.deidentify);
    flag("retain_uids", t.retain_uids);
    flag("retain_dates", t.retain_dates);
    flag("clean_descriptors", t.clean_descriptors);
    r.text(n, path, "deid_key", t.deid_key);
    r.text(n, path, "transfer_syntax", t.transfer_syntax);
    if (!kSyntaxes.count(t.transfer_syntax))
      r.error(n["transfer_syntax"], "'" + path + ".transfer_syntax' must be explicit-little-endian, "
              "implicit-little-endian or deflated-explicit-little-endian, not '" + t.transfer_syntax + "'");
    if (t.kind == "bus" && !t.transfer_syntax.empty())
      r.error(n["transfer_syntax"], "'" + path + ".transfer_syntax': a bus target receives no files");
    r.integer(n, path, "window", t.window, 1, 64);
    if (!names.insert(t.name).second) r.error(n, "duplicate target name '" + t.name + "'");
    c.targets.push_back(std::move(t));
  }
}

// A secret: `<path>.<key>` (env PACSPULL_<PATH>_<KEY>, or the alias env name) or the content
// of the file `<path>.<key>_file` names (env PACSPULL_<PATH>_<KEY>_FILE or <alias>_FILE: Docker
// and Kubernetes secrets are files), trailing newline removed. Placeholders are refused.
void read_secret(Reader& r, const YAML::Node& s, const std::string& path, const std::string& key,
                 const Environment& env, const std::string& alias, std::string& out) {
  std::string value, file;
  const std::string file_key = key + "_file";
  r.text(s, path, key.c_str(), value);
  r.text(s, path, file_key.c_str(), file);
  if (auto it = env.find(alias); value.empty() && it != env.end()) value = it->second;
  if (auto it = env.find(alias + "_FILE"); file.empty() && it != env.end()) file = it->second;
  const YAML::Node at = s.IsMap() && s[key].IsDefined() ? s[key] : s.IsMap() && s[file_key].IsDefined() ? s[file_key] : s;
  const std::string name = "'" + path + "." + key + "'";
  if (!value.empty() && !file.empty()) {
    r.error(at, "give " + name + " or '" + path + "." + file_key + "', not both");
    return;
  }
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      r.error(at, "cannot read the secret file '" + file + "' (" + path + "." + file_key + ")");
      return;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    value = ss.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (value.empty()) r.error(at, "the secret file '" + file + "' (" + path + "." + file_key + ") is empty");
  }
  if (is_placeholder_secret(value))
    r.error(at, name + " is a placeholder ('" + value + "'): set a real secret (issue 11: no service starts with one)");
  out = value;
}

// The password inside a URL's user information ("scheme://user:password@host"), or a
// libpq key=value string's password=..., "" when none.
std::string url_password(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme != std::string::npos) {
    size_t at = url.find('@', scheme + 3);
    size_t colon = url.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) return url.substr(colon + 1, at - colon - 1);
    return "";
  }
  size_t p = url.find("password=");
  if (p == std::string::npos) return "";
  size_t end = url.find(' ', p);
  std::string v = url.substr(p + 9, end == std::string::npos ? std::string::npos : end - p - 9);
  if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') v = v.substr(1, v.size() - 2);
  return v;
}

// Ledger and bus credentials and TLS (issue 11 part 4).
void read_credentials(Reader& r, const YAML::Node& root, const Environment& env, SiteConfig& c) {
  const YAML::Node l = root["ledger"];
  std::string user, password;
  r.text(l, "ledger", "user", user);
  if (auto it = env.find("PACSPULL_PG_USER"); user.empty() && it != env.end()) user = it->second;
  read_secret(r, l, "ledger", "password", env, "PACSPULL_PG_PASSWORD", password);
  if (is_placeholder_secret(url_password(c.ledger_url)))
    r.error(l.IsMap() && l["url"].IsDefined() ? l["url"] : root,
            "'ledger.url' carries a placeholder password ('" + url_password(c.ledger_url) + "'): set a real secret");
  c.ledger_url = with_pg_credentials(c.ledger_url, user, password);
  r.text(l, "ledger", "migrate", c.ledger_migrate);
  if (c.ledger_migrate != "auto" && c.ledger_migrate != "off")
    r.error(l.IsMap() && l["migrate"].IsDefined() ? l["migrate"] : root,
            "'ledger.migrate' must be auto or off, not '" + c.ledger_migrate + "'");

  const YAML::Node b = root["bus"];
  auto& a = c.bus_auth;
  r.text(b, "bus", "user", a.user);
  if (auto it = env.find("PACSPULL_NATS_USER"); a.user.empty() && it != env.end()) a.user = it->second;
  read_secret(r, b, "bus", "password", env, "PACSPULL_NATS_PASSWORD", a.password);
  read_secret(r, b, "bus", "token", env, "PACSPULL_NATS_TOKEN", a.token);
  r.text(b, "bus", "credentials_file", a.credentials_file);
  read_flag(r, b, "bus", "tls", a.tls);
  r.text(b, "bus", "tls_ca_file", a.tls_ca_file);
  r.text(b, "bus", "tls_cert_file", a.tls_cert_file);
  r.text(b, "bus", "tls_key_file", a.tls_key_file);
  const YAML::Node at = b.IsDefined() ? b : root;
  if (!a.password.empty() && a.user.empty()) r.error(at, "'bus.password' needs 'bus.user'");
  if ((!a.user.empty()) + (!a.token.empty()) + (!a.credentials_file.empty()) > 1)
    r.error(at, "give one of 'bus.user'/'bus.password', 'bus.token' or 'bus.credentials_file'");
  if (a.tls_cert_file.empty() != a.tls_key_file.empty())
    r.error(at, "'bus.tls_cert_file' and 'bus.tls_key_file' go together");
  if (is_placeholder_secret(url_password(c.bus_url)))
    r.error(at, "'bus.url' carries a placeholder password: set a real secret");
}

}  // namespace

bool is_placeholder_secret(const std::string& secret) {
  std::string k;
  for (char ch : secret)
    if (std::isalnum(static_cast<unsigned char>(ch))) k += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (k.empty()) return false;
  static const std::set<std::string> kPlaceholders{"changeme", "placeholder", "password", "secret", "replaceme",
                                                   "changethis", "todo", "xxx", "example"};
  return kPlaceholders.count(k) > 0 || k.find("changeme") != std::string::npos ||
         k.find("placeholder") != std::string::npos;
}

std::string with_pg_credentials(const std::string& url, const std::string& user, const std::string& password) {
  if (user.empty() && password.empty()) return url;
  const bool uri = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  std::string out = url;
  if (uri) {
    auto encode = [](const std::string& v) {
      static const char* hex = "0123456789ABCDEF";
      std::string e;
      for (unsigned char ch : v) {
        if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') e += static_cast<char>(ch);
        else {
          e += '%';
          e += hex[ch >> 4];
          e += hex[ch & 15];
        }
      }
      return e;
    };
    char sep = url.find('?') == std::string::npos ? '?' : '&';
    if (!user.empty()) {
      out += sep + std::string("user=") + encode(user);
      sep = '&';
    }
    if (!password.empty()) out += sep + std::string("password=") + encode(password);
    return out;
  }
  auto quote = [](const std::string& v) {
    std::string q = "'";
    for (char ch : v) {
      if (ch == '\'' || ch == '\\') q += '\\';
      q += ch;
    }
    return q + "'";
  };
  if (!user.empty()) out += " user=" + quote(user);
  if (!password.empty()) out += " password=" + quote(password);
  return out;
}

pipeline::CallerPolicy caller_policy(const SiteConfig& c) {
  pipeline::CallerPolicy p;
  p.accept_any = c.receiver.accept_any_caller;
  for (const auto& pacs : c.pacs) p.callers.push_back({pacs.node.ae_title, pacs.addresses, "pacs " + pacs.name});
  for (const auto& a : c.receiver.allowed_callers) p.callers.push_back(a);
  return p;
}

Environment process_environment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos && kv.rfind("PACSPULL_", 0) == 0) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

SiteConfig parse_site_config(const std::string& yaml_text, const std::string& origin, const Environment& env) {
  if (auto line = rules::first_bad_utf8_line(yaml_text))
    throw ConfigError(origin + ":" + std::to_string(*line) +
                      ": not valid UTF-8 (save the file as UTF-8; a DICOM charset name goes in as plain text)");
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(origin + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  SiteConfig c;
  Reader r(origin, env);
  r.only(root, "", {"site", "timezone", "ledger", "bus", "local", "pacs", "ai_node", "targets", "reconcile_after", "finder",
                    "mover", "receiver", "filter", "checker", "dispatcher", "ris", "rules", "log", "grpc"});
  r.only(root["log"], "log", {"format", "level"});
  r.text(root["log"], "log", "format", c.log.format);
  r.text(root["log"], "log", "level", c.log.level);
  if (c.log.format != "text" && c.log.format != "json")
    r.error(root["log"]["format"], "log.format must be text or json, not '" + c.log.format + "'");
  static const std::set<std::string> kLevels{"trace", "debug", "info", "warn", "error", "critical"};
  if (!kLevels.count(c.log.level))
    r.error(root["log"]["level"], "log.level must be trace, debug, info, warn, error or critical, not '" + c.log.level + "'");
  r.text(root, "", "site", c.site, true);
  r.text(root, "", "timezone", c.timezone);
  try {
    c.zone = c.timezone.empty() ? host_time_zone() : load_time_zone(c.timezone);
  } catch (const std::exception& e) {
    r.error(root["timezone"], std::string("'timezone': ") + e.what());
  }
  r.only(root["ledger"], "ledger", {"url", "user", "password", "password_file", "migrate"});
  r.text(root["ledger"], "ledger", "url", c.ledger_url, true);
  r.only(root["bus"], "bus", {"url", "stream_replicas", "user", "password", "password_file", "token", "token_file",
                              "credentials_file", "tls", "tls_ca_file", "tls_cert_file", "tls_key_file"});
  r.text(root["bus"], "bus", "url", c.bus_url, true);
  r.integer(root["bus"], "bus", "stream_replicas", c.bus_stream_replicas, 1, 5);  // JetStream allows at most 5
  read_credentials(r, root, env, c);
  r.duration(root, "", "reconcile_after", c.reconcile_after);

  const YAML::Node g = root["grpc"];
  r.only(g, "grpc", {"bind", "tls_cert_file", "tls_key_file", "ca_file", "client_cert", "token_file", "read_access"});
  r.text(g, "grpc", "bind", c.grpc.bind, true);
  r.text(g, "grpc", "tls_cert_file", c.grpc.tls_cert_file);
  r.text(g, "grpc", "tls_key_file", c.grpc.tls_key_file);
  r.text(g, "grpc", "ca_file", c.grpc.ca_file);
  if (!c.grpc.ca_file.empty()) c.grpc.client_cert = "optional";
  r.text(g, "grpc", "client_cert", c.grpc.client_cert);
  r.text(g, "grpc", "token_file", c.grpc.token_file);
  r.text(g, "grpc", "read_access", c.grpc.read_access);
  if (c.grpc.tls_cert_file.empty() != c.grpc.tls_key_file.empty())
    r.error(g.IsDefined() ? g : root, "'grpc.tls_cert_file' and 'grpc.tls_key_file' go together");
  if (c.grpc.client_cert != "none" && c.grpc.client_cert != "optional" && c.grpc.client_cert != "require")
    r.error(g["client_cert"], "'grpc.client_cert' must be none, optional or require, not '" + c.grpc.client_cert + "'");
  else if (c.grpc.client_cert != "none" && (c.grpc.ca_file.empty() || c.grpc.tls_cert_file.empty()))
    r.error(g.IsDefined() ? g : root, "'grpc.client_cert: " + c.grpc.client_cert +
                                          "' needs 'grpc.ca_file' and TLS ('grpc.tls_cert_file', 'grpc.tls_key_file')");
  if (!c.grpc.read_access.empty() && c.grpc.read_access != "open" && c.grpc.read_access != "authenticated")
    r.error(g["read_access"], "'grpc.read_access' must be open or authenticated, not '" + c.grpc.read_access + "'");

  const YAML::Node local = root["local"];
  r.only(local, "local", {"ae_title", "receiver_ae_title", "storage_root", "connect_timeout", "acse_timeout",
                          "dimse_timeout"});
  r.ae(local, "local", "ae_title", c.local.ae_title);
  r.ae(local, "local", "receiver_ae_title", c.local.receiver_ae_title);
  std::string root_dir = c.local.storage_root.string();
  r.text(local, "local", "storage_root", root_dir, true);
  c.local.storage_root = root_dir;
  r.duration(local, "local", "connect_timeout", c.local.connect_timeout);
  r.duration(local, "local", "acse_timeout", c.local.acse_timeout);
  r.duration(local, "local", "dimse_timeout", c.local.dimse_timeout);
  for (auto* t : {&c.local.connect_timeout, &c.local.acse_timeout, &c.local.dimse_timeout})
    if (t->count() <= 0) r.error(local, "DICOM timeouts must be positive: DCMTK's 0 means wait forever");

  const YAML::Node pacs = root["pacs"];
  if (!pacs.IsDefined() || !pacs.IsSequence() || pacs.size() == 0) {
    r.error(pacs.IsDefined() ? pacs : root, "'pacs' must list at least one PACS node");
  } else {
    std::set<std::string> names;
    for (size_t i = 0; i < pacs.size(); ++i) {
      std::string path = "pacs." + std::to_string(i);
      PacsNode p;
      r.only(pacs[i], path, {"name", "ae_title", "host", "port", "max_results", "capabilities", "retrieve", "addresses",
                             "tls"});
      r.text(pacs[i], path, "name", p.name, true);
      r.node(pacs[i], path, p.node);
      read_tls(r, child(pacs[i], "tls"), path + ".tls", p.node.tls, false);
      read_networks(r, pacs[i], path, "addresses", p.addresses);
      r.integer(pacs[i], path, "max_results", p.max_results, 0, 1'000'000);
      read_capability_pins(r, pacs[i]["capabilities"], path + ".capabilities", p);
      r.text(pacs[i], path, "retrieve", p.retrieve);  // how the mover retrieves from it (issue 9 part 6)
      if (p.retrieve != "move" && p.retrieve != "get" && p.retrieve != "auto")
        r.error(pacs[i]["retrieve"], path + ".retrieve must be move, get or auto, not '" + p.retrieve + "'");
      if (!names.insert(p.name).second) r.error(pacs[i], "duplicate PACS name '" + p.name + "'");
      c.pacs.push_back(std::move(p));
    }
  }

  const bool has_targets = root["targets"].IsDefined() && !root["targets"].IsNull();
  if (!has_targets || root["ai_node"].IsDefined()) {
    r.only(root["ai_node"], "ai_node", {"ae_title", "host", "port", "tls"});
    r.node(root["ai_node"], "ai_node", c.ai_node);
    read_tls(r, child(root["ai_node"], "tls"), "ai_node.tls", c.ai_node.tls, false);
  }
  read_targets(r, root["targets"], has_targets, c);

  const YAML::Node f = root["finder"];
  r.only(f, "finder", {"poll_interval", "crossday", "modalities", "fixed_delay", "grpc_port", "grpc_bind", "metrics_port",
                       "series_filter", "sample_headers", "stable_polls", "stable_min_age", "probe"});
  r.duration(f, "finder", "poll_interval", c.finder.poll_interval);
  r.integer(f, "finder", "crossday", c.finder.crossday, -30, 0);
  c.finder.modalities_set = env.count("PACSPULL_FINDER_MODALITIES") > 0 ||
                            (f.IsMap() && f["modalities"].IsDefined() && !f["modalities"].IsNull());
  r.strings(f, "finder", "modalities", c.finder.modalities);
  if (c.finder.modalities_set && c.finder.modalities.empty())
    r.error(f, "'finder.modalities' must name at least one modality (or leave it out: it derives from the rules)");
  r.duration(f, "finder", "fixed_delay", c.finder.fixed_delay);
  r.text(f, "finder", "series_filter", c.finder.series_filter);
  if (c.finder.series_filter != "auto" && c.finder.series_filter != "on" && c.finder.series_filter != "off")
    r.error(f["series_filter"], "'finder.series_filter' must be auto, on or off, not '" + c.finder.series_filter + "'");
  r.text(f, "finder", "sample_headers", c.finder.sample_headers);
  if (c.finder.sample_headers != "auto" && c.finder.sample_headers != "on" && c.finder.sample_headers != "off")
    r.error(f["sample_headers"], "'finder.sample_headers' must be auto, on or off, not '" + c.finder.sample_headers + "'");
  r.integer(f, "finder", "stable_polls", c.finder.stable_polls, 1, 100);
  r.duration(f, "finder", "stable_min_age", c.finder.stable_min_age);
  read_flag(r, f, "finder", "probe", c.finder.probe);
  r.ports(f, "finder", c.finder.ports);
  if (c.finder.poll_interval.count() <= 0) r.error(f, "'finder.poll_interval' must be positive");

  const YAML::Node m = root["mover"];
  r.only(m, "mover", {"max_attempts", "retry_backoff", "grpc_port", "grpc_bind", "metrics_port", "max_parallel_moves", "adaptive"});
  r.integer(m, "mover", "max_attempts", c.mover.max_attempts, 1, 100);
  r.integer(m, "mover", "max_parallel_moves", c.mover.max_parallel_moves, 1, 64);
  {
    std::string adaptive = c.mover.adaptive ? "true" : "false";
    r.text(m, "mover", "adaptive", adaptive);
    if (adaptive != "true" && adaptive != "false")
      r.error(m["adaptive"], "'mover.adaptive' must be true or false, not '" + adaptive + "'");
    c.mover.adaptive = adaptive == "true";
  }
  r.duration(m, "mover", "retry_backoff", c.mover.retry_backoff);
  r.ports(m, "mover", c.mover.ports);

  const YAML::Node rc = root["receiver"];
  r.only(rc, "receiver", {"dicom_port", "allowed_callers", "accept_any_caller", "accept_unsolicited", "tls",
                          "max_associations", "keep_after_dispatch", "retention",
                          "storage_high_watermark", "storage_low_watermark", "stale_temp_age", "drain_grace",
                          "grpc_port", "grpc_bind", "metrics_port"});
  r.integer(rc, "receiver", "dicom_port", c.receiver.dicom_port, 0, 65535);
  // allowed_callers: AE titles, or {ae_title, addresses}; from the environment a comma list of AE titles.
  if (env.count("PACSPULL_RECEIVER_ALLOWED_CALLERS") || !child(rc, "allowed_callers").IsSequence()) {
    std::vector<std::string> callers;
    r.strings(rc, "receiver", "allowed_callers", callers);
    for (auto& a : callers) {
      if (a.size() > 16) r.error(rc, "AE title '" + a + "' is longer than 16 characters");
      c.receiver.allowed_callers.push_back({core::AeTitle(a), {}, "receiver.allowed_callers"});
    }
  } else {
    const YAML::Node list = rc["allowed_callers"];
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string path = "receiver.allowed_callers." + std::to_string(i);
      pipeline::AllowedCaller a;
      a.source = "receiver.allowed_callers";
      if (list[i].IsScalar()) {
        a.ae_title = core::AeTitle(list[i].Scalar());
        if (a.ae_title.str().empty() || a.ae_title.str().size() > 16)
          r.error(list[i], "'" + path + "': an AE title of 1 to 16 characters, not '" + a.ae_title.str() + "'");
      } else {
        r.only(list[i], path, {"ae_title", "addresses"});
        r.ae(list[i], path, "ae_title", a.ae_title);
        read_networks(r, list[i], path, "addresses", a.networks);
      }
      c.receiver.allowed_callers.push_back(std::move(a));
    }
  }
  read_flag(r, rc, "receiver", "accept_any_caller", c.receiver.accept_any_caller);
  read_flag(r, rc, "receiver", "accept_unsolicited", c.receiver.accept_unsolicited);
  read_tls(r, child(rc, "tls"), "receiver.tls", c.receiver.tls, true);
  r.integer(rc, "receiver", "max_associations", c.receiver.max_associations, 1, 1024);
  r.duration(rc, "receiver", "keep_after_dispatch", c.receiver.keep_after_dispatch);
  r.duration(rc, "receiver", "retention", c.receiver.retention);
  r.duration(rc, "receiver", "stale_temp_age", c.receiver.stale_temp_age);
  r.duration(rc, "receiver", "drain_grace", c.receiver.drain_grace);
  for (auto [key, mark] : {std::pair{"storage_high_watermark", &c.receiver.storage_high_watermark},
                           std::pair{"storage_low_watermark", &c.receiver.storage_low_watermark}}) {
    std::string text;
    r.text(rc, "receiver", key, text);
    if (text.empty()) continue;
    if (auto w = pipeline::parse_watermark(text)) *mark = *w;
    else r.error(rc[key].IsDefined() ? rc[key] : rc, std::string("'receiver.") + key + "' must be a percentage (\"90%\") or a size (\"20GiB\"), not '" + text + "'");
  }
  if (c.receiver.storage_low_watermark.kind == c.receiver.storage_high_watermark.kind &&
      c.receiver.storage_low_watermark.value > c.receiver.storage_high_watermark.value)
    r.error(rc, "'receiver.storage_low_watermark' must not be above 'receiver.storage_high_watermark'");
  r.ports(rc, "receiver", c.receiver.ports);

  r.only(root["filter"], "filter", {"grpc_port", "grpc_bind", "metrics_port"});
  r.ports(root["filter"], "filter", c.filter.ports);

  const YAML::Node ck = root["checker"];
  r.only(ck, "checker", {"stable_age", "max_repulls", "scan_interval", "grpc_port", "grpc_bind", "metrics_port"});
  r.duration(ck, "checker", "stable_age", c.checker.stable_age);
  r.integer(ck, "checker", "max_repulls", c.checker.max_repulls, 0, 100);
  r.duration(ck, "checker", "scan_interval", c.checker.scan_interval);
  r.ports(ck, "checker", c.checker.ports);

  r.only(root["dispatcher"], "dispatcher", {"grpc_port", "grpc_bind", "metrics_port", "event_identifiers"});
  r.ports(root["dispatcher"], "dispatcher", c.dispatcher.ports);
  read_flag(r, root["dispatcher"], "dispatcher", "event_identifiers", c.dispatcher.event_identifiers);

  if (const YAML::Node ris = root["ris"]; ris.IsDefined() && !ris.IsNull()) {
    SiteConfig::Ris x;
    r.only(ris, "ris", {"name", "ae_title", "host", "port", "poll_interval", "window_days", "timeout", "modalities"});
    r.text(ris, "ris", "name", x.name);
    r.node(ris, "ris", x.node);
    r.duration(ris, "ris", "poll_interval", x.poll_interval);
    r.integer(ris, "ris", "window_days", x.window_days, 0, 30);
    r.duration(ris, "ris", "timeout", x.timeout);
    r.strings(ris, "ris", "modalities", x.modalities);
    if (x.poll_interval.count() <= 0) r.error(ris, "'ris.poll_interval' must be positive");
    if (x.timeout.count() < 1000) r.error(ris, "'ris.timeout' must be at least 1s: DCMTK's 0 means wait forever");
    c.ris = std::move(x);
  }

  std::vector<std::string> errors = r.errors();
  try {
    YAML::Node rules = root["rules"];
    c.rules = rules::load_rules(rules.IsDefined() ? rules : YAML::Node(YAML::NodeType::Map), origin);
    if (!c.finder.modalities_set) {
      c.finder.modalities = pipeline::rule_modalities(c.rules);
      if (c.finder.modalities.empty())
        errors.push_back(r.where(f.IsDefined() ? f : root) +
                         ": the rules enable no modality (rules.ct and rules.dx are disabled) and "
                         "'finder.modalities' is not set: nothing to query");
    }
  } catch (const std::exception& e) {
    errors.push_back(e.what());
  }
  if (!errors.empty()) {
    std::string msg = "invalid site configuration:";
    for (const auto& e : errors) msg += "\n  " + e;
    throw ConfigError(msg);
  }
  return c;
}

SiteConfig load_site_config(const std::filesystem::path& file, const Environment& env) {
  std::ifstream in(file);
  if (!in) throw ConfigError("cannot read site configuration " + file.string());
  std::stringstream ss;
  ss << in.rdbuf();
  SiteConfig c = parse_site_config(ss.str(), file.string(), env);
  c.source = std::filesystem::absolute(file);
  return c;
}

}  // namespace pacspull::config
