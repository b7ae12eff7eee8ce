#pragma once
// Each `kairos` subcommand lives in its own tools/cmd_*.cpp and registers
// itself with KAIROS_SUBCOMMAND. A subcommand is a thin main over library calls.
#include <functional>
#include <map>
#include <string>

namespace kairos::tools {

// argv[0] is the subcommand's name; returns the process exit code.
using subcommand_fn = int (*)(int argc, char** argv);

struct subcommand {
  std::string help;
  subcommand_fn run;
};

std::map<std::string, subcommand>& subcommands();

struct subcommand_registrar {
  subcommand_registrar(const char* name, const char* help, subcommand_fn fn) {
    subcommands()[name] = subcommand{help, fn};
  }
};

}  // namespace kairos::tools

#define KAIROS_SUBCOMMAND_CAT2(a, b) a##b
#define KAIROS_SUBCOMMAND_CAT(a, b) KAIROS_SUBCOMMAND_CAT2(a, b)
#define KAIROS_SUBCOMMAND(name, help, fn) \
  static ::kairos::tools::subcommand_registrar KAIROS_SUBCOMMAND_CAT(kairos_subcmd_, __LINE__)(name, help, fn)
