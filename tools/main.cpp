// The `kairos` command: dispatches to the subcommand named by argv[1].
#include <cstdio>
#include <cstring>
#include <string>

#include "tools/subcommand.hpp"

namespace kairos::tools {
std::map<std::string, subcommand>& subcommands() {
  static std::map<std::string, subcommand> table;
  return table;
}
}  // namespace kairos::tools

static void usage() {
  std::printf("usage: kairos <subcommand> [options]\n\nsubcommands:\n");
  for (auto& [name, sc] : kairos::tools::subcommands()) std::printf("  %-14s %s\n", name.c_str(), sc.help.c_str());
  std::printf("\nRun `kairos <subcommand> --help` for its options.\n");
}

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  auto& table = kairos::tools::subcommands();
  // Two-word subcommands first ("bench engine"), then one word.
  if (argc >= 3) {
    auto two = table.find(std::string(argv[1]) + " " + argv[2]);
    if (two != table.end()) {
      try {
        return two->second.run(argc - 2, argv + 2);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "kairos %s: error: %s\n", two->first.c_str(), e.what());
        return 1;
      }
    }
  }
  auto it = table.find(argv[1]);
  if (it == table.end()) {
    std::fprintf(stderr, "kairos: unknown subcommand '%s'\n", argv[1]);
    usage();
    return 2;
  }
  try {
    return it->second.run(argc - 1, argv + 1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kairos %s: error: %s\n", argv[1], e.what());
    return 1;
  }
}
