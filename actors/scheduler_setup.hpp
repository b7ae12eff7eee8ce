#pragma once
// The start shared by the prefill and decode scheduler actors: state from the
// scheduler_init, one device record per device actor (each monitored), and a
// down handler that hands a failed device's index to the scheduler.
#include <memory>
#include <string>
#include <utility>

#include "actors/actor_context.hpp"
#include "actors/trace.hpp"

namespace kairos::actors {

// `self->state` has init, cost and devs (records with handle, name, gauge);
// on_down(size_t device, const std::string& reason) runs for a device that went down.
template <class Self, class OnDown>
void setup_scheduler(Self self, scheduler_init init, trace::actor_kind kind, OnDown on_down) {
  using device_record = typename decltype(self->state.devs)::value_type;
  auto& st = self->state;
  st.init = std::move(init);
  st.cost = std::make_unique<sched::corrected_cost_model>(*st.init.base_cost, st.init.correction_alpha);
  for (size_t i = 0; i < st.init.devices.size(); ++i) {
    device_record dev;
    dev.handle = st.init.devices[i];
    dev.name = st.init.device_names[i];
    dev.gauge = st.init.gauges[i];
    st.devs.push_back(std::move(dev));
    self->monitor(st.init.devices[i]);
  }
  self->set_down_handler([self, kind, on_down](caf::down_msg& dm) {
    trace::handler h(kind, trace::what::down, self->id(), -1, -1);
    auto& s = self->state;
    for (size_t i = 0; i < s.devs.size(); ++i)
      if (s.devs[i].handle && s.devs[i].handle.address() == dm.source) on_down(i, self->system().render(dm.reason));
  });
}

}  // namespace kairos::actors
