// `kairos bench compare A.json B.json ...`: the results of `kairos bench
// --json` side by side, one column per run.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "tools/bench/bench_report.hpp"
#include "tools/subcommand.hpp"

namespace {

int run_compare(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::printf("usage: kairos bench compare A.json [B.json ...]\n\nPrints the results of `kairos bench --json` side by side.\n");
    return argc < 2 ? 2 : 0;
  }
  std::vector<std::string> names;
  std::vector<nlohmann::json> docs;
  for (int i = 1; i < argc; ++i) {
    std::ifstream f(argv[i]);
    if (!f) {
      std::fprintf(stderr, "kairos bench compare: cannot open %s\n", argv[i]);
      return 2;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_discarded()) {
      std::fprintf(stderr, "kairos bench compare: %s is not valid JSON\n", argv[i]);
      return 2;
    }
    names.push_back(argv[i]);
    docs.push_back(std::move(j));
  }
  std::string out, err;
  if (!kairos::bench::compare_table(names, docs, out, err)) {
    std::fprintf(stderr, "kairos bench compare: %s\n", err.c_str());
    return 2;
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

KAIROS_SUBCOMMAND("bench compare", "show `kairos bench --json` results side by side", run_compare);
