#pragma once
// Helpers for tests that drive the real `kairos` binary: a shell command's
// output, and `kairos serve` started on a free port (`--port 0`; the port is
// read from the first line it prints) and stopped with SIGTERM.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace kairos::test {

// The standard output of `cmd` run by /bin/sh.
inline std::string run_shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// The kairos binary of this build, or a skipped test (exit 77) without it.
inline std::string kairos_binary() {
  const std::string kairos = std::string(KAIROS_BIN_DIR) + "/kairos";
  if (!std::filesystem::exists(kairos)) {
    std::fprintf(stderr, "skipped: needs %s\n", kairos.c_str());
    std::exit(77);
  }
  return kairos;
}

class serve_process {
 public:
  // `kairos serve --config CONFIG --port 0 EXTRA...`
  explicit serve_process(const std::string& config, std::vector<std::string> extra = {}) {
    const std::string kairos = kairos_binary();
    std::vector<std::string> args{"kairos", "serve", "--config", config, "--port", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(kairos.c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    out_ = fds[0];
    std::string line;  // "kairos serve: listening on http://127.0.0.1:PORT ..."
    char c;
    while (read(out_, &c, 1) == 1 && c != '\n') line += c;
    const auto at = line.find("127.0.0.1:");
    REQUIRE_MESSAGE(at != std::string::npos, line);
    port_ = std::atoi(line.c_str() + at + 10);
    REQUIRE(port_ > 0);
  }
  ~serve_process() { stop(); }
  serve_process(const serve_process&) = delete;
  serve_process& operator=(const serve_process&) = delete;

  int port() const { return port_; }
  std::string base(const char* scheme = "http") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_);
  }
  // SIGTERM, then the exit status (-1 when it did not exit normally); once.
  int stop() {
    if (pid_ < 0) return status_;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    close(out_);
    pid_ = -1;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int out_ = -1;
  int status_ = -1;
};

}  // namespace kairos::test
