// Reflection for typed config sections: each section struct lists its fields once (name, member,
// doc, range, choices), and parsing, validation, printing and hashing all follow from that list.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace hyperrep {

using ConfigValue =
    std::variant<bool, int64_t, double, std::string, std::vector<int64_t>, std::vector<double>, std::vector<std::string>>;

enum class FieldType { kBool, kInt, kFloat, kString, kIntList, kFloatList, kStringList };
const char* field_type_name(FieldType t);

// One problem found while reading a config: where (source, line) and which key.
struct ConfigIssue {
  std::string key;     // "train.batch_size"
  std::string source;  // file path or "--set"
  int line = 0;        // 1-based; 0 when unknown
  std::string message;
  std::string str() const;
};

struct FieldInfo {
  std::string name;
  std::string doc;
  FieldType type = FieldType::kInt;
  std::optional<double> min, max;  // inclusive bounds on numbers and list elements
  bool min_exclusive = false;
  bool non_empty = false;            // lists and strings
  std::vector<std::string> choices;  // strings and string lists
  bool hashed = true;                // part of the science hash (resume checks)
  std::function<ConfigValue(const void*)> get;
  std::function<void(void*, const ConfigValue&)> set;
  // Extra check on the value; returns an error message or "".
  std::function<std::string(const ConfigValue&)> check;
  // Validates v against type-independent rules (range, choices, custom); "" when fine.
  std::string validate(const ConfigValue& v) const;
};

// Fluent handle to the field just added, to attach rules.
class FieldBuilder {
 public:
  explicit FieldBuilder(FieldInfo& f) : f_(f) {}
  FieldBuilder& min(double v) {
    f_.min = v;
    return *this;
  }
  FieldBuilder& above(double v) {
    f_.min = v;
    f_.min_exclusive = true;
    return *this;
  }
  FieldBuilder& max(double v) {
    f_.max = v;
    return *this;
  }
  FieldBuilder& range(double lo, double hi) {
    f_.min = lo;
    f_.max = hi;
    return *this;
  }
  FieldBuilder& choices(std::vector<std::string> c) {
    f_.choices = std::move(c);
    return *this;
  }
  FieldBuilder& non_empty() {
    f_.non_empty = true;
    return *this;
  }
  FieldBuilder& not_hashed() {
    f_.hashed = false;
    return *this;
  }
  FieldBuilder& check(std::function<std::string(const ConfigValue&)> fn) {
    f_.check = std::move(fn);
    return *this;
  }

 private:
  FieldInfo& f_;
};

template <typename T>
struct FieldTypeOf;
template <>
struct FieldTypeOf<bool> {
  static constexpr FieldType value = FieldType::kBool;
};
template <>
struct FieldTypeOf<int64_t> {
  static constexpr FieldType value = FieldType::kInt;
};
template <>
struct FieldTypeOf<double> {
  static constexpr FieldType value = FieldType::kFloat;
};
template <>
struct FieldTypeOf<std::string> {
  static constexpr FieldType value = FieldType::kString;
};
template <>
struct FieldTypeOf<std::vector<int64_t>> {
  static constexpr FieldType value = FieldType::kIntList;
};
template <>
struct FieldTypeOf<std::vector<double>> {
  static constexpr FieldType value = FieldType::kFloatList;
};
template <>
struct FieldTypeOf<std::vector<std::string>> {
  static constexpr FieldType value = FieldType::kStringList;
};

struct SectionCheckResult {
  std::string key;  // field name inside the section
  std::string message;
};

// The field list of one section struct S.
template <typename S>
class SectionSchema {
 public:
  template <typename T>
  FieldBuilder field(const char* name, T S::*member, const char* doc) {
    FieldInfo f;
    f.name = name;
    f.doc = doc;
    f.type = FieldTypeOf<T>::value;
    f.get = [member](const void* s) { return ConfigValue(static_cast<const S*>(s)->*member); };
    f.set = [member](void* s, const ConfigValue& v) { static_cast<S*>(s)->*member = std::get<T>(v); };
    fields_.push_back(std::move(f));
    return FieldBuilder(fields_.back());
  }
  // Cross-field rule over the whole section, run after every field parsed.
  void rule(std::function<std::vector<SectionCheckResult>(const S&)> fn) { rules_.push_back(std::move(fn)); }

  std::vector<FieldInfo>& fields() { return fields_; }
  const std::vector<std::function<std::vector<SectionCheckResult>(const S&)>>& rules() const { return rules_; }

 private:
  std::vector<FieldInfo> fields_;
  std::vector<std::function<std::vector<SectionCheckResult>(const S&)>> rules_;
};

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace hyperrep
