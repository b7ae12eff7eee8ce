// The browser's way to send the API key on a WebSocket upgrade: the
// subprotocol "kairos.bearer.<base64url(KEY)>" next to "kairos".
#include <doctest/doctest.h>

#include "http/api.hpp"

using namespace kairos::http;

TEST_CASE("bearer_from_subprotocols decodes base64url without padding") {
  CHECK(bearer_from_subprotocols("kairos, kairos.bearer.ZGFzaC1rZXk") == std::optional<std::string>("dash-key"));
  CHECK(bearer_from_subprotocols("kairos.bearer.ZGFzaC1rZXk,kairos") == std::optional<std::string>("dash-key"));
  // "a?>~" encodes to "YT8-fg" in base64url ('+' and '/' become '-' and '_').
  CHECK(bearer_from_subprotocols("kairos.bearer.YT8-fg") == std::optional<std::string>("a?>~"));
  CHECK(bearer_from_subprotocols("kairos.bearer.") == std::optional<std::string>(""));
  CHECK_FALSE(bearer_from_subprotocols("kairos"));
  CHECK_FALSE(bearer_from_subprotocols(""));
  CHECK_FALSE(bearer_from_subprotocols("kairos.bearer.YT8+fg"));  // standard base64 is not accepted
  CHECK_FALSE(bearer_from_subprotocols("kairos.bearer.YT8-f="));  // nor padding
  CHECK_FALSE(bearer_from_subprotocols("kairos.bearer.Y"));       // a lone sextet is no byte
}

TEST_CASE("offers_subprotocol matches whole names in a comma-separated list") {
  CHECK(offers_subprotocol("kairos", "kairos"));
  CHECK(offers_subprotocol(" chat ,  kairos ", "kairos"));
  CHECK_FALSE(offers_subprotocol("kairos.bearer.eA", "kairos"));
  CHECK_FALSE(offers_subprotocol("", "kairos"));
}
