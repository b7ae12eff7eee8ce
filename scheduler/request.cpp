#include "scheduler/request.hpp"

namespace kairos::sched {

const char* to_string(request_class c) {
  switch (c) {
    case request_class::standard: return "standard";
    case request_class::interactive: return "interactive";
    case request_class::relaxed: return "relaxed";
  }
  return "unknown";
}

}  // namespace kairos::sched
