#pragma once
// The dashboard served at GET /: one self-contained HTML page (CSS and JS
// inline, no external resources) that polls GET /v1/stats and streams a
// prompt over the WebSocket. It holds no data itself, so it is served without
// the API key; the page asks for the key and sends it only in headers (see
// docs/protocol.md, "Dashboard").
#include <string_view>

namespace kairos::http {

std::string_view dashboard_page();

// The Content-Security-Policy the page is served with: inline script and
// style only, and connections to its own origin only.
std::string_view dashboard_csp();

}  // namespace kairos::http
