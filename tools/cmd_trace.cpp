// `kairos trace summary|export|request|misses FILE`: reads a trace recorded
// with --trace-out (or the trace: config key, or POST /v1/admin/trace) and
// answers why requests were slow, at the level of the actors (docs/tracing.md).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>

#include "tools/subcommand.hpp"
#include "tools/trace_analysis/chrome_export.hpp"
#include "tools/trace_analysis/miss_attribution.hpp"
#include "tools/trace_analysis/request_timeline.hpp"
#include "tools/trace_analysis/trace_summary.hpp"

namespace {

using namespace kairos::trace_analysis;

// Reads FILE and builds the model, or says why not (exit code 2).
bool load(const char* cmd, const std::string& path, trace_file& f) {
  auto r = read_trace_file(path);
  if (!r) {
    std::fprintf(stderr, "kairos %s: %s\n", cmd, r.message().c_str());
    return false;
  }
  f = std::move(r.value());
  return true;
}

int run_summary(int argc, char** argv) {
  CLI::App app{"Per actor: messages handled, busy %, mailbox wait p50/p99; device utilisation; attainment per class"};
  std::string path;
  bool each = false;
  app.add_option("FILE", path, "trace file (JSON lines)")->required();
  app.add_flag("--each-request", each, "list every request actor too");
  CLI11_PARSE(app, argc, argv);
  trace_file f;
  if (!load("trace summary", path, f)) return 2;
  std::fputs(format_summary(summarize(build_model(f)), each).c_str(), stdout);
  return 0;
}

int run_export(int argc, char** argv) {
  CLI::App app{"Export a trace for a viewer (Chrome trace-event JSON: Perfetto, chrome://tracing)"};
  std::string format = "chrome", path, out;
  app.add_option("--format", format, "output format (chrome)")->capture_default_str();
  app.add_option("FILE", path, "trace file (JSON lines)")->required();
  app.add_option("OUT", out, "output file (.json)")->required();
  CLI11_PARSE(app, argc, argv);
  if (format != "chrome") {
    std::fprintf(stderr, "kairos trace export: unknown --format '%s' (supported: chrome)\n", format.c_str());
    return 2;
  }
  trace_file f;
  if (!load("trace export", path, f)) return 2;
  const auto j = export_chrome(build_model(f));
  std::ofstream o(out);
  if (!o) {
    std::fprintf(stderr, "kairos trace export: cannot write %s\n", out.c_str());
    return 2;
  }
  o << j.dump() << "\n";
  if (!o) {
    std::fprintf(stderr, "kairos trace export: write to %s failed\n", out.c_str());
    return 2;
  }
  std::printf("wrote %s: %zu trace events\n", out.c_str(), j["traceEvents"].size());
  return 0;
}

int run_request(int argc, char** argv) {
  CLI::App app{"One request's timeline: every hop, every decode step with its batch size and step time"};
  std::string path;
  int64_t id = -1;
  app.add_option("FILE", path, "trace file (JSON lines)")->required();
  app.add_option("ID", id, "request id")->required();
  CLI11_PARSE(app, argc, argv);
  trace_file f;
  if (!load("trace request", path, f)) return 2;
  const auto m = build_model(f);
  auto t = timeline_of(m, id);
  if (!t) {
    std::fprintf(stderr, "kairos trace request: %s\n", t.message().c_str());
    return 2;
  }
  std::fputs(format_timeline(t.value()).c_str(), stdout);
  return 0;
}

int run_misses(int argc, char** argv) {
  CLI::App app{"For each request that missed an SLO: the time lost, by cause; then the causes across all misses"};
  std::string path;
  size_t top = 20;
  app.add_option("FILE", path, "trace file (JSON lines)")->required();
  app.add_option("--top", top, "list this many misses (those that lost most)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  trace_file f;
  if (!load("trace misses", path, f)) return 2;
  std::fputs(format_misses(attribute_misses(build_model(f)), top).c_str(), stdout);
  return 0;
}

}  // namespace

KAIROS_SUBCOMMAND("trace summary", "per-actor load, mailbox waits, device utilisation, attainment from a trace", run_summary);
KAIROS_SUBCOMMAND("trace export", "export a trace as Chrome trace-event JSON (--format chrome FILE OUT.json)", run_export);
KAIROS_SUBCOMMAND("trace request", "one request's timeline from a trace (FILE ID)", run_request);
KAIROS_SUBCOMMAND("trace misses", "why requests missed their SLOs, by cause, from a trace", run_misses);
