// JSON through RapidJSON (Debian's rapidjson-dev): a reader into an ordered value tree for the
// metadata files of imported zoos and hyperrep's own JSON lines, and a writer for everything
// hyperrep emits (metrics.jsonl, probes.json, `--json` outputs).
//
// Reading is bounded for hostile input: RapidJSON's iterative parser (no recursion a deep file
// could exhaust), nesting limited to kJsonMaxDepth, and errors as DataError
// "<source>:<line>:<column>: <what>". Python's NaN and Infinity are accepted, since its json
// module writes them for non-finite floats.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hyperrep {

inline constexpr int kJsonMaxDepth = 200;

enum class JsonKind { kNull, kBool, kNumber, kString, kArray, kObject };

struct JsonValue {
  JsonKind kind = JsonKind::kNull;
  bool boolean = false;
  double number = 0.0;
  std::string text;
  std::vector<JsonValue> items;                            // array
  std::vector<std::pair<std::string, JsonValue>> members;  // object, in file order

  // The member named key (the first of that name), or nullptr (objects only).
  const JsonValue* find(const std::string& key) const;
};

const char* json_kind_name(JsonKind kind);

// Parses exactly one JSON value (surrounding whitespace allowed). `source` names the input in
// errors.
JsonValue parse_json(const std::string& text, const std::string& source);

// Writes one JSON document. Numbers go through format_double (shortest round trip); a
// non-finite double is written as null. Keys and values are escaped by the library.
//   JsonWriter w;  w.begin_object().key("loss").value(0.5).end_object();  w.str() == {"loss":0.5}
class JsonWriter {
 public:
  // pretty: two-space indentation, one member per line (for people); else one line (JSON lines).
  explicit JsonWriter(bool pretty = false);
  ~JsonWriter();
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(double v);
  JsonWriter& value(int64_t v);
  JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
  JsonWriter& value(bool v);
  JsonWriter& null();
  // The document so far; complete once every object and array is closed.
  std::string str() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hyperrep
