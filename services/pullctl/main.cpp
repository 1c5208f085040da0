// pullctl: the operator's CLI. One command group per service (gRPC); `why`, `status`,
// `parked` and `audit` read the ledger; `pacs` talks DICOM to a PACS. Every command
// takes the global `--output json` (one JSON document on stdout).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <string>

#include "cli.hpp"
#include "pacspull/metrics/metrics.hpp"
#include "pacspull/rules/text.hpp"

using namespace pacspull;

namespace {

// Whether the command line asks for JSON output, read before (or without) CLI11.
bool json_requested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--output=json" || a == "-ojson") return true;
    if ((a == "--output" || a == "-o") && i + 1 < argc && std::string(argv[i + 1]) == "json") return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  // stdout is for the command's answer (one JSON document with --output json): library
  // log lines (the DICOM adapter's warnings) go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_st("pullctl"));
  spdlog::set_pattern("pullctl: %l: %v");
  CLI::App app{"pullctl: operate a pacspull deployment"};
  pullctl::Cli cli;
  const char* env_cfg = std::getenv("PACSPULL_CONFIG");
  cli.config_path = env_cfg ? env_cfg : "/etc/pacspull/site.yaml";
  // One build identity: the one pacspull_build_info exports.
  const std::string revision = metrics::Metrics::revision();
  const std::string version = std::string(metrics::Metrics::version()) + (revision.empty() ? "" : " (" + revision + ")");
  app.set_version_flag("--version", "pullctl " + version);
  app.add_option("-c,--config", cli.config_path, "site configuration (ledger URL, bus, service ports, PACS)")
      ->capture_default_str();
  app.add_option("--host", cli.host, "host the services run on")->capture_default_str();
  app.add_option("-o,--output", cli.output, "text for people, json for scripts (one document on stdout)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  pullctl::add_grpc_options(app, cli);
  app.require_subcommand(1);

  pullctl::add_ledger_commands(app, cli);
  pullctl::add_service_commands(app, cli);
  pullctl::add_pacs_commands(app, cli);
  pullctl::add_audit_commands(app, cli);

  // Arguments reach the ledger and gRPC, which take UTF-8 only: refuse anything else plainly.
  for (int i = 1; i < argc; ++i) {
    if (!rules::Text::checked(argv[i])) {
      std::cerr << "pullctl: argument " << i << " is not valid UTF-8 text (" << rules::Text::ascii(argv[i]).str()
                << "); give keys and paths in UTF-8\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // A usage error is exit 2 ("bad argument") in both modes; with --output json a
    // script still reads one document, even when the parse stopped before --output.
    if (json_requested(argc, argv)) cli.output = "json";
    if (!cli.json_output()) {
      app.exit(e);
      return pullctl::kNotFound;
    }
    return cli.fail(pullctl::kNotFound, std::string("pullctl: ") + rules::Text::from_utf8(e.what()).str() +
                                            " (run with --help for usage)");
  } catch (const std::exception& e) {
    return cli.fail(pullctl::kFailed, std::string("pullctl: ") + rules::Text::from_utf8(e.what()).str());
  }
  return cli.rc;
}
