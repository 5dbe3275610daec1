// A small JSON reader (objects, arrays, strings, numbers, booleans, null) for the metadata files of
// imported model zoos: bounds-checked, depth-limited, errors with file, line and column.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hyperrep::zoo {

enum class JsonKind { kNull, kBool, kNumber, kString, kArray, kObject };

struct JsonValue {
  JsonKind kind = JsonKind::kNull;
  bool boolean = false;
  double number = 0.0;
  std::string text;
  std::vector<JsonValue> items;                              // array
  std::vector<std::pair<std::string, JsonValue>> members;  // object, in file order

  // The member named key, or nullptr (objects only).
  const JsonValue* find(const std::string& key) const;
};

const char* json_kind_name(JsonKind kind);

// Parses exactly one JSON value (surrounding whitespace allowed). `source` names the input in
// errors, which read "<source>:<line>:<column>: <what>" and are DataErrors.
JsonValue parse_json(const std::string& text, const std::string& source);

}  // namespace hyperrep::zoo
