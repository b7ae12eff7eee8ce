#pragma once
// A value or an error message. Library calls return this instead of throwing,
// so no exception crosses a library or actor boundary.
#include <string>
#include <utility>
#include <variant>

namespace kairos {

struct error {
  std::string message;
};

inline error make_error(std::string message) { return error{std::move(message)}; }

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(error e) : v_(std::move(e)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const error& err() const { return std::get<1>(v_); }
  const std::string& message() const { return err().message; }

 private:
  std::variant<T, error> v_;
};

// result<void>: success or an error.
class [[nodiscard]] status {
 public:
  status() = default;
  status(error e) : ok_(false), e_(std::move(e)) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const error& err() const { return e_; }
  const std::string& message() const { return e_.message; }

 private:
  bool ok_ = true;
  error e_;
};

}  // namespace kairos
