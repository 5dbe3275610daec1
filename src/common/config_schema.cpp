#include "common/config_schema.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace hyperrep {

const char* field_type_name(FieldType t) {
  switch (t) {
    case FieldType::kBool: return "a boolean";
    case FieldType::kInt: return "an integer";
    case FieldType::kFloat: return "a number";
    case FieldType::kString: return "a string";
    case FieldType::kIntList: return "an array of integers";
    case FieldType::kFloatList: return "an array of numbers";
    case FieldType::kStringList: return "an array of strings";
  }
  return "?";
}

std::string ConfigIssue::str() const {
  std::ostringstream os;
  os << source;
  if (line > 0) os << ":" << line;
  os << ": ";
  if (!key.empty()) os << key << ": ";
  os << message;
  return os.str();
}

namespace {
std::string fmt_num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
}  // namespace

std::string FieldInfo::validate(const ConfigValue& v) const {
  auto check_number = [&](double x, const std::string& what) -> std::string {
    if (!std::isfinite(x)) return what + "must be finite";
    if (min && (min_exclusive ? !(x > *min) : x < *min)) {
      return what + fmt_num(x) + " is out of range (must be " + (min_exclusive ? "> " : ">= ") + fmt_num(*min) +
             (max ? " and <= " + fmt_num(*max) : "") + ")";
    }
    if (max && x > *max) {
      return what + fmt_num(x) + " is out of range (must be <= " + fmt_num(*max) + (min ? " and >= " + fmt_num(*min) : "") + ")";
    }
    return "";
  };
  auto check_choice = [&](const std::string& s) -> std::string {
    if (choices.empty() || std::find(choices.begin(), choices.end(), s) != choices.end()) return "";
    std::string all;
    for (const auto& c : choices) all += (all.empty() ? "" : ", ") + c;
    return "'" + s + "' is not one of: " + all;
  };
  std::string err;
  if (auto* i = std::get_if<int64_t>(&v)) err = check_number(static_cast<double>(*i), "");
  if (auto* d = std::get_if<double>(&v)) err = check_number(*d, "");
  if (auto* s = std::get_if<std::string>(&v)) {
    if (non_empty && s->empty()) err = "must not be empty";
    if (err.empty()) err = check_choice(*s);
  }
  if (auto* l = std::get_if<std::vector<int64_t>>(&v)) {
    if (non_empty && l->empty()) err = "must not be empty";
    for (size_t k = 0; err.empty() && k < l->size(); ++k)
      err = check_number(double((*l)[k]), "element " + std::to_string(k) + ": ");
  }
  if (auto* l = std::get_if<std::vector<double>>(&v)) {
    if (non_empty && l->empty()) err = "must not be empty";
    for (size_t k = 0; err.empty() && k < l->size(); ++k) err = check_number((*l)[k], "element " + std::to_string(k) + ": ");
  }
  if (auto* l = std::get_if<std::vector<std::string>>(&v)) {
    if (non_empty && l->empty()) err = "must not be empty";
    for (size_t k = 0; err.empty() && k < l->size(); ++k) err = check_choice((*l)[k]);
  }
  if (err.empty() && check) err = check(v);
  return err;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace hyperrep
